//! Label and name syntax (Kubernetes-style label keys and values, resource
//! names) and the matching rules use: label selectors with value lists and the
//! `*` wildcard, name globs like `web-*`.

/// The wildcard: as a label value it matches any value; as key and value both
/// (`'*': '*'`) it matches every resource; in a name pattern, any run of characters.
pub const WILDCARD: &str = "*";
/// Longest label name segment and label value (Kubernetes).
pub const MAX_LABEL_SEGMENT: usize = 63;
/// Longest label key prefix (a DNS subdomain).
pub const MAX_LABEL_PREFIX: usize = 253;
/// Longest resource name.
pub const MAX_RESOURCE_NAME: usize = 63;

/// Why a label key, label value, resource name or name pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    #[error("is empty")]
    Empty,
    #[error("is {len} bytes long (at most {max})")]
    TooLong { len: usize, max: usize },
    #[error("holds {found:?}; only letters, digits, '-', '_' and '.' are allowed")]
    InvalidChar { found: char },
    #[error("must start and end with a letter or digit")]
    BadEdge,
    #[error("prefix {0:?} is not a DNS subdomain")]
    BadPrefix(String),
    #[error("holds {found:?}; only lowercase letters, digits, '-', '_' and '.' are allowed")]
    InvalidNameChar { found: char },
}

/// `[A-Za-z0-9]([-_.A-Za-z0-9]*[A-Za-z0-9])?`, at most 63 bytes, empty allowed
/// only where `allow_empty` (label values may be empty).
fn check_segment(s: &str, allow_empty: bool) -> Result<(), SyntaxError> {
    if s.is_empty() {
        return if allow_empty {
            Ok(())
        } else {
            Err(SyntaxError::Empty)
        };
    }
    if s.len() > MAX_LABEL_SEGMENT {
        return Err(SyntaxError::TooLong {
            len: s.len(),
            max: MAX_LABEL_SEGMENT,
        });
    }
    if let Some(found) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(SyntaxError::InvalidChar { found });
    }
    let edge_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    if !edge_ok(s.bytes().next()) || !edge_ok(s.bytes().last()) {
        return Err(SyntaxError::BadEdge);
    }
    Ok(())
}

/// A label key: `[prefix/]name`, prefix a DNS subdomain, name a segment.
pub fn validate_label_key(key: &str) -> Result<(), SyntaxError> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        let dns_ok = !p.is_empty()
            && p.len() <= MAX_LABEL_PREFIX
            && p.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !dns_ok {
            return Err(SyntaxError::BadPrefix(p.to_string()));
        }
    }
    check_segment(name, false)
}

/// A label value: a segment, possibly empty.
pub fn validate_label_value(value: &str) -> Result<(), SyntaxError> {
    check_segment(value, true)
}

/// A resource name: lowercase `[a-z0-9]([-_.a-z0-9]*[a-z0-9])?`, at most 63 bytes.
pub fn validate_resource_name(name: &str) -> Result<(), SyntaxError> {
    check_name_like(name, false)
}

/// A name pattern: a resource name that may hold `*` anywhere (`web-*`, `*`).
pub fn validate_name_pattern(pattern: &str) -> Result<(), SyntaxError> {
    check_name_like(pattern, true)
}

fn check_name_like(s: &str, star: bool) -> Result<(), SyntaxError> {
    if s.is_empty() {
        return Err(SyntaxError::Empty);
    }
    if s.len() > MAX_RESOURCE_NAME {
        return Err(SyntaxError::TooLong {
            len: s.len(),
            max: MAX_RESOURCE_NAME,
        });
    }
    let allowed = |c: char| {
        c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || matches!(c, '-' | '_' | '.')
            || (star && c == '*')
    };
    if let Some(found) = s.chars().find(|c| !allowed(*c)) {
        return Err(SyntaxError::InvalidNameChar { found });
    }
    let edge_ok =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || (star && c == '*'));
    if !edge_ok(s.chars().next()) || !edge_ok(s.chars().last()) {
        return Err(SyntaxError::BadEdge);
    }
    Ok(())
}

/// Glob match where `*` matches any run of characters (including none).
/// Linear-time two-pointer algorithm, no recursion: patterns are user input.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_matches("web-*", "web-app"));
        assert!(glob_matches("web-*", "web-"));
        assert!(!glob_matches("web-*", "api-web-1"));
        assert!(glob_matches("*-db", "orders-db"));
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("a*b*c", "axxbyy"));
        assert!(glob_matches("orders-db", "orders-db"));
        assert!(!glob_matches("orders-db", "orders-db2"));
        assert!(!glob_matches("", "x"));
    }

    #[test]
    fn label_keys_and_values_follow_kubernetes() {
        assert!(validate_label_key("env").is_ok());
        assert!(validate_label_key("bamf.dev/team").is_ok());
        assert!(validate_label_key("Env_1.x").is_ok());
        assert_eq!(validate_label_key(""), Err(SyntaxError::Empty));
        assert_eq!(validate_label_key("-env"), Err(SyntaxError::BadEdge));
        assert_eq!(
            validate_label_key("en v"),
            Err(SyntaxError::InvalidChar { found: ' ' })
        );
        assert!(matches!(
            validate_label_key("Bad_Prefix/x"),
            Err(SyntaxError::BadPrefix(_))
        ));
        assert!(matches!(
            validate_label_key(&"k".repeat(64)),
            Err(SyntaxError::TooLong { len: 64, .. })
        ));
        assert!(validate_label_value("").is_ok());
        assert!(validate_label_value("prod").is_ok());
        assert_eq!(
            validate_label_value("pr\nod"),
            Err(SyntaxError::InvalidChar { found: '\n' })
        );
    }

    #[test]
    fn names_and_patterns() {
        assert!(validate_resource_name("orders-db").is_ok());
        assert!(validate_resource_name("web-*").is_err());
        assert!(validate_name_pattern("web-*").is_ok());
        assert!(validate_name_pattern("*").is_ok());
        assert_eq!(
            validate_resource_name("Orders"),
            Err(SyntaxError::InvalidNameChar { found: 'O' })
        );
        assert_eq!(validate_resource_name("db-"), Err(SyntaxError::BadEdge));
    }
}

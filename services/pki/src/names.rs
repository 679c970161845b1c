//! The `bamf://<kind>/<value>` SAN vocabulary of §3 and the strict syntax of
//! each value. Used both when building a profile (our input) and when parsing a
//! peer certificate (hostile input), so the two can never disagree.

use std::fmt;

use crate::error::{excerpt, Side};

/// Scheme and authority prefix of every bamf SAN URI.
pub const SAN_PREFIX: &str = "bamf://";

/// Longest id (session, agent, bridge): a ULID is 26, tokens get some room.
const MAX_ID_LEN: usize = 64;
/// Longest resource or role name.
const MAX_NAME_LEN: usize = 128;
/// Longest resource type (`ssh`, `postgres`, `kubernetes`, …).
const MAX_TYPE_LEN: usize = 32;
/// RFC 5321 limit on an address.
const MAX_EMAIL_LEN: usize = 254;
/// RFC 1035 limit on a DNS name.
const MAX_DNS_LEN: usize = 253;

/// The kinds of name a bamf certificate carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SanKind {
    /// `bamf://session/<id>`
    Session,
    /// `bamf://resource/<name>`
    Resource,
    /// `bamf://bridge/<bridge_id>`
    Bridge,
    /// `bamf://side/client|agent`
    Side,
    /// `bamf://role/<role>` (0..n)
    Role,
    /// `bamf://type/<resource type>`
    Type,
    /// `bamf://agent/<agent_id>`
    Agent,
    /// The subject common name (user e-mail, agent id, bridge id).
    CommonName,
    /// A DNS SAN (bridge certificates only).
    Dns,
}

impl SanKind {
    /// The `<kind>` path segment; `cn` / `dns` for the non-URI names.
    pub fn as_str(self) -> &'static str {
        match self {
            SanKind::Session => "session",
            SanKind::Resource => "resource",
            SanKind::Bridge => "bridge",
            SanKind::Side => "side",
            SanKind::Role => "role",
            SanKind::Type => "type",
            SanKind::Agent => "agent",
            SanKind::CommonName => "cn",
            SanKind::Dns => "dns",
        }
    }

    /// The URI kinds, by their path segment.
    fn from_uri_kind(kind: &str) -> Option<SanKind> {
        Some(match kind {
            "session" => SanKind::Session,
            "resource" => SanKind::Resource,
            "bridge" => SanKind::Bridge,
            "side" => SanKind::Side,
            "role" => SanKind::Role,
            "type" => SanKind::Type,
            "agent" => SanKind::Agent,
            _ => return None,
        })
    }
}

impl fmt::Display for SanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that fails its syntax; becomes `ClaimsError::InvalidValue` or
/// `PkiError::InvalidField` depending on whose input it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    pub kind: SanKind,
    pub value: String,
    pub reason: &'static str,
}

fn invalid(kind: SanKind, value: &str, reason: &'static str) -> ValueError {
    ValueError {
        kind,
        value: excerpt(value),
        reason,
    }
}

/// Why a URI SAN could not be split into kind and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UriError {
    UnknownScheme,
    UnknownKind(String),
    Value(ValueError),
}

/// `bamf://<kind>/<value>`; the value must already be valid.
pub(crate) fn san_uri(kind: SanKind, value: &str) -> String {
    format!("{SAN_PREFIX}{}/{value}", kind.as_str())
}

/// Splits and validates one URI SAN.
pub(crate) fn parse_san_uri(uri: &str) -> Result<(SanKind, &str), UriError> {
    let rest = uri
        .strip_prefix(SAN_PREFIX)
        .ok_or(UriError::UnknownScheme)?;
    let (kind, value) = rest
        .split_once('/')
        .ok_or_else(|| UriError::UnknownKind(excerpt(rest)))?;
    let kind = SanKind::from_uri_kind(kind).ok_or_else(|| UriError::UnknownKind(excerpt(kind)))?;
    validate(kind, value).map_err(UriError::Value)?;
    Ok((kind, value))
}

/// Validates a value of the given kind.
pub(crate) fn validate(kind: SanKind, value: &str) -> Result<(), ValueError> {
    match kind {
        SanKind::Session | SanKind::Bridge | SanKind::Agent => validate_id(kind, value),
        SanKind::Resource | SanKind::Role => validate_name(kind, value),
        SanKind::Type => validate_type(value),
        SanKind::Side => parse_side(value).map(|_| ()),
        SanKind::CommonName => validate_email(value),
        SanKind::Dns => validate_dns(value),
    }
}

/// `client` or `agent`.
pub(crate) fn parse_side(value: &str) -> Result<Side, ValueError> {
    match value {
        "client" => Ok(Side::Client),
        "agent" => Ok(Side::Agent),
        _ => Err(invalid(SanKind::Side, value, "must be client or agent")),
    }
}

/// A ULID (Crockford base32, upper case) or a lower-case `[a-z0-9_-]` token
/// starting with a letter or digit — the id syntax of NATS subjects (§2).
pub(crate) fn validate_id(kind: SanKind, value: &str) -> Result<(), ValueError> {
    if value.is_empty() {
        return Err(invalid(kind, value, "empty"));
    }
    if value.len() > MAX_ID_LEN {
        return Err(invalid(kind, value, "longer than 64 characters"));
    }
    if is_ulid(value) || is_token(value) {
        Ok(())
    } else {
        Err(invalid(kind, value, "not a ULID or [a-z0-9_-] token"))
    }
}

fn is_ulid(value: &str) -> bool {
    // 26 Crockford base32 symbols; the first at most '7' so the value fits 128 bits.
    value.len() == 26
        && value.as_bytes()[0] <= b'7'
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"ILOU".contains(&b)))
}

fn is_token(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Resource and role names: ASCII letters, digits, `.`, `_`, `-`, starting with
/// a letter or digit; at most 128 characters. No `/`, `%`, `?`, `#` or spaces,
/// so the URI needs no escaping and has exactly one reading.
pub(crate) fn validate_name(kind: SanKind, value: &str) -> Result<(), ValueError> {
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return Err(invalid(kind, value, "empty"));
    }
    if bytes.len() > MAX_NAME_LEN {
        return Err(invalid(kind, value, "longer than 128 characters"));
    }
    if !bytes[0].is_ascii_alphanumeric()
        || !bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(invalid(kind, value, "not a [A-Za-z0-9._-] name"));
    }
    Ok(())
}

/// Resource types: lower-case `[a-z0-9_-]` tokens of at most 32 characters.
pub(crate) fn validate_type(value: &str) -> Result<(), ValueError> {
    if value.len() > MAX_TYPE_LEN {
        return Err(invalid(SanKind::Type, value, "longer than 32 characters"));
    }
    if !is_token(value) {
        return Err(invalid(SanKind::Type, value, "not a [a-z0-9_-] token"));
    }
    Ok(())
}

/// A plain `local@domain` address: printable ASCII, no spaces or angle
/// brackets, exactly one `@`, both halves non-empty.
pub(crate) fn validate_email(value: &str) -> Result<(), ValueError> {
    let kind = SanKind::CommonName;
    if value.len() > MAX_EMAIL_LEN {
        return Err(invalid(kind, value, "longer than 254 characters"));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"' | b'\\' | b','))
    {
        return Err(invalid(kind, value, "not a plain e-mail address"));
    }
    match value.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(())
        }
        _ => Err(invalid(kind, value, "not a local@domain address")),
    }
}

/// DNS names of a bridge: dot-separated labels of `[a-z0-9-]`, no leading or
/// trailing hyphen, no wildcards.
pub(crate) fn validate_dns(value: &str) -> Result<(), ValueError> {
    let kind = SanKind::Dns;
    if value.is_empty() || value.len() > MAX_DNS_LEN {
        return Err(invalid(kind, value, "empty or longer than 253 characters"));
    }
    for label in value.split('.') {
        let b = label.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 63
            && b.iter()
                .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-';
        if !ok {
            return Err(invalid(kind, value, "not a lower-case DNS name"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_ulids_and_tokens_only() {
        assert!(validate_id(SanKind::Session, "01JD8X3Z7Q9W5K2M4N6P8R0T1V").is_ok());
        assert!(validate_id(SanKind::Bridge, "bridge-1").is_ok());
        assert!(validate_id(SanKind::Agent, "agent_7").is_ok());
        for bad in [
            "",
            "Bridge-1",
            "-x",
            "a.b",
            "a/b",
            "a b",
            "é",
            "81JD8X3Z7Q9W5K2M4N6P8R0T1V",
        ] {
            assert!(validate_id(SanKind::Bridge, bad).is_err(), "{bad:?}");
        }
        assert!(validate_id(SanKind::Bridge, &"a".repeat(65)).is_err());
    }

    #[test]
    fn names_reject_uri_metacharacters() {
        assert!(validate_name(SanKind::Resource, "orders-db.prod_1").is_ok());
        for bad in ["", ".x", "a/b", "a%2f", "a?b", "a#b", "a b", "a\0"] {
            assert!(validate_name(SanKind::Resource, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails_are_plain_addresses() {
        assert!(validate_email("alice@corp.example").is_ok());
        for bad in [
            "alice", "@corp", "alice@", "a@b@c", "a b@c", "<a@b>", "a@b\n",
        ] {
            assert!(validate_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dns_names_are_lower_case_labels() {
        assert!(validate_dns("bridge-1.corp.example").is_ok());
        assert!(validate_dns("localhost").is_ok());
        for bad in ["", "*.corp", "-a.b", "a-.b", "a..b", "A.b", "a_b"] {
            assert!(validate_dns(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn san_uris_round_trip() {
        let uri = san_uri(SanKind::Resource, "orders-db");
        assert_eq!(uri, "bamf://resource/orders-db");
        assert_eq!(parse_san_uri(&uri), Ok((SanKind::Resource, "orders-db")));
        assert_eq!(parse_san_uri("spiffe://x/y"), Err(UriError::UnknownScheme));
        assert!(
            matches!(parse_san_uri("bamf://nope/x"), Err(UriError::UnknownKind(k)) if k == "nope")
        );
        assert!(matches!(
            parse_san_uri("bamf://side/server"),
            Err(UriError::Value(_))
        ));
        assert!(matches!(
            parse_san_uri("bamf://resource/a/b"),
            Err(UriError::Value(_))
        ));
    }
}

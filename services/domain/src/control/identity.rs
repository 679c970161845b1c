//! E-mail normalisation and display-name checks: the user-supplied strings that
//! end up in events, audit records and certificate subjects.

/// Longest e-mail accepted (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest local part (before `@`).
pub const MAX_LOCAL_PART_LEN: usize = 64;
/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 128;

/// Why an e-mail address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("e-mail is empty")]
    Empty,
    #[error("e-mail is {len} bytes long (at most {MAX_EMAIL_LEN})")]
    TooLong { len: usize },
    #[error("e-mail holds a control or invisible character at byte {at}")]
    ControlChar { at: usize },
    #[error("e-mail holds whitespace")]
    Whitespace,
    #[error("e-mail has no '@'")]
    MissingAt,
    #[error("e-mail has more than one '@'")]
    MultipleAt,
    #[error("e-mail local part is invalid: {0}")]
    BadLocalPart(&'static str),
    #[error("e-mail domain is invalid: {0}")]
    BadDomain(&'static str),
}

/// Why a display name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisplayNameError {
    #[error("display name is empty")]
    Empty,
    #[error("display name is {chars} characters long (at most {MAX_DISPLAY_NAME_CHARS})")]
    TooLong { chars: usize },
    #[error("display name holds a control or invisible character {found:?}")]
    ControlChar { found: char },
}

/// Control characters plus the invisible / direction-changing ones that let a
/// string display as something it is not (Trojan Source, U+202E spoofing).
pub fn is_hostile_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}'   // zero-width, LRM/RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}'              // BOM / zero-width no-break space
        )
}

/// Trims and lowercases an e-mail address, then checks it. The result is the
/// one form stored in events and used as a key.
pub fn normalize_email(raw: &str) -> Result<String, EmailError> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err(EmailError::Empty);
    }
    if email.len() > MAX_EMAIL_LEN {
        return Err(EmailError::TooLong { len: email.len() });
    }
    if let Some(at) = email
        .char_indices()
        .find(|(_, c)| is_hostile_char(*c))
        .map(|(i, _)| i)
    {
        return Err(EmailError::ControlChar { at });
    }
    if email.chars().any(char::is_whitespace) {
        return Err(EmailError::Whitespace);
    }
    let mut parts = email.split('@');
    let (local, domain) = match (parts.next(), parts.next(), parts.next()) {
        (Some(l), Some(d), None) => (l, d),
        (_, None, _) => return Err(EmailError::MissingAt),
        _ => return Err(EmailError::MultipleAt),
    };
    check_local_part(local)?;
    check_domain(domain)?;
    Ok(email)
}

fn check_local_part(local: &str) -> Result<(), EmailError> {
    if local.is_empty() {
        return Err(EmailError::BadLocalPart("empty"));
    }
    if local.len() > MAX_LOCAL_PART_LEN {
        return Err(EmailError::BadLocalPart("longer than 64 bytes"));
    }
    // The unquoted atom characters of RFC 5322; quoted local parts are refused.
    let ok = local
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b));
    if !ok {
        return Err(EmailError::BadLocalPart(
            "only letters, digits and !#$%&'*+/=?^_`{|}~.- are allowed",
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(EmailError::BadLocalPart(
            "dots must separate non-empty parts",
        ));
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), EmailError> {
    if domain.is_empty() {
        return Err(EmailError::BadDomain("empty"));
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err(EmailError::BadDomain("empty label"));
        }
        if label.len() > 63 {
            return Err(EmailError::BadDomain("label longer than 63 bytes"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(EmailError::BadDomain(
                "only letters, digits, '-' and '.' are allowed",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(EmailError::BadDomain("a label starts or ends with '-'"));
        }
    }
    Ok(())
}

/// Trims a display name and checks it: 1–128 characters, nothing hostile.
pub fn normalize_display_name(raw: &str) -> Result<String, DisplayNameError> {
    // Surrounding whitespace (a pasted newline) is trimmed; inside, nothing hostile.
    let name = raw.trim();
    if let Some(found) = name.chars().find(|c| is_hostile_char(*c)) {
        return Err(DisplayNameError::ControlChar { found });
    }
    if name.is_empty() {
        return Err(DisplayNameError::Empty);
    }
    let chars = name.chars().count();
    if chars > MAX_DISPLAY_NAME_CHARS {
        return Err(DisplayNameError::TooLong { chars });
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(
            normalize_email("  Alice@Corp.Example ").unwrap(),
            "alice@corp.example"
        );
        assert_eq!(
            normalize_email("admin@localhost").unwrap(),
            "admin@localhost"
        );
    }

    #[test]
    fn hostile_emails_are_refused_with_a_reason() {
        assert_eq!(normalize_email(" "), Err(EmailError::Empty));
        assert_eq!(normalize_email("alice.corp"), Err(EmailError::MissingAt));
        assert_eq!(normalize_email("a@b@c"), Err(EmailError::MultipleAt));
        assert!(matches!(
            normalize_email("a\0@corp.example"),
            Err(EmailError::ControlChar { at: 1 })
        ));
        assert!(matches!(
            normalize_email("a@corp.example\0"),
            Err(EmailError::ControlChar { .. })
        ));
        assert!(matches!(
            normalize_email("a\u{202e}b@corp.example"),
            Err(EmailError::ControlChar { .. })
        ));
        assert_eq!(
            normalize_email("a b@corp.example"),
            Err(EmailError::Whitespace)
        );
        assert!(matches!(
            normalize_email("\"a\"@corp.example"),
            Err(EmailError::BadLocalPart(_))
        ));
        assert!(matches!(
            normalize_email(".a@corp.example"),
            Err(EmailError::BadLocalPart(_))
        ));
        assert!(matches!(
            normalize_email("a@corp..example"),
            Err(EmailError::BadDomain(_))
        ));
        assert!(matches!(
            normalize_email("a@-corp.example"),
            Err(EmailError::BadDomain(_))
        ));
        assert!(matches!(
            normalize_email("a@*.example"),
            Err(EmailError::BadDomain(_))
        ));
        let long = format!("{}@corp.example", "a".repeat(250));
        assert!(matches!(
            normalize_email(&long),
            Err(EmailError::TooLong { .. })
        ));
        let long_local = format!("{}@corp.example", "a".repeat(65));
        assert!(matches!(
            normalize_email(&long_local),
            Err(EmailError::BadLocalPart(_))
        ));
    }

    #[test]
    fn display_names() {
        assert_eq!(normalize_display_name("  Alice A. ").unwrap(), "Alice A.");
        assert_eq!(normalize_display_name("Zoë 李"), Ok("Zoë 李".into()));
        assert_eq!(normalize_display_name("   "), Err(DisplayNameError::Empty));
        assert!(matches!(
            normalize_display_name("evil\u{202e}gnp"),
            Err(DisplayNameError::ControlChar { .. })
        ));
        assert!(matches!(
            normalize_display_name("a\nb"),
            Err(DisplayNameError::ControlChar { .. })
        ));
        assert!(matches!(
            normalize_display_name(&"x".repeat(129)),
            Err(DisplayNameError::TooLong { chars: 129 })
        ));
    }
}

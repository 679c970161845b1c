//! Secrets the API makes and checks: opaque tokens (login and join tokens) and
//! their SHA-256 digests, and argon2id password hashes. Only digests and hashes
//! leave this module for the log; plain values are returned to the caller once.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::{Argon2, PasswordVerifier};
use bamf_domain::events::Sha256Hex;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (bounds hashing work per request).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A new opaque 256-bit token: 43 characters of unpadded base64url.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The digest the log and the projections know a token by.
pub fn token_digest(token: &str) -> Sha256Hex {
    let hex = hex::encode(Sha256::digest(token.as_bytes()));
    Sha256Hex::new(hex).expect("hex of a SHA-256 digest is 64 lowercase hex characters")
}

/// Whether `token` has the shape of one of ours (cheap check before hashing).
pub fn plausible_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A generated password for the first admin or `--generate-password`: 24
/// characters of base64url (144 bits).
pub fn new_password() -> String {
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Why a password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("password must be at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
}

/// Checks the password policy.
pub fn check_password_policy(password: &str) -> Result<(), PasswordPolicyError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordPolicyError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordPolicyError::TooShort);
    }
    Ok(())
}

/// Hashes a password with argon2id (default parameters: 19 MiB, 2 passes).
/// CPU-heavy: call from `spawn_blocking`.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("cannot hash password: {e}"))?;
    Ok(hash.to_string())
}

/// A hash to verify against when the user does not exist, so an unknown
/// e-mail costs the same time as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a password of anyone").unwrap_or_default())
}

/// Verifies a password against a PHC hash; a malformed hash verifies nothing.
/// CPU-heavy: call from `spawn_blocking`.
pub fn verify_password(password: &str, phc: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_base64url_characters_and_differ() {
        let (a, b) = (new_token(), new_token());
        assert!(plausible_token(&a) && plausible_token(&b));
        assert_ne!(a, b);
        assert_ne!(token_digest(&a), token_digest(&b));
        assert!(!plausible_token("short"));
        assert!(!plausible_token(&format!("{}!", &a[..42])));
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse battery!", &hash));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn the_policy_names_what_is_wrong() {
        assert_eq!(
            check_password_policy("short"),
            Err(PasswordPolicyError::TooShort)
        );
        assert_eq!(
            check_password_policy(&"x".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(PasswordPolicyError::TooLong)
        );
        assert!(check_password_policy("twelve chars").is_ok());
    }
}

//! Secrets the stack makes on its first run and keeps in the state directory
//! (mode 0600), so every later run uses the same ones:
//!
//! - `admin-password`: the first admin's password, handed to bamf-api as
//!   `BAMF_API_ADMIN_PASSWORD`, so the summary can say how to log in;
//! - `bridge-bootstrap-token`: the API's `bridge_bootstrap_token`, which the
//!   stack's bridge enrols with.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine;
use rand::RngCore;

/// The admin e-mail of the local stack.
pub const ADMIN_EMAIL: &str = "admin@bamf.local";
/// Random bytes of the admin password (24 characters of base64url).
const PASSWORD_BYTES: usize = 18;
/// Random bytes of the bridge token: 43 characters of base64url, above the
/// API's minimum of 32.
const BRIDGE_TOKEN_BYTES: usize = 32;

/// The admin password file and its content, made on first use.
pub fn admin_password(state: &Path) -> Result<(PathBuf, String)> {
    let path = state.join("admin-password");
    let password = load_or_make(&path, PASSWORD_BYTES)?;
    Ok((path, password))
}

/// The bridge bootstrap token, made on first use.
pub fn bridge_token(state: &Path) -> Result<String> {
    load_or_make(&state.join("bridge-bootstrap-token"), BRIDGE_TOKEN_BYTES)
}

/// The secret in `path`, or a new one of `bytes` random bytes (base64url)
/// written there with mode 0600.
fn load_or_make(path: &Path, bytes: usize) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    let mut raw = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut raw);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{secret}").with_context(|| format!("cannot write {}", path.display()))?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn made_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (path, first) = admin_password(dir.path()).unwrap();
        assert_eq!(first.len(), 24);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (_, second) = admin_password(dir.path()).unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn the_bridge_token_is_long_enough_private_and_kept_apart() {
        let dir = tempfile::tempdir().unwrap();
        let token = bridge_token(dir.path()).unwrap();
        assert_eq!(token.len(), 43, "at least the API's 32 characters");
        let path = dir.path().join("bridge-bootstrap-token");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(bridge_token(dir.path()).unwrap(), token);
        assert_ne!(admin_password(dir.path()).unwrap().1, token);
    }
}

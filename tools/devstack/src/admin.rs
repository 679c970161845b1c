//! The local stack's first admin: a password made on the first run and kept
//! in `<state>/admin-password` (mode 0600), handed to bamf-api as
//! `BAMF_API_ADMIN_PASSWORD`, so every run of the stack logs in the same way
//! and the summary can say how.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine;
use rand::RngCore;

/// The admin e-mail of the local stack.
pub const EMAIL: &str = "admin@bamf.local";

/// The admin password file and its content, made on first use.
pub fn password(state: &Path) -> Result<(PathBuf, String)> {
    let path = state.join("admin-password");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok((path, text.trim().to_string())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    let password = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{password}").with_context(|| format!("cannot write {}", path.display()))?;
    Ok((path, password))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn made_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (path, first) = password(dir.path()).unwrap();
        assert_eq!(first.len(), 24);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (_, second) = password(dir.path()).unwrap();
        assert_eq!(first, second);
    }
}

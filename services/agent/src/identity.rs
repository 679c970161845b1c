//! The agent's identity in its data dir: `agent_id`, `agent.key` (PKCS#8 PEM,
//! mode 0600; a key readable by group or others is refused), `agent.crt` and
//! `ca.crt`. Written once at join and again at each renewal, each file
//! through a temporary file and a rename, so a crash never leaves half a file.

use std::path::{Path, PathBuf};

use bamf_runtime::files::{self, FileError};

use bamf_domain::AggregateId;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

pub const AGENT_ID_FILE: &str = "agent_id";
pub const KEY_FILE: &str = "agent.key";
pub const CERT_FILE: &str = "agent.crt";
pub const CA_FILE: &str = "ca.crt";

/// Why the identity could not be loaded or stored.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{} is not valid: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
}

/// What the agent is, as the API knows it.
#[derive(Clone)]
pub struct Identity {
    pub agent_id: AggregateId,
    /// PKCS#8 PEM private key; never leaves this machine.
    pub key_pem: String,
    /// PEM agent certificate.
    pub cert_pem: String,
    /// PEM CA certificate.
    pub ca_pem: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Identity")
            .field("agent_id", &self.agent_id)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Loads the identity from `dir`; `None` when the agent never joined
    /// (no `agent_id` file).
    pub fn load(dir: &Path) -> Result<Option<Identity>, IdentityError> {
        let id_path = dir.join(AGENT_ID_FILE);
        if !id_path.exists() {
            return Ok(None);
        }
        let id_text = files::read_limited(&id_path)?;
        let agent_id =
            AggregateId::new(id_text.trim().to_string()).map_err(|e| IdentityError::Invalid {
                path: id_path.clone(),
                reason: e.to_string(),
            })?;
        let key_pem = files::read_key_file(&dir.join(KEY_FILE))?;
        let identity = Identity {
            agent_id,
            key_pem,
            cert_pem: files::read_limited(&dir.join(CERT_FILE))?,
            ca_pem: files::read_limited(&dir.join(CA_FILE))?,
        };
        identity
            .cert_der()
            .map_err(|reason| IdentityError::Invalid {
                path: dir.join(CERT_FILE),
                reason,
            })?;
        identity
            .key_der()
            .map_err(|reason| IdentityError::Invalid {
                path: dir.join(KEY_FILE),
                reason,
            })?;
        Ok(Some(identity))
    }

    /// Writes every file to `dir` (created 0700 if missing).
    pub fn store(&self, dir: &Path) -> Result<(), IdentityError> {
        files::create_private_dir(dir)?;
        files::write_atomic(&dir.join(KEY_FILE), &self.key_pem, 0o600)?;
        files::write_atomic(&dir.join(CERT_FILE), &self.cert_pem, 0o644)?;
        files::write_atomic(&dir.join(CA_FILE), &self.ca_pem, 0o644)?;
        // Last: its presence means the others are complete.
        files::write_atomic(&dir.join(AGENT_ID_FILE), self.agent_id.as_str(), 0o644)?;
        Ok(())
    }

    /// The agent certificate, DER.
    pub fn cert_der(&self) -> Result<CertificateDer<'static>, String> {
        CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).map_err(|e| e.to_string())
    }

    /// The private key, DER.
    pub fn key_der(&self) -> Result<PrivateKeyDer<'static>, String> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn identity() -> Identity {
        let key = bamf_pki::KeyAndCsr::generate().unwrap();
        let ca = bamf_pki::Ca::generate(&Default::default(), std::time::SystemTime::now()).unwrap();
        Identity {
            agent_id: AggregateId::new("01jdagent").unwrap(),
            key_pem: key.private_key_pem(),
            // Any certificate will do for storage: the CA's own.
            cert_pem: ca.cert_pem().to_string(),
            ca_pem: ca.cert_pem().to_string(),
        }
    }

    #[test]
    fn stored_identity_loads_back_with_a_0600_key() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Identity::load(dir.path()).unwrap().is_none());
        let id = identity();
        id.store(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let loaded = Identity::load(dir.path()).unwrap().unwrap();
        assert_eq!(loaded.agent_id, id.agent_id);
        assert_eq!(loaded.key_pem, id.key_pem);
    }

    #[test]
    fn a_key_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        identity().store(dir.path()).unwrap();
        let key = dir.path().join(KEY_FILE);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Identity::load(dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                IdentityError::File(FileError::KeyFileTooOpen { mode: 0o644, .. })
            ),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }
}

//! The internal CA (§3): create (ECDSA P-256, key file 0600), load (refusing a
//! key file others can read), export its certificate, and sign profiles from
//! CSRs. Only `bamf-api` holds a [`Ca`]; everything else holds a [`CaTrust`].

use std::{
    fs::{File, OpenOptions},
    io::{Read, Write},
    os::unix::fs::{MetadataExt, OpenOptionsExt},
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use rustls_pki_types::{pem::PemObject, CertificateDer};
use time::OffsetDateTime;
use x509_parser::{certificate::X509Certificate, prelude::FromDer};

use crate::{
    csr::VerifiedCsr,
    error::PkiError,
    fields::serial_hex,
    profile::{whole_seconds, Profile, NOT_BEFORE_BACKDATE},
    record::IssuanceRecord,
    trust::CaTrust,
};

/// Default lifetime of the CA certificate.
pub const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Largest CA key or certificate file read.
const MAX_CA_FILE_LEN: u64 = 64 * 1024;

/// Settings for a new CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaConfig {
    /// Subject CN of the CA certificate.
    pub common_name: String,
    /// Validity of the CA certificate from creation.
    pub lifetime: Duration,
}

impl Default for CaConfig {
    fn default() -> Self {
        CaConfig {
            common_name: "bamf internal CA".into(),
            lifetime: CA_LIFETIME,
        }
    }
}

/// A certificate just issued, with its record for the `cert.issued` event.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_der: CertificateDer<'static>,
    pub cert_pem: String,
    pub record: IssuanceRecord,
}

/// The CA: signing key, certificate and trust root.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    trust: CaTrust,
    rng: SystemRandom,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Ca")
            .field("trust", &self.trust)
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// A new CA in memory: ECDSA P-256 key, self-signed certificate with
    /// basicConstraints CA:true pathlen 0 and key usage keyCertSign + cRLSign.
    pub fn generate(config: &CaConfig, now: SystemTime) -> Result<Ca, PkiError> {
        let rng = SystemRandom::new();
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(PkiError::KeyGeneration)?;
        let now = whole_seconds(OffsetDateTime::from(now));
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, config.common_name.as_str());
        params.distinguished_name = dn;
        params.not_before = now - NOT_BEFORE_BACKDATE;
        params.not_after = now + config.lifetime;
        params.serial_number = Some(SerialNumber::from_slice(&random_serial(&rng)?));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).map_err(PkiError::Sign)?;
        let trust = CaTrust::from_der(cert.der())?;
        Ok(Ca {
            issuer: Issuer::new(params, key),
            cert_pem: cert.pem(),
            trust,
            rng,
        })
    }

    /// Creates a CA and writes it: the key (PKCS#8 PEM) to `key_path`, created
    /// with mode 0600 at open time, and the certificate (PEM) to `cert_path`.
    /// Refuses to overwrite either file.
    pub fn init(
        cert_path: &Path,
        key_path: &Path,
        config: &CaConfig,
        now: SystemTime,
    ) -> Result<Ca, PkiError> {
        for path in [cert_path, key_path] {
            if path.exists() {
                return Err(PkiError::AlreadyExists { path: path.into() });
            }
        }
        let ca = Ca::generate(config, now)?;
        write_new(
            key_path,
            0o600,
            ca.issuer.key().serialize_pem().as_bytes(),
            "create CA key",
        )?;
        write_new(
            cert_path,
            0o644,
            ca.cert_pem.as_bytes(),
            "create CA certificate",
        )?;
        Ok(ca)
    }

    /// Loads a CA written by [`Ca::init`]. The key file must be a regular file
    /// with no group or other permission bits ([`PkiError::KeyFileTooOpen`]),
    /// and must hold the key of the certificate.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Ca, PkiError> {
        let key_pem = read_key_file(key_path)?;
        let key = KeyPair::from_pem(&key_pem).map_err(|source| PkiError::InvalidKey {
            path: key_path.into(),
            source,
        })?;
        if key.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
            return Err(PkiError::InvalidKey {
                path: key_path.into(),
                source: rcgen::Error::UnsupportedSignatureAlgorithm,
            });
        }
        let cert_pem = read_limited(cert_path, "read CA certificate")?;
        Ca::from_parts(&cert_pem, key)
    }

    /// Loads the CA if its key file exists, else creates it ("on first start",
    /// §3). Returns whether it was created.
    pub fn load_or_init(
        cert_path: &Path,
        key_path: &Path,
        config: &CaConfig,
        now: SystemTime,
    ) -> Result<(Ca, bool), PkiError> {
        if key_path.exists() {
            Ok((Ca::load(cert_path, key_path)?, false))
        } else {
            Ok((Ca::init(cert_path, key_path, config, now)?, true))
        }
    }

    fn from_parts(cert_pem: &str, key: KeyPair) -> Result<Ca, PkiError> {
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| {
            PkiError::InvalidCaCert {
                reason: format!("not a PEM certificate: {e}"),
            }
        })?;
        let trust = CaTrust::from_der(&der)?;
        let (_, cert) = X509Certificate::from_der(&der).map_err(|e| PkiError::InvalidCaCert {
            reason: e.to_string(),
        })?;
        if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(PkiError::KeyMismatch);
        }
        let issuer = Issuer::from_ca_cert_der(&der, key).map_err(|e| PkiError::InvalidCaCert {
            reason: e.to_string(),
        })?;
        Ok(Ca {
            issuer,
            cert_pem: cert_pem.to_owned(),
            trust,
            rng: SystemRandom::new(),
        })
    }

    /// The CA certificate as PEM, for clients (`bamfctl`, agents, bridges).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        self.trust.ca_cert_der()
    }

    /// The trust root for verifiers.
    pub fn trust(&self) -> &CaTrust {
        &self.trust
    }

    /// Writes the CA certificate (PEM, mode 0644) for clients; refuses to
    /// overwrite.
    pub fn export_cert(&self, path: &Path) -> Result<(), PkiError> {
        if path.exists() {
            return Err(PkiError::AlreadyExists { path: path.into() });
        }
        write_new(
            path,
            0o644,
            self.cert_pem.as_bytes(),
            "export CA certificate",
        )
    }

    /// Signs `profile` for the key in `csr`, valid from `now` for the profile's
    /// lifetime, with a random 128-bit serial. `requester` goes into the record.
    pub fn issue(
        &self,
        profile: &Profile,
        csr: &VerifiedCsr,
        requester: &str,
        now: SystemTime,
    ) -> Result<Issued, PkiError> {
        let serial = random_serial(&self.rng)?;
        let now = whole_seconds(OffsetDateTime::from(now));
        let built = profile.build(now, serial)?;
        let cert = built
            .params
            .signed_by(csr, &self.issuer)
            .map_err(PkiError::Sign)?;
        let record = IssuanceRecord {
            serial: serial_hex(&serial),
            kind: built.kind,
            subject: built.subject,
            sans: built.sans,
            not_before: built.params.not_before,
            not_after: built.params.not_after,
            requester: requester.to_owned(),
        };
        Ok(Issued {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            record,
        })
    }
}

/// 16 bytes from the system CSPRNG: a 128-bit serial (rcgen encodes it as a
/// positive INTEGER, adding a zero byte when the top bit is set).
fn random_serial(rng: &SystemRandom) -> Result<[u8; 16], PkiError> {
    let mut serial = [0u8; 16];
    rng.fill(&mut serial).map_err(|_| PkiError::Random)?;
    Ok(serial)
}

/// Creates `path` (must not exist) with `mode` set at open time, so the file is
/// never readable by others, not even for an instant, and writes `bytes`.
fn write_new(path: &Path, mode: u32, bytes: &[u8], action: &'static str) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        action,
        path: PathBuf::from(path),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                PkiError::AlreadyExists { path: path.into() }
            } else {
                io(source)
            }
        })?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Opens the key file and checks the mode of the opened file (not the path,
/// so a swap between check and read cannot slip through) before reading.
fn read_key_file(path: &Path) -> Result<String, PkiError> {
    let action = "read CA key";
    let file = File::open(path).map_err(|source| PkiError::Io {
        action,
        path: path.into(),
        source,
    })?;
    let meta = file.metadata().map_err(|source| PkiError::Io {
        action,
        path: path.into(),
        source,
    })?;
    if !meta.is_file() {
        return Err(PkiError::KeyFileNotRegular { path: path.into() });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(PkiError::KeyFileTooOpen {
            path: path.into(),
            mode,
        });
    }
    read_all(file, path, action)
}

fn read_limited(path: &Path, action: &'static str) -> Result<String, PkiError> {
    let file = File::open(path).map_err(|source| PkiError::Io {
        action,
        path: path.into(),
        source,
    })?;
    read_all(file, path, action)
}

fn read_all(file: File, path: &Path, action: &'static str) -> Result<String, PkiError> {
    let mut text = String::new();
    file.take(MAX_CA_FILE_LEN)
        .read_to_string(&mut text)
        .map_err(|source| PkiError::Io {
            action,
            path: path.into(),
            source,
        })?;
    Ok(text)
}

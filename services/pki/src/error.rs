//! The two error enums of the crate: [`ClaimsError`] for a certificate that is
//! refused (one variant per reason, so callers `matches!` on the variant) and
//! [`PkiError`] for CA handling and issuance.

use std::{fmt, path::PathBuf};

use crate::names::{SanKind, ValueError};

/// Longest excerpt of hostile input kept in an error message.
const EXCERPT_LIMIT: usize = 64;

/// A short, printable excerpt of untrusted input for an error message.
pub(crate) fn excerpt(s: &str) -> String {
    let mut out: String = s.chars().take(EXCERPT_LIMIT).collect();
    if s.chars().nth(EXCERPT_LIMIT).is_some() {
        out.push('…');
    }
    out
}

/// Which side of a tunnel a session certificate is for (§3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The user's end (`bamfctl`): `bamf://side/client`.
    Client,
    /// The agent's end: `bamf://side/agent`.
    Agent,
}

impl Side {
    /// The SAN value: `client` or `agent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Agent => "agent",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The four certificate profiles of §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertKind {
    /// 30-second session certificate for the client (CLI) side.
    SessionClient,
    /// 30-second session certificate for the agent side.
    SessionAgent,
    /// 24-hour agent identity certificate.
    Agent,
    /// 24-hour bridge server certificate.
    Bridge,
}

impl CertKind {
    /// The name used in messages and in the issuance record.
    pub fn as_str(self) -> &'static str {
        match self {
            CertKind::SessionClient => "session_client",
            CertKind::SessionAgent => "session_agent",
            CertKind::Agent => "agent",
            CertKind::Bridge => "bridge",
        }
    }
}

impl fmt::Display for CertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a peer certificate was refused. Every variant is a distinct reason so the
/// bridge can audit it and tests can match on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    /// The peer sent no certificate at all.
    #[error("cannot verify peer: no certificate presented")]
    NoCertificate,
    /// Larger than any certificate we issue; refused before parsing.
    #[error("cannot parse certificate: {len} bytes exceeds the {limit}-byte limit")]
    TooLarge { len: usize, limit: usize },
    /// Not a DER X.509 v3 certificate (or trailing bytes, bad extension encoding).
    #[error("cannot parse certificate: {reason}")]
    Malformed { reason: String },
    /// A SAN (or the subject common name) the profile requires is absent.
    #[error("cannot accept certificate: missing {kind} SAN")]
    MissingSan { kind: SanKind },
    /// A SAN that may appear once appears more than once (or a role repeats).
    #[error("cannot accept certificate: duplicated {kind} SAN")]
    DuplicateSan { kind: SanKind },
    /// A URI SAN whose scheme is not `bamf://`.
    #[error("cannot accept certificate: SAN {uri:?} has an unknown scheme (want bamf://)")]
    UnknownScheme { uri: String },
    /// A `bamf://<kind>/…` SAN with a kind we do not know.
    #[error("cannot accept certificate: unknown SAN kind {kind:?}")]
    UnknownSanKind { kind: String },
    /// A SAN that is well-formed but does not belong in this profile
    /// (e.g. a DNS name in a session certificate, a role on the agent side).
    #[error("cannot accept certificate: {what} not allowed in a {profile} certificate")]
    UnexpectedSan { what: String, profile: CertKind },
    /// More SAN entries than any certificate we issue carries.
    #[error("cannot accept certificate: {count} SANs exceeds the limit of {limit}")]
    TooManySans { count: usize, limit: usize },
    /// A SAN or subject value outside its allowed syntax.
    #[error("cannot accept certificate: invalid {kind} {value:?}: {reason}")]
    InvalidValue {
        kind: SanKind,
        value: String,
        reason: &'static str,
    },
    /// The chain does not lead to our CA (unknown issuer or bad signature).
    #[error("cannot accept certificate: chain does not lead to the bamf CA")]
    UntrustedChain,
    /// `now` is past not-after.
    #[error("cannot accept certificate: expired at unix time {not_after}, now {now}")]
    Expired { not_after: u64, now: u64 },
    /// `now` is before not-before.
    #[error("cannot accept certificate: not valid before unix time {not_before}, now {now}")]
    NotYetValid { not_before: u64, now: u64 },
    /// Key usage, extended key usage or basic constraints do not fit the profile.
    #[error("cannot accept certificate as {profile}: wrong key usage ({reason})")]
    WrongKeyUsage {
        profile: CertKind,
        reason: &'static str,
    },
    /// A session certificate for the other side than the one expected.
    #[error("cannot accept session certificate: side {found}, expected {expected}")]
    WrongSide { expected: Side, found: Side },
    /// A certificate naming another bridge.
    #[error("cannot accept certificate: issued for bridge {found:?}, this is {expected:?}")]
    WrongBridge { expected: String, found: String },
    /// Any other refusal from chain verification (unsupported algorithm,
    /// critical extension we do not know, …).
    #[error("cannot accept certificate: chain verification failed: {0:?}")]
    Chain(webpki::Error),
}

impl ClaimsError {
    /// The bamf rejection carried inside a rustls error, if any.
    ///
    /// The verifiers in [`crate::verify`] wrap every [`ClaimsError`] as
    /// `rustls::Error::InvalidCertificate(CertificateError::Other(..))`; this
    /// gets it back (for example from the `io::Error` of a failed tokio-rustls
    /// accept, via [`ClaimsError::from_io_error`]).
    pub fn from_tls_error(err: &rustls::Error) -> Option<&ClaimsError> {
        match err {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
                other.0.downcast_ref::<ClaimsError>()
            }
            _ => None,
        }
    }

    /// The bamf rejection inside an `io::Error` returned by a TLS stream.
    pub fn from_io_error(err: &std::io::Error) -> Option<&ClaimsError> {
        let inner = err.get_ref()?;
        let tls = inner.downcast_ref::<rustls::Error>()?;
        Self::from_tls_error(tls)
    }
}

/// Failures of CA handling and certificate issuance.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// File system error, with what was being done and where.
    #[error("cannot {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `Ca::init` refuses to overwrite an existing CA file.
    #[error("cannot create CA: {path} already exists")]
    AlreadyExists { path: PathBuf },
    /// The CA key file has group or other permission bits set.
    #[error("refusing to load CA key {path}: mode {mode:04o} lets group or others access it (need 0600)")]
    KeyFileTooOpen { path: PathBuf, mode: u32 },
    /// The CA key file is not a regular file.
    #[error("refusing to load CA key {path}: not a regular file")]
    KeyFileNotRegular { path: PathBuf },
    /// The CA key file does not hold a PKCS#8 ECDSA P-256 key.
    #[error("cannot parse CA key {path}")]
    InvalidKey {
        path: PathBuf,
        #[source]
        source: rcgen::Error,
    },
    /// The CA certificate is unusable (bad PEM/DER, not a CA).
    #[error("cannot load CA certificate: {reason}")]
    InvalidCaCert { reason: String },
    /// The CA key is not the key of the CA certificate.
    #[error("cannot load CA: the key does not match the certificate")]
    KeyMismatch,
    /// The CSR is not a well-formed PKCS#10 request.
    #[error("cannot parse certificate signing request: {reason}")]
    InvalidCsr { reason: String },
    /// The CSR is larger than any honest request.
    #[error(
        "cannot parse certificate signing request: {len} bytes exceeds the {limit}-byte limit"
    )]
    CsrTooLarge { len: usize, limit: usize },
    /// The CSR's self-signature does not verify (no proof of key possession).
    #[error("cannot sign certificate: the request's signature does not verify")]
    CsrSignature,
    /// Only ECDSA P-256 with SHA-256 keys are signed.
    #[error("cannot sign certificate: the request's key is not ECDSA P-256 with SHA-256")]
    UnsupportedKeyAlgorithm,
    /// A profile field (id, name, role, e-mail, DNS name) fails validation.
    #[error("cannot build certificate profile: invalid {kind} {value:?}: {reason}")]
    InvalidField {
        kind: SanKind,
        value: String,
        reason: &'static str,
    },
    /// rcgen refused to encode or sign.
    #[error("cannot sign certificate")]
    Sign(#[source] rcgen::Error),
    /// Key generation failed.
    #[error("cannot generate key pair")]
    KeyGeneration(#[source] rcgen::Error),
    /// A stored private key is not a PKCS#8 PEM key rcgen can use.
    #[error("not a usable private key")]
    InvalidPrivateKey(#[source] rcgen::Error),
    /// The operating system's random source failed.
    #[error("cannot draw random bytes from the system")]
    Random,
}

impl From<ValueError> for ClaimsError {
    fn from(e: ValueError) -> Self {
        ClaimsError::InvalidValue {
            kind: e.kind,
            value: e.value,
            reason: e.reason,
        }
    }
}

impl From<ValueError> for PkiError {
    fn from(e: ValueError) -> Self {
        PkiError::InvalidField {
            kind: e.kind,
            value: e.value,
            reason: e.reason,
        }
    }
}

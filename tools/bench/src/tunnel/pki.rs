//! Certificates for the tunnel benchmark, minted directly with the bamf CA
//! (`bamf-pki`), as the bridge tests do: the bridge's server certificate and
//! files, session certificates for either side, and the rustls
//! configurations bamf builds from them (TLS 1.3, *ring*, mutual, bamf's
//! verifiers). The TLS relay baseline uses the same configurations, so its
//! handshakes do the same checks as the bridge's.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use bamf_pki::profile::{AgentSessionProfile, BridgeProfile, ClientSessionProfile, Profile};
use bamf_pki::{BridgeClientVerifier, BridgeServerVerifier, Ca, KeyAndCsr, Side, VerifiedCsr};
use rustls_pki_types::CertificateDer;

/// The DNS name in bridge certificates; clients dial with it.
pub const SERVER_NAME: &str = "localhost";

/// A certificate with its key.
pub struct Cert {
    pub der: CertificateDer<'static>,
    pub pem: String,
    pub key: KeyAndCsr,
}

/// A CA and the bridge id its certificates name.
#[derive(Clone)]
pub struct Pki {
    ca: Arc<Ca>,
    pub bridge_id: String,
}

/// Where [`Pki::write_bridge_files`] put the bridge's files.
pub struct BridgeFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub ca_file: PathBuf,
}

/// A fresh lowercase ULID, the shape of a session id.
pub fn session_id() -> String {
    ulid::Ulid::new().to_string().to_lowercase()
}

impl Pki {
    pub fn new(ca: Arc<Ca>, bridge_id: &str) -> Pki {
        Pki {
            ca,
            bridge_id: bridge_id.into(),
        }
    }

    /// The same CA for another bridge id.
    pub fn for_bridge(&self, bridge_id: &str) -> Pki {
        Pki::new(self.ca.clone(), bridge_id)
    }

    fn issue(&self, profile: Profile) -> anyhow::Result<Cert> {
        let key = KeyAndCsr::generate().context("a key and CSR")?;
        let csr = VerifiedCsr::from_der(key.csr_der()).context("our own CSR verifies")?;
        let issued = self
            .ca
            .issue(&profile, &csr, "bench", SystemTime::now())
            .context("the CA signs")?;
        Ok(Cert {
            der: issued.cert_der,
            pem: issued.cert_pem,
            key,
        })
    }

    /// The bridge's server certificate (24 h).
    pub fn bridge_cert(&self) -> anyhow::Result<Cert> {
        self.issue(Profile::Bridge(BridgeProfile {
            bridge_id: self.bridge_id.clone(),
            dns_names: vec![SERVER_NAME.into()],
            ip_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
        }))
    }

    /// A session certificate for `side` of `session` (valid 30 s to connect).
    pub fn session(&self, session: &str, side: Side) -> anyhow::Result<Cert> {
        let (resource, resource_type) = ("bench", "tcp");
        self.issue(match side {
            Side::Client => Profile::ClientSession(ClientSessionProfile {
                session_id: session.into(),
                user_email: "bench@bench.example".into(),
                resource: resource.into(),
                resource_type: resource_type.into(),
                bridge_id: self.bridge_id.clone(),
                roles: vec!["everyone".into()],
            }),
            Side::Agent => Profile::AgentSession(AgentSessionProfile {
                session_id: session.into(),
                agent_id: "bench-agent".into(),
                resource: resource.into(),
                resource_type: resource_type.into(),
                bridge_id: self.bridge_id.clone(),
            }),
        })
    }

    /// Writes a fresh bridge certificate, its key and the CA certificate
    /// (PEM) into `dir`, for a bridge configured from files.
    pub fn write_bridge_files(&self, dir: &Path) -> anyhow::Result<BridgeFiles> {
        let cert = self.bridge_cert()?;
        let files = BridgeFiles {
            cert_file: dir.join("bridge.crt"),
            key_file: dir.join("bridge.key"),
            ca_file: dir.join("ca.crt"),
        };
        std::fs::write(&files.cert_file, &cert.pem)?;
        std::fs::write(&files.key_file, cert.key.private_key_pem())?;
        std::fs::write(&files.ca_file, self.ca.cert_pem())?;
        Ok(files)
    }

    /// A client's rustls configuration towards this bridge (the CLI's and
    /// the agent's: the bridge checked by its id, `cert` presented).
    pub fn client_tls(&self, cert: &Cert) -> anyhow::Result<rustls::ClientConfig> {
        let verifier = BridgeServerVerifier::new(self.ca.trust().clone(), self.bridge_id.as_str());
        bamf_pki::bridge_client_config(
            Arc::new(verifier),
            cert.der.clone(),
            cert.key.private_key_der(),
        )
        .context("a client TLS configuration")
    }

    /// The bridge's rustls configuration: `cert` presented, session
    /// certificates of either side for this bridge id accepted.
    pub fn server_tls(&self, cert: &Cert) -> anyhow::Result<rustls::ServerConfig> {
        let verifier = BridgeClientVerifier::new(self.ca.trust().clone(), self.bridge_id.as_str());
        bamf_pki::bridge_server_config(
            Arc::new(verifier),
            cert.der.clone(),
            cert.key.private_key_der(),
        )
        .context("a server TLS configuration")
    }
}

//! The bridge's TLS material and its QUIC server configuration: the bridge
//! certificate and key (in a [`ServerCertSlot`], so a renewal takes effect at
//! the next handshake), and the CA every session certificate must chain to.
//! They come from files (`cert_file`, `key_file`, `ca_file`) or from the API
//! (`enroll.rs`).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use bamf_pki::{
    bridge_server_config_from_slot, BridgeClientVerifier, CaTrust, RejectHook, ServerCertSlot,
};
use bamf_tunnel::TransportLimits;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::BridgeConfig;

/// Certificate, key and CA trust of one bridge.
pub struct BridgeTls {
    pub cert: Arc<ServerCertSlot>,
    pub trust: CaTrust,
}

impl BridgeTls {
    /// Reads `cert_file`, `key_file` and `ca_file` (PEM).
    pub fn load(config: &BridgeConfig) -> anyhow::Result<Self> {
        let read = |key: &str, path: &Path| {
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {} (key \"{key}\")", path.display()))
        };
        let cert = CertificateDer::from_pem_slice(read("cert_file", &config.cert_file)?.as_bytes())
            .with_context(|| {
                format!(
                    "no PEM certificate in {} (key \"cert_file\")",
                    config.cert_file.display()
                )
            })?;
        let key = PrivateKeyDer::from_pem_slice(read("key_file", &config.key_file)?.as_bytes())
            .with_context(|| {
                format!(
                    "no PEM private key in {} (key \"key_file\")",
                    config.key_file.display()
                )
            })?;
        let trust = CaTrust::from_pem(&read("ca_file", &config.ca_file)?).with_context(|| {
            format!(
                "no CA certificate in {} (key \"ca_file\")",
                config.ca_file.display()
            )
        })?;
        let cert = ServerCertSlot::new(cert, key).context(
            "bridge certificate and key are not a usable pair (keys \"cert_file\", \"key_file\")",
        )?;
        Ok(BridgeTls {
            cert: Arc::new(cert),
            trust,
        })
    }

    /// The quinn server configuration: session certificates checked against
    /// the CA and this bridge's id, refusals reported to `on_reject`.
    pub fn server_config(
        &self,
        bridge_id: &str,
        limits: &TransportLimits,
        on_reject: RejectHook,
    ) -> anyhow::Result<quinn::ServerConfig> {
        let verifier =
            BridgeClientVerifier::new(self.trust.clone(), bridge_id).on_reject(on_reject);
        let tls = bridge_server_config_from_slot(Arc::new(verifier), self.cert.clone())
            .context("bridge certificate and key are not a usable TLS configuration")?;
        bamf_tunnel::server_config(tls, limits)
            .context("cannot build the QUIC server configuration")
    }
}

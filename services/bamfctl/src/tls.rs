//! The rustls client configuration handed to reqwest: the *ring* provider
//! (the workspace builds rustls without aws-lc) and the platform's trusted
//! roots, which `rustls-native-certs` reads (honouring `SSL_CERT_FILE` and
//! `SSL_CERT_DIR`).

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use rustls::{ClientConfig, RootCertStore};

/// reqwest is built without HTTP/2, so offer HTTP/1.1 only.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// A client configuration. `load_roots` is false for plain-http API URLs, which
/// never use TLS, so a local stack does not pay for reading the system store.
pub fn client_config(load_roots: bool) -> Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    if load_roots {
        let found = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let why = found
                .errors
                .first()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            bail!(
                "no trusted root certificates found on this system{why}; \
                 set SSL_CERT_FILE to a PEM bundle"
            );
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("cannot set up TLS with the ring provider")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_http_config_needs_no_system_roots() {
        let config = client_config(false).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}

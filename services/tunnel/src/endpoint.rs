//! quinn configurations for bamf: TLS 1.3 from `bamf-pki` (mutual, session
//! certificates, the bridge verifiers) with ALPN `bamf/1`, plus the transport
//! limits every side agrees on.

use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, TransportConfig, VarInt};

use crate::protocol::ALPN;

/// Transport limits of a bamf QUIC connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportLimits {
    /// A connection with no traffic (keep-alives included) for this long is closed.
    pub idle_timeout: Duration,
    /// Keep-alive ping interval (well under the idle timeout, and under NAT timeouts).
    pub keep_alive: Duration,
    /// Most concurrent bidirectional streams (TCP connections) per session.
    pub max_streams: u32,
}

impl Default for TransportLimits {
    fn default() -> Self {
        TransportLimits {
            idle_timeout: Duration::from_secs(60),
            keep_alive: Duration::from_secs(15),
            max_streams: 256,
        }
    }
}

/// Why a configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EndpointConfigError {
    #[error("TLS configuration is not usable for QUIC (it must allow TLS 1.3)")]
    Tls(#[source] quinn::crypto::rustls::NoInitialCipherSuite),
    #[error("idle timeout {0:?} is too large for QUIC")]
    IdleTimeout(Duration),
}

fn transport(limits: &TransportLimits) -> Result<Arc<TransportConfig>, EndpointConfigError> {
    let mut t = TransportConfig::default();
    t.max_idle_timeout(Some(
        IdleTimeout::try_from(limits.idle_timeout)
            .map_err(|_| EndpointConfigError::IdleTimeout(limits.idle_timeout))?,
    ));
    t.keep_alive_interval(Some(limits.keep_alive));
    t.max_concurrent_bidi_streams(VarInt::from_u32(limits.max_streams));
    // bamf never uses unidirectional streams: refuse them.
    t.max_concurrent_uni_streams(VarInt::from_u32(0));
    Ok(Arc::new(t))
}

/// The bridge's server configuration from its rustls configuration
/// (`bamf_pki::bridge_server_config`).
pub fn server_config(
    mut tls: rustls::ServerConfig,
    limits: &TransportLimits,
) -> Result<quinn::ServerConfig, EndpointConfigError> {
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = QuicServerConfig::try_from(tls).map_err(EndpointConfigError::Tls)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport(limits)?);
    Ok(config)
}

/// A CLI's or agent's client configuration from its rustls configuration
/// (`bamf_pki::bridge_client_config`).
pub fn client_config(
    mut tls: rustls::ClientConfig,
    limits: &TransportLimits,
) -> Result<quinn::ClientConfig, EndpointConfigError> {
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = QuicClientConfig::try_from(tls).map_err(EndpointConfigError::Tls)?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport(limits)?);
    Ok(config)
}

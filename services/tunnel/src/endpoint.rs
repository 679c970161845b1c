//! quinn configurations for bamf: TLS 1.3 from `bamf-pki` (mutual, session
//! certificates, the bridge verifiers) with ALPN `bamf/1`, plus the transport
//! limits every side agrees on.
//!
//! **Stream credit.** quinn sets aside state for every stream a peer may
//! open, at once, so a bridge that let each connection open
//! `max_streams_per_session` streams from the start paid for them on every
//! idle session. The bridge's connections start with
//! [`INITIAL_STREAM_CREDIT`], and [`StreamCredit`] raises a client's as it
//! uses them.

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

/// Concurrent streams a bridge connection may open before the bridge raises
/// the limit ([`StreamCredit`]).
pub const INITIAL_STREAM_CREDIT: u32 = 16;

/// The stream limit the bridge grants a client connection: it starts at
/// [`INITIAL_STREAM_CREDIT`] and doubles whenever three quarters of it are in
/// use, up to the session's `max_streams`. Growing costs nothing on the
/// stream being opened: the new limit reaches the client while it still has
/// a quarter of the old one to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamCredit {
    granted: u32,
    max: u32,
}

impl StreamCredit {
    /// The credit of a new connection whose limit is `max`.
    pub fn new(max: u32) -> Self {
        StreamCredit {
            granted: INITIAL_STREAM_CREDIT.min(max),
            max,
        }
    }

    /// The limit granted so far.
    pub fn granted(&self) -> u32 {
        self.granted
    }

    /// With `open` streams open: the new limit to grant, if it should grow.
    pub fn grow(&mut self, open: usize) -> Option<u32> {
        let open = u64::try_from(open).unwrap_or(u64::MAX);
        if self.granted >= self.max || open.saturating_mul(4) < u64::from(self.granted) * 3 {
            return None;
        }
        self.granted = self.granted.saturating_mul(2).min(self.max);
        Some(self.granted)
    }

    /// [`StreamCredit::grow`], applied to `conn`.
    pub fn update(&mut self, conn: &quinn::Connection, open: usize) {
        if let Some(limit) = self.grow(open) {
            conn.set_max_concurrent_bi_streams(VarInt::from_u32(limit));
        }
    }
}

fn transport(
    limits: &TransportLimits,
    initial_streams: u32,
) -> Result<Arc<TransportConfig>, EndpointConfigError> {
    let mut t = TransportConfig::default();
    t.max_idle_timeout(Some(
        IdleTimeout::try_from(limits.idle_timeout)
            .map_err(|_| EndpointConfigError::IdleTimeout(limits.idle_timeout))?,
    ));
    t.keep_alive_interval(Some(limits.keep_alive));
    t.max_concurrent_bidi_streams(VarInt::from_u32(initial_streams));
    // bamf never uses unidirectional streams: refuse them.
    t.max_concurrent_uni_streams(VarInt::from_u32(0));
    Ok(Arc::new(t))
}

/// The bridge's server configuration from its rustls configuration
/// (`bamf_pki::bridge_server_config`). Connections start with
/// [`INITIAL_STREAM_CREDIT`] streams (at most `limits.max_streams`); the
/// bridge raises a client's with [`StreamCredit`].
pub fn server_config(
    mut tls: rustls::ServerConfig,
    limits: &TransportLimits,
) -> Result<quinn::ServerConfig, EndpointConfigError> {
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = QuicServerConfig::try_from(tls).map_err(EndpointConfigError::Tls)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let initial = INITIAL_STREAM_CREDIT.min(limits.max_streams);
    config.transport_config(transport(limits, initial)?);
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
    config.transport_config(transport(limits, limits.max_streams)?);
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_doubles_at_three_quarters_up_to_the_limit() {
        let mut credit = StreamCredit::new(100);
        assert_eq!(credit.granted(), 16);
        assert_eq!(credit.grow(11), None);
        assert_eq!(credit.grow(12), Some(32));
        assert_eq!(credit.grow(12), None);
        assert_eq!(credit.grow(24), Some(64));
        assert_eq!(credit.grow(48), Some(100));
        assert_eq!(credit.grow(100), None);
        assert_eq!(credit.granted(), 100);
    }

    #[test]
    fn a_limit_below_the_initial_credit_is_the_credit() {
        let mut credit = StreamCredit::new(4);
        assert_eq!(credit.granted(), 4);
        assert_eq!(credit.grow(4), None);
    }
}

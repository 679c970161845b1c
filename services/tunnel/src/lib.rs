//! bamf-tunnel: what the CLI, the bridge and the agent share on the tunnel
//! path (ARCHITECTURE §4).
//!
//! - [`protocol`]: the small `bamf/1` wire protocol — the ALPN, the header that
//!   opens every QUIC stream, the connection close codes, and their limits.
//! - [`endpoint`]: quinn client and server configurations built from the rustls
//!   configurations of `bamf-pki` (session certificates, the bridge verifiers),
//!   with bamf's transport limits.
//! - [`splice`]: copying a QUIC stream to and from another byte stream (a
//!   second QUIC stream on the bridge, a TCP connection at the ends) with
//!   back-pressure, half-close and byte counts.

pub mod endpoint;
pub mod protocol;
pub mod splice;

pub use endpoint::{
    client_config, server_config, StreamCredit, TransportLimits, INITIAL_STREAM_CREDIT,
};
pub use protocol::{CloseCode, StreamHeader, StreamKind, ALPN};
pub use splice::{splice, Spliced};

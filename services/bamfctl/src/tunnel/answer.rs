//! The answer of `POST /api/v1/connect` (docs/api.md, "Tunnels").

use serde::{Deserialize, Serialize};

/// What the API granted: the session, where its bridge is and how to prove
/// who we are to it. Unknown fields are ignored so a newer API still works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectAnswer {
    pub session_id: String,
    pub resource: String,
    pub resource_type: String,
    pub bridge_id: String,
    /// `host:port` of the bridge's QUIC listener.
    pub bridge_addr: String,
    /// The TLS server name to use towards the bridge.
    pub bridge_server_name: String,
    /// The client session certificate (PEM), for the key whose CSR was sent.
    pub certificate: String,
    /// The bamf CA (PEM) that signed the bridge's certificate.
    pub ca_certificate: String,
    /// Until when the certificate may be used to connect (RFC 3339).
    pub expires_at: String,
}

//! What the API, the bridges and the agents tell each other about tunnels
//! outside the event log (ARCHITECTURE §2 commands and heartbeats, §4):
//! the `dial` command to an agent and its two-step answer, the `drain` and
//! `kill` commands to a bridge, and a bridge's heartbeat. Every type refuses
//! unknown fields, so a malformed message is a specific decode error.

use serde::{Deserialize, Serialize};

use crate::{AggregateId, Timestamp};

/// `bamf.cmd.agent.<id>.dial`: connect a session to a bridge. The agent answers
/// with a [`DialCsr`] (as a request of its own), and the API completes it with
/// a [`DialCert`]; the agent then opens its QUIC connection to the bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialCommand {
    pub session_id: AggregateId,
    /// The resource's name, as the agent's own configuration names it.
    pub resource: String,
    pub bridge_id: AggregateId,
    /// Where the bridge listens for QUIC (`host:port`).
    pub bridge_addr: String,
    /// The name to verify the bridge by (one of its certificate's DNS names).
    pub bridge_server_name: String,
}

/// The agent's first answer to [`DialCommand`]: a CSR for a fresh key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialCsr {
    /// PEM certificate signing request.
    pub csr: String,
}

/// The API's completion of a dial: the agent-side session certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialCert {
    /// PEM session certificate (side agent, 30 s to connect).
    pub certificate: String,
    /// PEM CA certificate (to verify the bridge).
    pub ca_certificate: String,
}

/// `bamf.cmd.bridge.<id>.drain` and `.kill` need no body but a session id for kill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillCommand {
    pub session_id: AggregateId,
}

/// A bridge's heartbeat on `bamf.hb.bridge.<bridge_id>` (with a TTL, like an
/// agent's): where it listens and how loaded it is, so the API can pick the
/// least-loaded live bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeHeartbeat {
    pub bridge_id: AggregateId,
    pub sent_at: Timestamp,
    /// QUIC address clients and agents dial (`host:port`).
    pub address: String,
    /// DNS name in the bridge's certificate to verify it by.
    pub server_name: String,
    /// Paired sessions now.
    pub sessions: u32,
    /// Sessions waiting for their other side.
    pub pending: u32,
    /// A draining bridge takes no new sessions.
    pub draining: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<DialCsr>(r#"{"csr":"x","key":"y"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}

//! Bridge heartbeats on `BAMF_HEARTBEATS`, subject `bamf.hb.bridge.<bridge_id>`,
//! with a per-message TTL like an agent's (see [`crate::heartbeat`]): the last
//! heartbeat per subject is kept, and the server leaves a delete marker when a
//! bridge stops publishing. This module only publishes.

use std::time::Duration;

use async_nats::header::{self, HeaderMap};
use async_nats::jetstream::{self, context::PublishErrorKind};
use bamf_domain::tunnel::BridgeHeartbeat;
use bamf_domain::AggregateId;

use crate::heartbeat::MIN_TTL;
use crate::streams::HEARTBEATS_STREAM;

/// Subjects of bridge heartbeats: `bamf.hb.bridge.<bridge_id>`.
pub const BRIDGE_HEARTBEAT_PREFIX: &str = "bamf.hb.bridge";

/// The subject of `bridge_id`'s heartbeats.
pub fn bridge_heartbeat_subject(bridge_id: &AggregateId) -> String {
    format!("{BRIDGE_HEARTBEAT_PREFIX}.{bridge_id}")
}

/// Why a bridge heartbeat was not published.
#[derive(Debug, thiserror::Error)]
pub enum BridgeHeartbeatError {
    /// Below [`MIN_TTL`]; nothing was sent.
    #[error("heartbeat TTL {0:?} is shorter than the server's minimum of 1s")]
    TtlTooShort(Duration),
    /// The publish could not be sent (connection, no stream for the subject).
    #[error("cannot publish bridge heartbeat to BAMF_HEARTBEATS")]
    Publish(#[source] async_nats::Error),
    /// No ack in time; the heartbeat may or may not be stored.
    #[error("no ack for the bridge heartbeat from BAMF_HEARTBEATS in time")]
    TimedOut,
}

/// Publishes `heartbeat` on its bridge's subject with `ttl` (whole seconds,
/// at least [`MIN_TTL`]) and awaits the ack. Returns the stream sequence.
pub async fn publish_bridge_heartbeat(
    js: &jetstream::Context,
    heartbeat: &BridgeHeartbeat,
    ttl: Duration,
) -> Result<u64, BridgeHeartbeatError> {
    if ttl < MIN_TTL {
        return Err(BridgeHeartbeatError::TtlTooShort(ttl));
    }
    let payload = serde_json::to_vec(heartbeat).expect("a bridge heartbeat is plain data");
    let mut headers = HeaderMap::new();
    headers.insert(header::NATS_MESSAGE_TTL, format!("{}s", ttl.as_secs()));
    headers.insert(header::NATS_EXPECTED_STREAM, HEARTBEATS_STREAM);
    let ack = js
        .publish_with_headers(
            bridge_heartbeat_subject(&heartbeat.bridge_id),
            headers,
            payload.into(),
        )
        .await
        .map_err(|e| BridgeHeartbeatError::Publish(e.into()))?;
    match ack.await {
        Ok(ack) => Ok(ack.sequence),
        Err(e) if e.kind() == PublishErrorKind::TimedOut => Err(BridgeHeartbeatError::TimedOut),
        Err(e) => Err(BridgeHeartbeatError::Publish(e.into())),
    }
}

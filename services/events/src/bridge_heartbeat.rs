//! Bridge heartbeats on `BAMF_HEARTBEATS`, subject `bamf.hb.bridge.<bridge_id>`,
//! with a per-message TTL like an agent's (see [`crate::heartbeat`]): the last
//! heartbeat per subject is kept, and the server leaves a delete marker when a
//! bridge stops publishing. This module publishes them, and decodes them for
//! a follower ([`BridgeHeartbeatFeed`]: the current beat of every bridge, then
//! live updates and delete markers).

use std::time::Duration;

use async_nats::header::{self, HeaderMap};
use async_nats::jetstream::{self, consumer, context::PublishErrorKind};
use bamf_domain::tunnel::BridgeHeartbeat;
use bamf_domain::{AggregateId, Timestamp};
use futures::StreamExt;

use crate::feed::FeedError;
use crate::heartbeat::{decode_beat, Decoded, Shape, MIN_TTL};
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

/// Largest bridge heartbeat payload accepted (a few short fields).
pub const MAX_BRIDGE_HEARTBEAT_BYTES: usize = 4 * 1024;

/// One message of the bridge heartbeat feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeHeartbeatItem {
    /// A bridge's current heartbeat.
    Beat {
        bridge_id: AggregateId,
        heartbeat: BridgeHeartbeat,
        /// When the stream stored it.
        received_at: Timestamp,
        /// `received_at` + the TTL it carried (the feed's fallback TTL when it
        /// carried none, or `never`).
        expires_at: Timestamp,
    },
    /// The bridge's heartbeat is gone (TTL ran out, or purged).
    Gone {
        bridge_id: AggregateId,
        reason: String,
    },
    /// A message that is not a bridge heartbeat; skipped, the feed goes on.
    Invalid { subject: String, reason: String },
}

/// Decodes one message of `bamf.hb.bridge.>` (also used by tests). Never
/// fails: bad input is [`BridgeHeartbeatItem::Invalid`].
pub fn decode_bridge_heartbeat(
    subject: &str,
    headers: Option<&HeaderMap>,
    payload: &[u8],
    received_at: Timestamp,
    fallback_ttl: Duration,
) -> BridgeHeartbeatItem {
    let shape = Shape {
        prefix: BRIDGE_HEARTBEAT_PREFIX,
        kind: "bridge",
        max_bytes: MAX_BRIDGE_HEARTBEAT_BYTES,
    };
    match decode_beat(
        &shape,
        subject,
        headers,
        payload,
        received_at,
        fallback_ttl,
        |h: &BridgeHeartbeat| &h.bridge_id,
    ) {
        Decoded::Beat {
            id,
            beat,
            expires_at,
        } => BridgeHeartbeatItem::Beat {
            bridge_id: id,
            heartbeat: beat,
            received_at,
            expires_at,
        },
        Decoded::Gone { id, reason } => BridgeHeartbeatItem::Gone {
            bridge_id: id,
            reason,
        },
        Decoded::Invalid(reason) => BridgeHeartbeatItem::Invalid {
            subject: subject.to_string(),
            reason,
        },
    }
}

/// The current heartbeat of every bridge, then live updates, from an ordered
/// consumer — the bridge half of [`crate::heartbeat::HeartbeatFeed`].
pub struct BridgeHeartbeatFeed {
    messages: consumer::pull::Ordered,
    fallback_ttl: Duration,
}

impl BridgeHeartbeatFeed {
    /// Opens the feed. `fallback_ttl` bounds the liveness of a heartbeat that
    /// carried no usable `Nats-TTL`.
    pub async fn open(
        js: &jetstream::Context,
        fallback_ttl: Duration,
    ) -> Result<BridgeHeartbeatFeed, FeedError> {
        let messages = crate::feed::ordered(
            js,
            HEARTBEATS_STREAM,
            &format!("{BRIDGE_HEARTBEAT_PREFIX}.>"),
            consumer::DeliverPolicy::LastPerSubject,
        )
        .await?;
        Ok(BridgeHeartbeatFeed {
            messages,
            fallback_ttl,
        })
    }

    /// The next item; waits for one. `None` only if the consumer ends.
    pub async fn next(&mut self) -> Option<Result<BridgeHeartbeatItem, FeedError>> {
        let read_err = |source: async_nats::Error| FeedError::Read {
            stream: HEARTBEATS_STREAM.to_string(),
            source,
        };
        let msg = match self.messages.next().await? {
            Ok(m) => m,
            Err(e) => return Some(Err(read_err(e.into()))),
        };
        let received_at = match msg.info() {
            Ok(info) => Timestamp::new(info.published),
            Err(e) => return Some(Err(read_err(e))),
        };
        let msg = msg.message;
        Some(Ok(decode_bridge_heartbeat(
            msg.subject.as_str(),
            msg.headers.as_ref(),
            &msg.payload,
            received_at,
            self.fallback_ttl,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000_000;

    fn beat(id: &str) -> Vec<u8> {
        serde_json::to_vec(&BridgeHeartbeat {
            bridge_id: AggregateId::new(id).unwrap(),
            sent_at: Timestamp::from_unix_micros(T0),
            address: "127.0.0.1:4433".into(),
            server_name: "bridge.local".into(),
            sessions: 1,
            pending: 0,
            draining: false,
        })
        .unwrap()
    }

    #[test]
    fn beats_markers_and_bad_input_are_told_apart() {
        let at = Timestamp::from_unix_micros(T0);
        let fallback = Duration::from_secs(30);
        let mut ttl = HeaderMap::new();
        ttl.insert(header::NATS_MESSAGE_TTL, "5s");
        match decode_bridge_heartbeat("bamf.hb.bridge.b1", Some(&ttl), &beat("b1"), at, fallback) {
            BridgeHeartbeatItem::Beat { expires_at, .. } => {
                assert_eq!(expires_at, Timestamp::from_unix_micros(T0 + 5_000_000))
            }
            other => panic!("{other:?}"),
        }
        // No TTL: the fallback bounds it.
        match decode_bridge_heartbeat("bamf.hb.bridge.b1", None, &beat("b1"), at, fallback) {
            BridgeHeartbeatItem::Beat { expires_at, .. } => {
                assert_eq!(expires_at, Timestamp::from_unix_micros(T0 + 30_000_000))
            }
            other => panic!("{other:?}"),
        }
        let mut marker = HeaderMap::new();
        marker.insert(header::NATS_MARKER_REASON, "MaxAge");
        assert!(matches!(
            decode_bridge_heartbeat("bamf.hb.bridge.b1", Some(&marker), b"", at, fallback),
            BridgeHeartbeatItem::Gone { reason, .. } if reason == "MaxAge"
        ));
        for (subject, payload) in [
            ("bamf.hb.bridge.b2", beat("b1")),
            ("bamf.hb.bridge.b1.x", beat("b1")),
            ("bamf.hb.bridge.b1", b"{}".to_vec()),
            ("bamf.hb.bridge.b1", Vec::new()),
        ] {
            assert!(
                matches!(
                    decode_bridge_heartbeat(subject, None, &payload, at, fallback),
                    BridgeHeartbeatItem::Invalid { .. }
                ),
                "{subject}"
            );
        }
    }
}

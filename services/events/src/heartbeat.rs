//! Agent heartbeats on `BAMF_HEARTBEATS`, subject `bamf.hb.agent.<agent_id>`.
//!
//! The stream keeps the last message per subject, and each heartbeat carries
//! its own TTL (`Nats-TTL`). When an agent stops publishing, the server removes
//! its last heartbeat at expiry and leaves a subject delete marker (empty
//! payload, `Nats-Marker-Reason`) in its place. So a replica following the
//! stream learns an agent went offline from the marker, with no polling and no
//! clock of its own; and a replica that starts later first gets the current
//! heartbeat (or marker) of every agent — [`DeliverPolicy::LastPerSubject`] —
//! then live updates.
//!
//! This module only encodes and decodes. Whether a heartbeat's resources are
//! valid, whether it is stale and who may see what is decided by
//! `bamf_domain::control::heartbeats`. Bad input on the stream becomes
//! [`HeartbeatItem::Invalid`], never an error: one misbehaving agent must not
//! stop the feed every replica depends on.
//!
//! [`DeliverPolicy::LastPerSubject`]: consumer::DeliverPolicy::LastPerSubject

use std::time::Duration;

use async_nats::header::{self, HeaderMap};
use async_nats::jetstream::{self, consumer, context::PublishErrorKind};
use bamf_domain::control::catalog::{self, AgentHeartbeat};
use bamf_domain::{AggregateId, Timestamp};
use futures::StreamExt;
use time::PrimitiveDateTime;

use crate::feed::FeedError;
use crate::streams::HEARTBEATS_STREAM;

/// Subjects of agent heartbeats: `bamf.hb.agent.<agent_id>`.
pub const AGENT_HEARTBEAT_PREFIX: &str = "bamf.hb.agent";
/// The shortest TTL the server accepts on a message.
pub const MIN_TTL: Duration = Duration::from_secs(1);
/// Largest heartbeat payload accepted, well under the stream's 1 MiB
/// `max_msg_size`; a full catalog of short names and labels fits easily.
pub const MAX_HEARTBEAT_BYTES: usize = 512 * 1024;

/// The subject of `agent_id`'s heartbeats.
pub fn agent_heartbeat_subject(agent_id: &AggregateId) -> String {
    format!("{AGENT_HEARTBEAT_PREFIX}.{agent_id}")
}

/// Why a heartbeat was not published.
#[derive(Debug, thiserror::Error)]
pub enum HeartbeatError {
    /// The advertised resources fail validation; nothing was sent.
    #[error("heartbeat of agent {agent_id} is invalid")]
    Invalid {
        agent_id: AggregateId,
        #[source]
        source: catalog::HeartbeatError,
    },
    /// Below [`MIN_TTL`]; nothing was sent.
    #[error("heartbeat TTL {0:?} is shorter than the server's minimum of 1s")]
    TtlTooShort(Duration),
    /// Larger than [`MAX_HEARTBEAT_BYTES`]; nothing was sent.
    #[error("heartbeat of agent {agent_id} is {size} bytes (at most {MAX_HEARTBEAT_BYTES})")]
    TooLarge { agent_id: AggregateId, size: usize },
    /// Serialising the heartbeat failed.
    #[error("cannot encode heartbeat of agent {agent_id}")]
    Encode {
        agent_id: AggregateId,
        #[source]
        source: serde_json::Error,
    },
    /// The publish could not be sent (connection, no stream for the subject).
    #[error("cannot publish heartbeat to BAMF_HEARTBEATS")]
    Publish(#[source] async_nats::Error),
    /// No ack in time; the heartbeat may or may not be stored.
    #[error("no ack for the heartbeat from BAMF_HEARTBEATS in time")]
    TimedOut,
    /// The server refused it (e.g. the stream does not allow per-message TTLs).
    #[error("BAMF_HEARTBEATS refused the heartbeat: {description} (code {code})")]
    Rejected { code: u64, description: String },
}

/// Publishes `heartbeat` on its agent's subject with `ttl` (whole seconds,
/// at least [`MIN_TTL`]) and awaits the ack. Returns the stream sequence.
pub async fn publish_heartbeat(
    js: &jetstream::Context,
    heartbeat: &AgentHeartbeat,
    ttl: Duration,
) -> Result<u64, HeartbeatError> {
    let agent_id = &heartbeat.agent_id;
    if ttl < MIN_TTL {
        return Err(HeartbeatError::TtlTooShort(ttl));
    }
    heartbeat
        .validate()
        .map_err(|source| HeartbeatError::Invalid {
            agent_id: agent_id.clone(),
            source,
        })?;
    let payload = serde_json::to_vec(heartbeat).map_err(|source| HeartbeatError::Encode {
        agent_id: agent_id.clone(),
        source,
    })?;
    if payload.len() > MAX_HEARTBEAT_BYTES {
        return Err(HeartbeatError::TooLarge {
            agent_id: agent_id.clone(),
            size: payload.len(),
        });
    }
    let mut headers = HeaderMap::new();
    headers.insert(header::NATS_MESSAGE_TTL, format!("{}s", ttl.as_secs()));
    headers.insert(header::NATS_EXPECTED_STREAM, HEARTBEATS_STREAM);
    let ack = js
        .publish_with_headers(agent_heartbeat_subject(agent_id), headers, payload.into())
        .await
        .map_err(|e| HeartbeatError::Publish(e.into()))?;
    match ack.await {
        Ok(ack) => Ok(ack.sequence),
        Err(e) if e.kind() == PublishErrorKind::TimedOut => Err(HeartbeatError::TimedOut),
        Err(e) => {
            let server =
                std::error::Error::source(&e).and_then(|s| s.downcast_ref::<jetstream::Error>());
            Err(match server {
                Some(err) => HeartbeatError::Rejected {
                    code: err.error_code().0,
                    description: err.to_string(),
                },
                None => HeartbeatError::Publish(e.into()),
            })
        }
    }
}

/// What a `Nats-TTL` header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageTtl {
    /// Expires this long after the stream stored it.
    After(Duration),
    /// `never`: the server keeps it until it is replaced.
    Never,
}

/// Parses a `Nats-TTL` value as nats-server does: `never` (any case), a Go
/// duration (`30s`, `1m`, `5m0s`, `1.5h`; truncated to whole seconds), or an
/// integer number of seconds. `None` for anything else, and for zero or
/// sub-second values (the server treats those as no TTL, or refuses them).
pub fn parse_nats_ttl(value: &str) -> Option<MessageTtl> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("never") {
        return Some(MessageTtl::Never);
    }
    let secs = match value.parse::<u64>() {
        Ok(secs) => secs,
        Err(_) => parse_go_duration(value)?.as_secs(),
    };
    (secs > 0).then_some(MessageTtl::After(Duration::from_secs(secs)))
}

/// A Go `time.ParseDuration` string without a sign: one or more
/// `<decimal><unit>` with units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`.
fn parse_go_duration(mut text: &str) -> Option<Duration> {
    text = text.strip_prefix('+').unwrap_or(text);
    if text.is_empty() {
        return None;
    }
    let mut secs = 0f64;
    while !text.is_empty() {
        let number_len = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, rest) = text.split_at(number_len);
        if number.is_empty() || number == "." {
            return None;
        }
        let number: f64 = number.parse().ok()?;
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let (unit, rest) = rest.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        secs += number * scale;
        text = rest;
    }
    Duration::try_from_secs_f64(secs).ok()
}

/// One message of the heartbeat feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatItem {
    /// An agent's current heartbeat (decoded, not yet validated).
    Beat {
        agent_id: AggregateId,
        heartbeat: AgentHeartbeat,
        /// When the stream stored it.
        received_at: Timestamp,
        /// `received_at` + the TTL it carried (the feed's fallback TTL when it
        /// carried none, or `never`).
        expires_at: Timestamp,
    },
    /// The agent's heartbeat is gone: its TTL ran out (`MaxAge`) or the
    /// subject was purged or removed.
    Gone {
        agent_id: AggregateId,
        /// The `Nats-Marker-Reason` of the delete marker.
        reason: String,
    },
    /// A message that is not a heartbeat; skipped, the feed goes on.
    Invalid { subject: String, reason: String },
}

/// Decodes one message of the stream (also used by tests). Never fails: bad
/// input is [`HeartbeatItem::Invalid`].
pub fn decode_heartbeat(
    subject: &str,
    headers: Option<&HeaderMap>,
    payload: &[u8],
    received_at: Timestamp,
    fallback_ttl: Duration,
) -> HeartbeatItem {
    let shape = Shape {
        prefix: AGENT_HEARTBEAT_PREFIX,
        kind: "agent",
        max_bytes: MAX_HEARTBEAT_BYTES,
    };
    match decode_beat(
        &shape,
        subject,
        headers,
        payload,
        received_at,
        fallback_ttl,
        |h: &AgentHeartbeat| &h.agent_id,
    ) {
        Decoded::Beat {
            id,
            beat,
            expires_at,
        } => HeartbeatItem::Beat {
            agent_id: id,
            heartbeat: beat,
            received_at,
            expires_at,
        },
        Decoded::Gone { id, reason } => HeartbeatItem::Gone {
            agent_id: id,
            reason,
        },
        Decoded::Invalid(reason) => HeartbeatItem::Invalid {
            subject: subject.to_string(),
            reason,
        },
    }
}

/// Where one kind of heartbeat lives and how large it may be.
pub(crate) struct Shape {
    /// Subject prefix, e.g. `bamf.hb.agent`.
    pub prefix: &'static str,
    /// What the id names, for messages (`agent`, `bridge`).
    pub kind: &'static str,
    pub max_bytes: usize,
}

/// A decoded heartbeat message of any kind.
pub(crate) enum Decoded<T> {
    Beat {
        id: AggregateId,
        beat: T,
        expires_at: Timestamp,
    },
    Gone {
        id: AggregateId,
        reason: String,
    },
    Invalid(String),
}

/// The one decoder behind every heartbeat kind: the id from the subject, a
/// delete marker, the payload (bounded, strict, naming the same id), and the
/// expiry from `Nats-TTL` (bounded by `fallback_ttl` when it has none).
pub(crate) fn decode_beat<T: serde::de::DeserializeOwned>(
    shape: &Shape,
    subject: &str,
    headers: Option<&HeaderMap>,
    payload: &[u8],
    received_at: Timestamp,
    fallback_ttl: Duration,
    id_of: impl Fn(&T) -> &AggregateId,
) -> Decoded<T> {
    let kind = shape.kind;
    let token = subject
        .strip_prefix(shape.prefix)
        .and_then(|rest| rest.strip_prefix('.'))
        .unwrap_or_default();
    if token.contains('.') {
        return Decoded::Invalid(format!("subject has tokens after the {kind} id"));
    }
    let id = match AggregateId::new(token) {
        Ok(id) => id,
        Err(e) => {
            return Decoded::Invalid(format!("subject does not end in a valid {kind} id: {e}"))
        }
    };
    let header_value = |name| headers.and_then(|h| h.get(name)).map(|v| v.as_str());
    if let Some(reason) = header_value(header::NATS_MARKER_REASON) {
        return Decoded::Gone {
            id,
            reason: reason.to_string(),
        };
    }
    if payload.is_empty() {
        return Decoded::Invalid("empty payload and no delete marker reason".into());
    }
    if payload.len() > shape.max_bytes {
        return Decoded::Invalid(format!(
            "payload is {} bytes (at most {})",
            payload.len(),
            shape.max_bytes
        ));
    }
    let beat: T = match serde_json::from_slice(payload) {
        Ok(h) => h,
        Err(e) => return Decoded::Invalid(format!("payload is not a heartbeat ({kind}): {e}")),
    };
    if *id_of(&beat) != id {
        return Decoded::Invalid(format!(
            "payload {kind}_id {} does not match the subject's {id}",
            id_of(&beat)
        ));
    }
    let ttl = match header_value(header::NATS_MESSAGE_TTL).and_then(parse_nats_ttl) {
        Some(MessageTtl::After(ttl)) => ttl,
        // A beat that never expires would keep a dead peer online: bound it.
        Some(MessageTtl::Never) | None => fallback_ttl,
    };
    Decoded::Beat {
        id,
        beat,
        expires_at: add(received_at, ttl),
    }
}

/// `at + ttl`, saturating at the largest representable instant.
fn add(at: Timestamp, ttl: Duration) -> Timestamp {
    let later = time::Duration::try_from(ttl)
        .ok()
        .and_then(|d| at.get().checked_add(d))
        .unwrap_or_else(|| PrimitiveDateTime::MAX.assume_utc());
    Timestamp::new(later)
}

/// The current heartbeat of every agent, then live updates, from an ordered
/// consumer (ephemeral, no acks, recreated by the client on a gap).
pub struct HeartbeatFeed {
    messages: consumer::pull::Ordered,
    fallback_ttl: Duration,
    pending: u64,
}

impl HeartbeatFeed {
    /// Opens the feed. `fallback_ttl` bounds the liveness of a heartbeat that
    /// carried no usable `Nats-TTL` (the server would keep it forever).
    pub async fn open(
        js: &jetstream::Context,
        fallback_ttl: Duration,
    ) -> Result<HeartbeatFeed, FeedError> {
        let messages = crate::feed::ordered(
            js,
            HEARTBEATS_STREAM,
            &format!("{AGENT_HEARTBEAT_PREFIX}.>"),
            consumer::DeliverPolicy::LastPerSubject,
        )
        .await?;
        Ok(HeartbeatFeed {
            messages,
            fallback_ttl,
            pending: 0,
        })
    }

    /// The next item; waits for one to arrive. `None` only if the underlying
    /// consumer ends.
    pub async fn next(&mut self) -> Option<Result<HeartbeatItem, FeedError>> {
        let msg = match self.messages.next().await? {
            Ok(m) => m,
            Err(e) => return Some(Err(read_err(e.into()))),
        };
        let (received_at, pending) = match msg.info() {
            Ok(info) => (Timestamp::new(info.published), info.pending),
            Err(e) => return Some(Err(read_err(e))),
        };
        self.pending = pending;
        let msg = msg.message;
        Some(Ok(decode_heartbeat(
            msg.subject.as_str(),
            msg.headers.as_ref(),
            &msg.payload,
            received_at,
            self.fallback_ttl,
        )))
    }

    /// Messages the server had after the last one delivered: 0 once the
    /// current heartbeat of every agent has been read.
    pub fn pending(&self) -> u64 {
        self.pending
    }
}

fn read_err(source: async_nats::Error) -> FeedError {
    FeedError::Read {
        stream: HEARTBEATS_STREAM.to_string(),
        source,
    }
}

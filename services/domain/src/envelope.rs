//! The one JSON envelope of every event (ARCHITECTURE §2):
//! `{ id, type, version, time, actor, subject, request_id, trace, data }`.
//!
//! [`Envelope::encode`] validates before anything is sent; [`Envelope::decode`]
//! is strict (unknown fields, unknown `(type, version)`, bad data are errors),
//! which is how a projection recognises a poison message.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use ulid::Ulid;

use crate::events::{Event, EventDecodeError};
use crate::subject::{AggregateId, EventSubject};
use crate::Timestamp;

/// Longest `request_id` accepted.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Who caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    Agent,
    Bridge,
    /// bamf itself (start-up, expiry, projections).
    System,
}

impl ActorKind {
    /// The wire name (`user`, `agent`, `bridge`, `system`).
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Agent => "agent",
            ActorKind::Bridge => "bridge",
            ActorKind::System => "system",
        }
    }
}

/// The actor of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
}

impl Actor {
    /// bamf itself.
    pub fn system() -> Self {
        Actor {
            kind: ActorKind::System,
            id: "bamf".into(),
            email: None,
            ip: None,
        }
    }
}

/// The aggregate an event belongs to: `kind` is the type's aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectRef {
    pub kind: String,
    pub id: AggregateId,
}

/// One event with its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Unique id; also the `Nats-Msg-Id` used for de-duplication.
    pub id: Ulid,
    pub time: Timestamp,
    pub actor: Actor,
    /// Id of the aggregate; its kind is `event.aggregate()`.
    pub aggregate_id: AggregateId,
    pub request_id: Option<String>,
    /// W3C `traceparent`.
    pub trace: Option<String>,
    pub event: Event,
}

/// Why an envelope could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON, or not shaped like an envelope.
    #[error("not an event envelope")]
    NotAnEnvelope(#[source] serde_json::Error),
    /// The `(type, version)` is unknown or its data does not match its schema.
    #[error(transparent)]
    Event(#[from] EventDecodeError),
    /// `subject.kind` is not the aggregate of `type`.
    #[error("subject kind {kind:?} does not match event type {event_type:?}")]
    SubjectMismatch { kind: String, event_type: String },
    /// `trace` is not a W3C traceparent.
    #[error("trace {0:?} is not a W3C traceparent")]
    BadTrace(String),
    /// `request_id` is too long.
    #[error("request_id is {0} characters long (at most {MAX_REQUEST_ID_LEN})")]
    RequestIdTooLong(usize),
    /// `actor.id` is empty.
    #[error("actor id is empty")]
    EmptyActor,
}

impl EnvelopeError {
    /// A short, stable reason code for counters and parked records.
    pub fn reason_code(&self) -> &'static str {
        match self {
            EnvelopeError::NotAnEnvelope(_) => "not_an_envelope",
            EnvelopeError::Event(EventDecodeError::Unknown { .. }) => "unknown_type_or_version",
            EnvelopeError::Event(EventDecodeError::InvalidData { .. }) => "invalid_data",
            EnvelopeError::SubjectMismatch { .. } => "subject_mismatch",
            EnvelopeError::BadTrace(_) => "bad_trace",
            EnvelopeError::RequestIdTooLong(_) => "request_id_too_long",
            EnvelopeError::EmptyActor => "empty_actor",
        }
    }
}

#[derive(Serialize)]
struct WireOut<'a> {
    id: &'a Ulid,
    #[serde(rename = "type")]
    event_type: &'static str,
    version: u32,
    time: &'a Timestamp,
    actor: &'a Actor,
    subject: SubjectOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace: Option<&'a str>,
    data: DataOut<'a>,
}

#[derive(Serialize)]
struct SubjectOut<'a> {
    kind: &'static str,
    id: &'a AggregateId,
}

struct DataOut<'a>(&'a Event);

impl Serialize for DataOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_data(s)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireIn<'a> {
    id: Ulid,
    #[serde(rename = "type", borrow)]
    event_type: std::borrow::Cow<'a, str>,
    version: u32,
    time: Timestamp,
    actor: Actor,
    subject: SubjectRef,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    trace: Option<String>,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// The envelope's shape, for its JSON Schema (`schemas/envelope.json`): `data`
/// is described per type in `schemas/events/`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // only its schema is used
pub struct EnvelopeSchema {
    /// ULID; also the `Nats-Msg-Id`.
    #[schemars(regex(pattern = r"^[0-9A-HJKMNP-TV-Z]{26}$"))]
    id: String,
    /// Event type, `<aggregate>.<event>`.
    #[serde(rename = "type")]
    event_type: String,
    version: u32,
    time: Timestamp,
    actor: Actor,
    subject: SubjectRef,
    request_id: Option<String>,
    /// W3C traceparent.
    trace: Option<String>,
    /// Event data; its schema is `schemas/events/<type>.v<version>.json`.
    data: serde_json::Map<String, serde_json::Value>,
}

impl Envelope {
    /// A new envelope with a fresh id; time and ids are the caller's (no clock here).
    pub fn new(
        id: Ulid,
        time: Timestamp,
        actor: Actor,
        aggregate_id: AggregateId,
        event: Event,
    ) -> Self {
        Envelope {
            id,
            time,
            actor,
            aggregate_id,
            request_id: None,
            trace: None,
            event,
        }
    }

    /// `bamf.evt.<aggregate>.<id>.<event>`.
    pub fn subject(&self) -> EventSubject {
        EventSubject {
            aggregate: self.event.aggregate(),
            id: self.aggregate_id.clone(),
            event: self.event.name(),
        }
    }

    /// Checks what the types alone can't.
    pub fn validate(&self) -> Result<(), EnvelopeError> {
        if self.actor.id.is_empty() {
            return Err(EnvelopeError::EmptyActor);
        }
        if let Some(r) = &self.request_id {
            if r.len() > MAX_REQUEST_ID_LEN {
                return Err(EnvelopeError::RequestIdTooLong(r.len()));
            }
        }
        if let Some(t) = &self.trace {
            if !is_traceparent(t) {
                return Err(EnvelopeError::BadTrace(t.clone()));
            }
        }
        Ok(())
    }

    /// Validates and serializes to the wire JSON.
    pub fn encode(&self) -> Result<Vec<u8>, EnvelopeError> {
        self.validate()?;
        let wire = WireOut {
            id: &self.id,
            event_type: self.event.event_type(),
            version: self.event.version(),
            time: &self.time,
            actor: &self.actor,
            subject: SubjectOut {
                kind: self.event.aggregate(),
                id: &self.aggregate_id,
            },
            request_id: self.request_id.as_deref(),
            trace: self.trace.as_deref(),
            data: DataOut(&self.event),
        };
        serde_json::to_vec(&wire).map_err(EnvelopeError::NotAnEnvelope)
    }

    /// Strictly decodes wire JSON.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        let wire: WireIn<'_> =
            serde_json::from_slice(bytes).map_err(EnvelopeError::NotAnEnvelope)?;
        let event = Event::decode(&wire.event_type, wire.version, wire.data.get())?;
        if wire.subject.kind != event.aggregate() {
            return Err(EnvelopeError::SubjectMismatch {
                kind: wire.subject.kind,
                event_type: event.event_type().to_string(),
            });
        }
        let envelope = Envelope {
            id: wire.id,
            time: wire.time,
            actor: wire.actor,
            aggregate_id: wire.subject.id,
            request_id: wire.request_id,
            trace: wire.trace,
            event,
        };
        envelope.validate()?;
        Ok(envelope)
    }
}

/// `00-<32 hex>-<16 hex>-<2 hex>`.
fn is_traceparent(t: &str) -> bool {
    let parts: Vec<&str> = t.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    parts.len() == 4
        && hex(parts[0], 2)
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::*;

    fn sample() -> Envelope {
        Envelope::new(
            Ulid::from_parts(1_700_000_000_000, 7),
            Timestamp::from_unix_micros(1_700_000_000_123_456),
            Actor::system(),
            AggregateId::new("01jd0000000000000000000000").unwrap(),
            Event::SessionDenied(SessionDenied {
                reason: "no role allows it".into(),
            }),
        )
    }

    #[test]
    fn round_trips() {
        let mut e = sample();
        e.trace = Some(format!("00-{}-{}-01", "a".repeat(32), "b".repeat(16)));
        e.request_id = Some("req-1".into());
        let bytes = e.encode().unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(
            text.contains(r#""type":"session.denied","version":1"#),
            "{text}"
        );
        assert!(text.contains(r#""subject":{"kind":"session","id":"01jd0000000000000000000000"}"#));
        assert_eq!(Envelope::decode(&bytes).unwrap(), e);
        assert_eq!(
            e.subject().to_string(),
            "bamf.evt.session.01jd0000000000000000000000.denied"
        );
    }

    #[test]
    fn poison_is_classified() {
        let good = String::from_utf8(sample().encode().unwrap()).unwrap();
        let code = |s: &str| Envelope::decode(s.as_bytes()).unwrap_err().reason_code();
        assert_eq!(code("not json"), "not_an_envelope");
        assert_eq!(
            code(&good.replace(r#""version":1"#, r#""version":7"#)),
            "unknown_type_or_version"
        );
        assert_eq!(code(&good.replace("reason", "cause")), "invalid_data");
        assert_eq!(
            code(&good.replace(r#""kind":"session""#, r#""kind":"user""#)),
            "subject_mismatch"
        );
        assert_eq!(
            code(&good.replace(r#""id":"01jd"#, r#""id":"A.B"#)),
            "not_an_envelope"
        );
    }

    #[test]
    fn bad_metadata_is_refused_before_sending() {
        let mut e = sample();
        e.trace = Some("nope".into());
        assert!(matches!(e.encode(), Err(EnvelopeError::BadTrace(_))));
        let mut e = sample();
        e.actor.id.clear();
        assert!(matches!(e.encode(), Err(EnvelopeError::EmptyActor)));
    }
}

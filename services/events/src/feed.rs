//! A decoded, ordered read of a stream from a start sequence: the one way
//! projections (in memory here, in Postgres in `bamf-api`) consume the log.
//!
//! Built on an ordered pull consumer (ephemeral, no acks, recreated by the
//! client on a gap), so it is cheap and never misses or repeats a sequence.
//!
//! Each message is checked against the subjects its stream may hold: in
//! `BAMF_EVENTS` ([`decode`]) a domain event on its own
//! `bamf.evt.<aggregate>.<id>.<event>`; in `BAMF_AUDIT` ([`decode_audit`])
//! also an audit-only record on its `bamf.audit.<category>.<action>`.

use async_nats::jetstream::{self, consumer};
use bamf_domain::{Envelope, EnvelopeError};
use bytes::Bytes;
use futures::StreamExt;

use crate::audit::audit_subject;
use crate::streams::AUDIT_STREAM;

/// Errors opening or reading a feed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("cannot open an ordered consumer on {stream}")]
    Open {
        stream: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("cannot read from {stream}")]
    Read {
        stream: String,
        #[source]
        source: async_nats::Error,
    },
}

/// One message of the feed, decoded (or the reason it is poison).
#[derive(Debug)]
pub struct FeedItem {
    /// Stream sequence.
    pub seq: u64,
    pub subject: async_nats::Subject,
    /// Messages after this one at the time it was delivered.
    pub pending: u64,
    pub payload: Bytes,
    pub decoded: Result<Envelope, Poison>,
}

/// Why a message is poison.
#[derive(Debug, thiserror::Error)]
pub enum Poison {
    /// Not an envelope, unknown `(type, version)`, or data not matching its schema.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// A valid envelope on a subject other than its own.
    #[error("envelope belongs on {expected}, found on another subject")]
    WrongSubject { expected: String },
}

impl Poison {
    /// Short stable code for counters and parked records.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Poison::Envelope(e) => e.reason_code(),
            Poison::WrongSubject { .. } => "wrong_subject",
        }
    }
}

/// The feed.
pub struct Feed {
    stream_name: String,
    messages: consumer::pull::Ordered,
    /// How this stream's messages are decoded and checked.
    decode: fn(&str, &[u8]) -> Result<Envelope, Poison>,
}

/// Decodes one message of `BAMF_EVENTS` (also used by tests and the benchmark).
pub fn decode(subject: &str, payload: &[u8]) -> Result<Envelope, Poison> {
    let envelope = Envelope::decode(payload)?;
    domain_on_own_subject(subject, envelope)
}

/// Decodes one message of `BAMF_AUDIT`: an audit-only record must be on its
/// `bamf.audit.<category>.<action>` ([`audit_subject`]), a (sourced) domain
/// event on its `bamf.evt.<aggregate>.<id>.<event>`; anything else is poison.
pub fn decode_audit(subject: &str, payload: &[u8]) -> Result<Envelope, Poison> {
    let envelope = Envelope::decode(payload)?;
    if !envelope.event.is_audit_only() {
        return domain_on_own_subject(subject, envelope);
    }
    let expected = audit_subject(&envelope);
    if subject == expected {
        Ok(envelope)
    } else {
        Err(Poison::WrongSubject { expected })
    }
}

/// The decoder for the messages of `stream`.
fn decoder_for(stream: &str) -> fn(&str, &[u8]) -> Result<Envelope, Poison> {
    if stream == AUDIT_STREAM {
        decode_audit
    } else {
        decode
    }
}

/// An event must be on its own `bamf.evt.<aggregate>.<id>.<event>`.
fn domain_on_own_subject(subject: &str, envelope: Envelope) -> Result<Envelope, Poison> {
    let expected = envelope.subject();
    // Compare without formatting: prefix.aggregate.id.event.
    let mut parts = subject.splitn(5, '.');
    let matches = parts.next() == Some("bamf")
        && parts.next() == Some("evt")
        && parts.next() == Some(expected.aggregate)
        && parts.next() == Some(expected.id.as_str())
        && parts.next() == Some(expected.event);
    if matches {
        Ok(envelope)
    } else {
        Err(Poison::WrongSubject {
            expected: expected.to_string(),
        })
    }
}

/// An ordered consumer's messages on `stream` (ephemeral, no acks, recreated
/// by the client on a gap): the one way every feed here opens.
pub(crate) async fn ordered(
    js: &jetstream::Context,
    stream: &str,
    filter: &str,
    deliver_policy: consumer::DeliverPolicy,
) -> Result<consumer::pull::Ordered, FeedError> {
    let open_err = |source: async_nats::Error| FeedError::Open {
        stream: stream.to_string(),
        source,
    };
    let s = js
        .get_stream(stream)
        .await
        .map_err(|e| open_err(e.into()))?;
    let config = consumer::pull::OrderedConfig {
        filter_subject: filter.to_string(),
        deliver_policy,
        ..Default::default()
    };
    s.create_consumer(config)
        .await
        .map_err(|e| open_err(e.into()))?
        .messages()
        .await
        .map_err(|e| open_err(e.into()))
}

impl Feed {
    /// Opens a feed of `stream` (optionally filtered) from `start_seq` (≥ 1).
    /// Messages are checked against the subjects `stream` may hold
    /// ([`decode`], or [`decode_audit`] for `BAMF_AUDIT`).
    pub async fn open(
        js: &jetstream::Context,
        stream: &str,
        filter: Option<&str>,
        start_seq: u64,
    ) -> Result<Feed, FeedError> {
        let deliver = consumer::DeliverPolicy::ByStartSequence {
            start_sequence: start_seq.max(1),
        };
        let messages = ordered(js, stream, filter.unwrap_or_default(), deliver).await?;
        Ok(Feed {
            stream_name: stream.to_string(),
            messages,
            decode: decoder_for(stream),
        })
    }

    /// The next message; waits for one to arrive. `None` only if the
    /// underlying consumer ends.
    pub async fn next(&mut self) -> Option<Result<FeedItem, FeedError>> {
        let msg = match self.messages.next().await? {
            Ok(m) => m,
            Err(e) => return Some(Err(self.read_err(e.into()))),
        };
        Some(self.item(msg))
    }

    /// The next message if one is already buffered, without waiting.
    pub fn try_next(&mut self) -> Option<Result<FeedItem, FeedError>> {
        use futures::FutureExt;
        match self.messages.next().now_or_never()?? {
            Ok(m) => Some(self.item(m)),
            Err(e) => Some(Err(self.read_err(e.into()))),
        }
    }

    fn read_err(&self, source: async_nats::Error) -> FeedError {
        FeedError::Read {
            stream: self.stream_name.clone(),
            source,
        }
    }

    fn item(&self, msg: jetstream::Message) -> Result<FeedItem, FeedError> {
        let (seq, pending) = {
            let info = msg.info().map_err(|e| self.read_err(e))?;
            (info.stream_sequence, info.pending)
        };
        let msg = msg.message;
        let decoded = (self.decode)(msg.subject.as_str(), &msg.payload);
        Ok(FeedItem {
            seq,
            subject: msg.subject,
            pending,
            payload: msg.payload,
            decoded,
        })
    }
}

/// The last sequence currently in `stream` (0 when empty).
pub async fn last_sequence(js: &jetstream::Context, stream: &str) -> Result<u64, FeedError> {
    let err = |source: async_nats::Error| FeedError::Read {
        stream: stream.to_string(),
        source,
    };
    let s = js.get_stream(stream).await.map_err(|e| err(e.into()))?;
    let info = s.get_info().await.map_err(|e| err(e.into()))?;
    Ok(info.state.last_sequence)
}

#[cfg(test)]
mod tests {
    use bamf_domain::events::{LoginFailed, UserDeleted};
    use bamf_domain::{Actor, AggregateId, Event, Timestamp};

    use super::*;

    fn envelope(event: Event) -> Envelope {
        Envelope::new(
            ulid::Ulid::from_parts(1_700_000_000_000, 1),
            Timestamp::from_unix_micros(1_700_000_000_000_000),
            Actor::system(),
            AggregateId::new("01jd0000000000000000000000").unwrap(),
            event,
        )
    }

    fn login_failed() -> Envelope {
        envelope(Event::LoginFailed(LoginFailed {
            email: "mallory@corp.example".into(),
            provider: "local".into(),
            reason: "wrong_password".into(),
        }))
    }

    fn user_deleted() -> Envelope {
        envelope(Event::UserDeleted(UserDeleted {}))
    }

    #[test]
    fn the_audit_stream_holds_audit_only_records_and_domain_events_on_their_subjects() {
        let audit = login_failed();
        let bytes = audit.encode().unwrap();
        assert_eq!(
            decode_audit("bamf.audit.login.failed", &bytes).unwrap(),
            audit
        );
        let domain = user_deleted();
        let domain_bytes = domain.encode().unwrap();
        let own = domain.subject().to_string();
        assert_eq!(decode_audit(&own, &domain_bytes).unwrap(), domain);

        let wrong = |subject: &str, bytes: &[u8]| match decode_audit(subject, bytes) {
            Err(Poison::WrongSubject { expected }) => expected,
            other => panic!("{subject}: {other:?}"),
        };
        // An audit-only record elsewhere, a domain event on an audit subject.
        assert_eq!(
            wrong("bamf.audit.login.succeeded", &bytes),
            "bamf.audit.login.failed"
        );
        assert_eq!(
            wrong("bamf.evt.login.01jd0000000000000000000000.failed", &bytes),
            "bamf.audit.login.failed"
        );
        assert_eq!(wrong("bamf.audit.user.deleted", &domain_bytes), own);
        assert!(matches!(
            decode_audit("bamf.audit.login.failed", b"not json"),
            Err(Poison::Envelope(_))
        ));
    }

    #[test]
    fn each_stream_has_its_decoder() {
        let bytes = login_failed().encode().unwrap();
        assert!(decoder_for(AUDIT_STREAM)("bamf.audit.login.failed", &bytes).is_ok());
        assert!(decoder_for("BAMF_EVENTS")("bamf.audit.login.failed", &bytes).is_err());
    }
}

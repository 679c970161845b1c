//! A decoded, ordered read of a stream from a start sequence: the one way
//! projections (in memory here, in Postgres in `bamf-api`) consume the log.
//!
//! Built on an ordered pull consumer (ephemeral, no acks, recreated by the
//! client on a gap), so it is cheap and never misses or repeats a sequence.

use async_nats::jetstream::{self, consumer};
use bamf_domain::{Envelope, EnvelopeError};
use bytes::Bytes;
use futures::StreamExt;

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
}

/// Decodes one message (also used by tests and the benchmark).
pub fn decode(subject: &str, payload: &[u8]) -> Result<Envelope, Poison> {
    let envelope = Envelope::decode(payload)?;
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
        let decoded = decode(msg.subject.as_str(), &msg.payload);
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

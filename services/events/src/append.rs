//! Appending events: validated before sending, de-duplicated by `Nats-Msg-Id`
//! (the envelope id), guarded per aggregate by
//! `Nats-Expected-Last-Subject-Sequence` over `bamf.evt.<agg>.<id>.*`, acks
//! always awaited, and in-flight publishes bounded by a semaphore.

use std::sync::Arc;
use std::time::Duration;

use async_nats::header::{self, HeaderMap};
use async_nats::jetstream::{self, context::PublishAckFuture, ErrorCode};
use bamf_domain::{Envelope, EnvelopeError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::streams::EVENTS_STREAM;

/// Header naming the subject (with wildcards) the expected sequence is checked
/// against (nats-server ≥ 2.11).
pub const EXPECTED_LAST_SUBJECT_SEQUENCE_SUBJECT: &str =
    "Nats-Expected-Last-Subject-Sequence-Subject";
/// W3C trace context header.
pub const TRACEPARENT: &str = "traceparent";

/// Default bound on publishes awaiting their ack.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// The optimistic-concurrency expectation of an append, over the whole aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// No check.
    Any,
    /// The aggregate has no events yet (creation).
    NoEvents,
    /// The aggregate's last event is at this stream sequence.
    LastSequence(u64),
    /// The last event of *any* aggregate of this kind (`bamf.evt.<kind>.>`)
    /// is at this sequence (0: none yet). For invariants that span a kind,
    /// such as unique user e-mails.
    KindLastSequence(u64),
}

impl Expected {
    pub(crate) fn sequence(self) -> Option<u64> {
        match self {
            Expected::Any => None,
            Expected::NoEvents => Some(0),
            Expected::LastSequence(n) | Expected::KindLastSequence(n) => Some(n),
        }
    }

    /// The subject filter the expectation is checked against.
    pub fn filter(self, subject: &bamf_domain::EventSubject) -> String {
        match self {
            Expected::KindLastSequence(_) => {
                format!(
                    "{}.{}.>",
                    bamf_domain::subject::EVENT_SUBJECT_PREFIX,
                    subject.aggregate
                )
            }
            _ => subject.aggregate_filter(),
        }
    }

    /// An expectation from a last-seen sequence (0: the aggregate is new).
    pub fn last(seq: u64) -> Self {
        if seq == 0 {
            Expected::NoEvents
        } else {
            Expected::LastSequence(seq)
        }
    }
}

/// A stored (or de-duplicated) event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Stream sequence of the event (of the first copy, for a duplicate).
    pub seq: u64,
    /// The server had already stored this envelope id.
    pub duplicate: bool,
}

/// Why an append failed. Callers match on the kind: `Conflict` means reload
/// and decide again.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The envelope was refused before sending.
    #[error("cannot append an invalid event")]
    Invalid(#[from] EnvelopeError),
    /// The aggregate moved on since the caller read it.
    #[error("conflict appending to {filter}: expected its last event at sequence {expected}")]
    Conflict { filter: String, expected: u64 },
    /// A batch was empty or larger than the server allows.
    #[error("batch of {0} events is not allowed (1..={MAX_BATCH})")]
    BatchSize(usize),
    /// The server rejected the append (or the batch) for another reason.
    #[error("BAMF_EVENTS rejected the append (code {code}): {description}")]
    Rejected { code: u64, description: String },
    /// No ack in time; the append may or may not be stored (retrying with the
    /// same envelope id is safe).
    #[error("no ack for the append to BAMF_EVENTS in time")]
    TimedOut,
    /// Transport failure.
    #[error("cannot append event to BAMF_EVENTS")]
    Publish(#[source] async_nats::Error),
}

/// Largest atomic batch nats-server accepts.
pub const MAX_BATCH: usize = 1000;

/// Settings of an [`EventLog`].
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Bound on publishes awaiting their ack.
    pub max_in_flight: usize,
    /// How long an atomic batch may take end to end.
    pub batch_timeout: Duration,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            batch_timeout: Duration::from_secs(10),
        }
    }
}

/// The writing side of `BAMF_EVENTS`. Cheap to clone.
#[derive(Clone)]
pub struct EventLog {
    js: jetstream::Context,
    in_flight: Arc<Semaphore>,
    config: LogConfig,
}

/// A sent append whose ack has not been awaited yet. Dropping it without
/// awaiting [`PendingAppend::ack`] loses the outcome (the permit is released).
#[must_use = "an append's ack must be awaited"]
pub struct PendingAppend {
    ack: PublishAckFuture,
    filter: String,
    expected: Option<u64>,
    msg_id: String,
    js: jetstream::Context,
    _permit: OwnedSemaphorePermit,
}

impl PendingAppend {
    /// Awaits the server's ack.
    pub async fn ack(self) -> Result<Appended, AppendError> {
        let PendingAppend {
            ack,
            filter,
            expected,
            msg_id,
            js,
            _permit,
        } = self;
        match ack.await {
            Ok(ack) => Ok(Appended {
                seq: ack.sequence,
                duplicate: ack.duplicate,
            }),
            Err(e) => match map_publish_error(e, filter, expected) {
                AppendError::Conflict { filter, expected } => {
                    match already_stored(&js, &filter, &msg_id).await {
                        Some(seq) => Ok(Appended {
                            seq,
                            duplicate: true,
                        }),
                        None => Err(AppendError::Conflict { filter, expected }),
                    }
                }
                other => Err(other),
            },
        }
    }
}

/// The server checks expectations before de-duplication, so the retry of an
/// append that was stored (its ack lost) comes back as a conflict. It is a
/// duplicate when our event is the aggregate's last one: look that up.
async fn already_stored(js: &jetstream::Context, filter: &str, msg_id: &str) -> Option<u64> {
    let stream = js.get_stream(EVENTS_STREAM).await.ok()?;
    let last = stream.get_last_raw_message_by_subject(filter).await.ok()?;
    let id = last.headers.get(header::NATS_MESSAGE_ID)?;
    (id.as_str() == msg_id).then_some(last.sequence)
}

fn map_publish_error(
    e: jetstream::context::PublishError,
    filter: String,
    expected: Option<u64>,
) -> AppendError {
    use jetstream::context::PublishErrorKind as K;
    if e.kind() == K::TimedOut {
        return AppendError::TimedOut;
    }
    let server = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<jetstream::Error>());
    match server {
        Some(err) => server_error(err.error_code().0, err.to_string(), filter, expected),
        None => AppendError::Publish(e.into()),
    }
}

pub(crate) fn server_error(
    code: u64,
    description: String,
    filter: String,
    expected: Option<u64>,
) -> AppendError {
    match (code, expected) {
        (c, Some(expected)) if c == ErrorCode::STREAM_WRONG_LAST_SEQUENCE.0 => {
            AppendError::Conflict { filter, expected }
        }
        _ => AppendError::Rejected { code, description },
    }
}

impl EventLog {
    /// A log over `js` (stream set-up is separate: [`crate::streams::ensure_streams`]).
    pub fn new(js: jetstream::Context, config: LogConfig) -> Self {
        EventLog {
            in_flight: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            js,
            config,
        }
    }

    /// The JetStream context.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// Appends one event and awaits its ack.
    pub async fn append(
        &self,
        envelope: &Envelope,
        expected: Expected,
    ) -> Result<Appended, AppendError> {
        self.send(envelope, expected).await?.ack().await
    }

    /// Sends one event without awaiting its ack (pipelining). Waits while
    /// `max_in_flight` [`PendingAppend`]s are alive, so a caller that holds
    /// them all must await some before sending more (or use
    /// [`EventLog::append_pipelined`], which does).
    pub async fn send(
        &self,
        envelope: &Envelope,
        expected: Expected,
    ) -> Result<PendingAppend, AppendError> {
        let payload = envelope.encode()?;
        let subject = envelope.subject();
        let filter = expected.filter(&subject);
        let headers = headers_for(envelope, expected, &filter);
        // The semaphore lives as long as the log and is never closed.
        let permit = Arc::clone(&self.in_flight)
            .acquire_owned()
            .await
            .expect("in-flight semaphore is never closed");
        let ack = self
            .js
            .publish_with_headers(subject.to_string(), headers, payload.into())
            .await
            .map_err(|e| AppendError::Publish(e.into()))?;
        Ok(PendingAppend {
            ack,
            filter,
            expected: expected.sequence(),
            msg_id: envelope.id.to_string(),
            js: self.js.clone(),
            _permit: permit,
        })
    }

    /// Appends many independent events, keeping up to `max_in_flight` acks
    /// outstanding and awaiting every one; results are in input order. (Use
    /// [`EventLog::append_batch`] when they must be stored all or none.)
    pub async fn append_pipelined(
        &self,
        events: &[(Envelope, Expected)],
    ) -> Vec<Result<Appended, AppendError>> {
        let window = self.config.max_in_flight.max(1);
        let mut pending = std::collections::VecDeque::with_capacity(window);
        let mut results = Vec::with_capacity(events.len());
        for (envelope, expected) in events {
            if pending.len() == window {
                if let Some(oldest) = pending.pop_front() {
                    results.push(finish(oldest).await);
                }
            }
            pending.push_back(self.send(envelope, *expected).await);
        }
        for p in pending {
            results.push(finish(p).await);
        }
        results
    }

    pub(crate) fn batch_timeout(&self) -> Duration {
        self.config.batch_timeout
    }
}

async fn finish(sent: Result<PendingAppend, AppendError>) -> Result<Appended, AppendError> {
    sent?.ack().await
}

/// The headers of an append: `Nats-Msg-Id`, `Nats-Expected-Stream`, the
/// concurrency pair and `traceparent` (public for the benchmark's baseline).
pub fn headers_for(envelope: &Envelope, expected: Expected, filter: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::NATS_MESSAGE_ID, envelope.id.to_string().as_str());
    headers.insert(header::NATS_EXPECTED_STREAM, EVENTS_STREAM);
    if let Some(seq) = expected.sequence() {
        headers.insert(
            header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
            seq.to_string().as_str(),
        );
        headers.insert(EXPECTED_LAST_SUBJECT_SEQUENCE_SUBJECT, filter);
    }
    if let Some(trace) = &envelope.trace {
        headers.insert(TRACEPARENT, trace.as_str());
    }
    headers
}

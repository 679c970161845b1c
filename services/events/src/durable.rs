//! Reading `BAMF_AUDIT` from outside the API (docs/audit.md, "Exporting"):
//!
//! - [`Durable`]: a durable pull consumer with explicit acks, created on first
//!   use or bound by name afterwards, read in bounded batches and acked only
//!   when the caller says its sink accepted a batch: at-least-once, resuming
//!   at the ack floor after any stop, with back-pressure from
//!   `max_ack_pending` rather than loss.
//! - [`StreamReader`]: every record of a stream from its first retained
//!   sequence up to its last sequence at the time of the call (an ordered
//!   consumer: no acks, no state on the server), for `audit verify`.
//!
//! Payloads are handed out verbatim ([`Bytes`]): the seals cover the exact
//! bytes, so nothing here decodes or re-encodes a record.

use std::time::Duration;

use async_nats::jetstream::consumer::{
    self, pull, AckPolicy, DeliverPolicy, FromConsumer as _, PriorityPolicy, PullConsumer,
};
use async_nats::jetstream::context::{ConsumerInfoErrorKind, GetStreamErrorKind};
use async_nats::jetstream::message::{AckKind, Acker};
use async_nats::jetstream::stream::ConsumerCreateStrictErrorKind;
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::{self, Context};
use bytes::Bytes;
use futures::StreamExt;
use time::OffsetDateTime;

use crate::feed::{self, FeedError};

/// How long [`StreamReader::next`] waits for the next record before it gives
/// up: the records exist already, so a long silence means a broken connection.
pub const READ_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors of the durable consumer and the stream reader.
#[derive(Debug, thiserror::Error)]
pub enum DurableError {
    #[error("stream {stream} does not exist (bamf-api creates it on its first start)")]
    StreamNotFound { stream: String },
    #[error("cannot read stream {stream}")]
    Stream {
        stream: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("consumer {name} on {stream} exists with a configuration an export cannot use: {why}; delete it (nats consumer rm {stream} {name}) or choose another name")]
    Incompatible {
        stream: String,
        name: String,
        why: String,
    },
    #[error("cannot create or bind consumer {name} on {stream}")]
    Bind {
        stream: String,
        name: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("consumer {name} on {stream} no longer exists (deleted while in use?)")]
    Gone { stream: String, name: String },
    #[error("cannot read the state of consumer {name} on {stream}")]
    Info {
        stream: String,
        name: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("cannot fetch records from consumer {name} on {stream}")]
    Fetch {
        stream: String,
        name: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("cannot acknowledge sequence {seq} on consumer {name}")]
    Ack {
        name: String,
        seq: u64,
        #[source]
        source: async_nats::Error,
    },
    #[error("cannot rewind consumer {name} on {stream} to its ack floor")]
    Rewind {
        stream: String,
        name: String,
        #[source]
        source: async_nats::Error,
    },
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error(
        "no record of {stream} arrived for {waited:?} while reading sequence {next} of {last}"
    )]
    Stalled {
        stream: String,
        next: u64,
        last: u64,
        waited: Duration,
    },
}

/// Where a new consumer starts. Only used when the consumer is created: an
/// existing durable always resumes at its ack floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAt {
    /// The oldest record still retained.
    #[default]
    First,
    /// This stream sequence (or the first retained one after it).
    Sequence(u64),
    /// The first record stored at or after this time.
    Time(OffsetDateTime),
}

/// The durable consumer to create or bind.
#[derive(Debug, Clone)]
pub struct DurableConfig {
    pub stream: String,
    /// The durable name (`[A-Za-z0-9_-]`).
    pub name: String,
    /// How long a delivered record may stay unacked before the server
    /// redelivers it. Longer than the slowest sink write.
    pub ack_wait: Duration,
    /// Records delivered but not acked, at most; when reached the server
    /// delivers nothing more (back-pressure).
    pub max_ack_pending: usize,
    pub start: StartAt,
    pub description: Option<String>,
}

/// The consumer's counters on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConsumerState {
    /// Records not yet delivered.
    pub num_pending: u64,
    /// Records delivered and not acked.
    pub num_ack_pending: u64,
    /// Records redelivered after their ack wait ran out.
    pub num_redelivered: u64,
    /// Every stream sequence up to this one is acked.
    pub ack_floor: u64,
    /// The last stream sequence delivered.
    pub delivered: u64,
    pub ack_wait: Duration,
    pub max_ack_pending: i64,
}

impl From<&consumer::Info> for ConsumerState {
    fn from(info: &consumer::Info) -> Self {
        ConsumerState {
            num_pending: info.num_pending,
            num_ack_pending: info.num_ack_pending as u64,
            num_redelivered: info.num_redelivered as u64,
            ack_floor: info.ack_floor.stream_sequence,
            delivered: info.delivered.stream_sequence,
            ack_wait: info.config.ack_wait,
            max_ack_pending: info.config.max_ack_pending,
        }
    }
}

/// One delivered record, acked through [`Durable::ack`].
pub struct Delivery {
    /// Stream sequence.
    pub seq: u64,
    pub subject: String,
    /// The message payload, verbatim.
    pub payload: Bytes,
    /// How many times this record has been delivered (1 the first time).
    pub delivered: u64,
    /// Records not yet delivered when this one was.
    pub pending: u64,
    acker: Acker,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("seq", &self.seq)
            .field("subject", &self.subject)
            .field("delivered", &self.delivered)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// How an existing consumer was brought in line on bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// Created now, at the requested start.
    Created,
    /// Existed; resumes at its ack floor. `updated` names the settings
    /// changed to the requested values (`ack_wait`, `max_ack_pending`).
    Existing { updated: Vec<&'static str> },
}

/// A durable pull consumer with explicit acks.
pub struct Durable {
    consumer: PullConsumer,
    stream: String,
    name: String,
    bound: Bound,
}

impl Durable {
    /// Creates the consumer `config.name` on `config.stream`, or binds to it
    /// when it exists. An existing consumer keeps its position (the start is
    /// ignored); its `ack_wait` and `max_ack_pending` are set to the requested
    /// values; one that filters subjects, is not a pull consumer with explicit
    /// acks, gives up after a number of deliveries, or delivers only headers
    /// is refused (an export through it would miss records).
    pub async fn bind(js: &Context, config: &DurableConfig) -> Result<Durable, DurableError> {
        let stream_name = config.stream.as_str();
        let stream = get_stream(js, stream_name).await?;
        let bind_err = |source: async_nats::Error| DurableError::Bind {
            stream: stream_name.to_string(),
            name: config.name.clone(),
            source,
        };
        // Two attempts: a concurrent creator may win between our look and our create.
        for _ in 0..2 {
            match stream.consumer_info(&config.name).await {
                Ok(info) => {
                    let (consumer, updated) = bind_existing(&stream, &info, config).await?;
                    return Ok(Durable {
                        consumer,
                        stream: stream_name.to_string(),
                        name: config.name.clone(),
                        bound: Bound::Existing { updated },
                    });
                }
                Err(e) if e.kind() == ConsumerInfoErrorKind::NotFound => {}
                Err(e) => return Err(bind_err(e.into())),
            }
            match stream.create_consumer_strict(new_config(config)).await {
                Ok(consumer) => {
                    return Ok(Durable {
                        consumer,
                        stream: stream_name.to_string(),
                        name: config.name.clone(),
                        bound: Bound::Created,
                    })
                }
                Err(e) if e.kind() == ConsumerCreateStrictErrorKind::AlreadyExists => continue,
                Err(e) => return Err(bind_err(e.into())),
            }
        }
        Err(bind_err(
            "the consumer was created and deleted concurrently".into(),
        ))
    }

    /// Whether the consumer was created by [`Durable::bind`] or existed.
    pub fn bound(&self) -> &Bound {
        &self.bound
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The consumer's counters, read from the server now.
    pub async fn state(&self) -> Result<ConsumerState, DurableError> {
        match self.consumer.get_info().await {
            Ok(info) => Ok(ConsumerState::from(&info)),
            Err(e) if e.kind() == ConsumerInfoErrorKind::NotFound => Err(DurableError::Gone {
                stream: self.stream.clone(),
                name: self.name.clone(),
            }),
            Err(e) => Err(DurableError::Info {
                stream: self.stream.clone(),
                name: self.name.clone(),
                source: e.into(),
            }),
        }
    }

    /// Up to `max` records (and about `max_bytes`, at least one record),
    /// returned as soon as any are available, or none after `wait`. The
    /// server never delivers beyond `max_ack_pending` unacked records.
    pub async fn fetch(
        &self,
        max: usize,
        max_bytes: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>, DurableError> {
        let fetch_err = |source: async_nats::Error| DurableError::Fetch {
            stream: self.stream.clone(),
            name: self.name.clone(),
            source,
        };
        // `fetch` (no_wait with expires): the server answers with what it has
        // at once, and waits up to `wait` only when it has nothing.
        let mut batch = self
            .consumer
            .fetch()
            .max_messages(max.max(1))
            .max_bytes(max_bytes)
            .expires(wait)
            .messages()
            .await
            .map_err(|e| fetch_err(e.into()))?;
        let mut out = Vec::with_capacity(max);
        while let Some(next) = batch.next().await {
            match next {
                Ok(m) => out.push(delivery(m).map_err(fetch_err)?),
                // A status ending the batch early (e.g. max ack pending
                // reached): what arrived before it is a valid delivery.
                Err(e) if !out.is_empty() => {
                    tracing::debug!(consumer = %self.name, error = %e, "fetch ended early");
                    break;
                }
                Err(e) => return Err(fetch_err(e)),
            }
        }
        Ok(out)
    }

    /// Acknowledges `batch` once its records are safely stored. Every ack is
    /// sent in order on the one connection; the last one's round trip is
    /// awaited, so when this returns the server has processed them all (and
    /// an error means some may be redelivered: at-least-once).
    pub async fn ack(&self, batch: &[Delivery]) -> Result<(), DurableError> {
        let Some((last, rest)) = batch.split_last() else {
            return Ok(());
        };
        let ack_err = |seq: u64, source: async_nats::Error| DurableError::Ack {
            name: self.name.clone(),
            seq,
            source,
        };
        for d in rest {
            d.acker.ack().await.map_err(|e| ack_err(d.seq, e))?;
        }
        last.acker
            .double_ack()
            .await
            .map_err(|e| ack_err(last.seq, e))
    }

    /// Tells the server the records of `batch` are still being worked on,
    /// restarting their ack wait (for a sink that retries for a long time).
    pub async fn in_progress(&self, batch: &[Delivery]) -> Result<(), DurableError> {
        for d in batch {
            d.acker
                .ack_with(AckKind::Progress)
                .await
                .map_err(|source| DurableError::Ack {
                    name: self.name.clone(),
                    seq: d.seq,
                    source,
                })?;
        }
        Ok(())
    }

    /// Makes every delivered-but-unacked record deliverable again at once,
    /// from the ack floor on (instead of after its ack wait). For a process
    /// that owns the consumer and starts again after a crash: whatever the
    /// previous run had in hand was never acked. Returns the state after.
    /// The server then counts their next delivery as the first
    /// ([`Delivery::delivered`] is 1 again): compare with the state's
    /// `delivered` from before to know which ones were delivered already.
    pub async fn redeliver_unacked(&mut self) -> Result<ConsumerState, DurableError> {
        match self.consumer.reset(None).await {
            Ok(r) => Ok(ConsumerState::from(&r.info)),
            Err(source) => Err(DurableError::Rewind {
                stream: self.stream.clone(),
                name: self.name.clone(),
                source: source.into(),
            }),
        }
    }
}

/// The configuration of a new consumer.
fn new_config(config: &DurableConfig) -> pull::Config {
    let deliver_policy = match config.start {
        StartAt::First => DeliverPolicy::All,
        StartAt::Sequence(start_sequence) => DeliverPolicy::ByStartSequence {
            start_sequence: start_sequence.max(1),
        },
        StartAt::Time(start_time) => DeliverPolicy::ByStartTime { start_time },
    };
    pull::Config {
        durable_name: Some(config.name.clone()),
        description: config.description.clone(),
        deliver_policy,
        ack_policy: AckPolicy::Explicit,
        ack_wait: config.ack_wait,
        // Never give up on a record.
        max_deliver: -1,
        max_ack_pending: i64::try_from(config.max_ack_pending).unwrap_or(i64::MAX),
        ..Default::default()
    }
}

/// Checks an existing consumer and sets its editable limits.
async fn bind_existing(
    stream: &jetstream::stream::Stream,
    info: &consumer::Info,
    config: &DurableConfig,
) -> Result<(PullConsumer, Vec<&'static str>), DurableError> {
    let c = &info.config;
    let incompatible = |why: String| DurableError::Incompatible {
        stream: config.stream.clone(),
        name: config.name.clone(),
        why,
    };
    if c.deliver_subject.is_some() {
        return Err(incompatible("it is a push consumer".into()));
    }
    if c.ack_policy != AckPolicy::Explicit {
        return Err(incompatible(format!(
            "its ack policy is {:?}, not explicit",
            c.ack_policy
        )));
    }
    if !c.filter_subject.is_empty() || !c.filter_subjects.is_empty() {
        let filters = std::iter::once(c.filter_subject.as_str())
            .filter(|f| !f.is_empty())
            .chain(c.filter_subjects.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(incompatible(format!(
            "it filters subjects ({filters}), so it would skip records and seals"
        )));
    }
    if c.max_deliver > 0 {
        return Err(incompatible(format!(
            "it stops redelivering a record after {} deliveries",
            c.max_deliver
        )));
    }
    if c.headers_only {
        return Err(incompatible(
            "it delivers headers only, not the records".into(),
        ));
    }
    if c.priority_policy != PriorityPolicy::None {
        return Err(incompatible(format!(
            "it has a priority policy ({:?})",
            c.priority_policy
        )));
    }
    let bind_err = |source: async_nats::Error| DurableError::Bind {
        stream: config.stream.clone(),
        name: config.name.clone(),
        source,
    };
    let mut wanted: pull::Config = pull::Config::try_from_consumer_config(c.clone())
        .map_err(|e| incompatible(format!("it is not a pull consumer ({e})")))?;
    let mut updated = Vec::new();
    if wanted.ack_wait != config.ack_wait {
        wanted.ack_wait = config.ack_wait;
        updated.push("ack_wait");
    }
    let max_ack_pending = i64::try_from(config.max_ack_pending).unwrap_or(i64::MAX);
    if wanted.max_ack_pending != max_ack_pending {
        wanted.max_ack_pending = max_ack_pending;
        updated.push("max_ack_pending");
    }
    let consumer = if updated.is_empty() {
        stream.get_consumer(&config.name).await.map_err(bind_err)?
    } else {
        stream
            .update_consumer(wanted)
            .await
            .map_err(|e| bind_err(e.into()))?
    };
    Ok((consumer, updated))
}

/// The stream `name`, or a typed "does not exist".
async fn get_stream(js: &Context, name: &str) -> Result<jetstream::stream::Stream, DurableError> {
    match js.get_stream(name).await {
        Ok(s) => Ok(s),
        Err(e) => match e.kind() {
            GetStreamErrorKind::JetStream(j) if j.error_code() == ErrorCode::STREAM_NOT_FOUND => {
                Err(DurableError::StreamNotFound {
                    stream: name.to_string(),
                })
            }
            _ => Err(DurableError::Stream {
                stream: name.to_string(),
                source: e.into(),
            }),
        },
    }
}

fn delivery(m: jetstream::Message) -> Result<Delivery, async_nats::Error> {
    let (seq, delivered, pending) = {
        let info = m.info()?;
        (
            info.stream_sequence,
            u64::try_from(info.delivered).unwrap_or(0),
            info.pending,
        )
    };
    let (message, acker) = m.split();
    Ok(Delivery {
        seq,
        subject: message.subject.to_string(),
        payload: message.payload,
        delivered,
        pending,
        acker,
    })
}

/// One record read by [`StreamReader`].
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub seq: u64,
    pub subject: String,
    pub payload: Bytes,
}

/// Every record of a stream from its first retained sequence up to the last
/// sequence when opened.
pub struct StreamReader {
    stream: String,
    /// First retained and last sequence at open (`first > last`: empty).
    first: u64,
    last: u64,
    next: u64,
    messages: Option<pull::Ordered>,
}

impl StreamReader {
    /// Opens a read of `stream` as it is now.
    pub async fn open(js: &Context, stream: &str) -> Result<StreamReader, DurableError> {
        let stream_err = |source: async_nats::Error| DurableError::Stream {
            stream: stream.to_string(),
            source,
        };
        let mut s = get_stream(js, stream).await?;
        let state = s
            .info()
            .await
            .map_err(|e| stream_err(e.into()))?
            .state
            .clone();
        let (first, last) = (state.first_sequence, state.last_sequence);
        let messages = if state.messages == 0 || last == 0 {
            None
        } else {
            Some(feed::ordered(js, stream, "", DeliverPolicy::All).await?)
        };
        Ok(StreamReader {
            stream: stream.to_string(),
            first,
            last,
            next: first,
            messages,
        })
    }

    /// The first retained and the last sequence, as read at open.
    pub fn range(&self) -> (u64, u64) {
        (self.first, self.last)
    }

    /// The next record in sequence order; `None` after the last one.
    pub async fn next(&mut self) -> Option<Result<RawRecord, DurableError>> {
        let messages = self.messages.as_mut()?;
        let read_err = |stream: &str, source: async_nats::Error| {
            DurableError::Feed(FeedError::Read {
                stream: stream.to_string(),
                source,
            })
        };
        let m = match tokio::time::timeout(READ_IDLE_TIMEOUT, messages.next()).await {
            Err(_) => {
                self.messages = None;
                return Some(Err(DurableError::Stalled {
                    stream: self.stream.clone(),
                    next: self.next,
                    last: self.last,
                    waited: READ_IDLE_TIMEOUT,
                }));
            }
            Ok(None) => {
                self.messages = None;
                return Some(Err(read_err(
                    &self.stream,
                    "the ordered consumer ended".into(),
                )));
            }
            Ok(Some(Err(e))) => {
                self.messages = None;
                return Some(Err(read_err(&self.stream, e.into())));
            }
            Ok(Some(Ok(m))) => m,
        };
        let seq = match m.info() {
            Ok(info) => info.stream_sequence,
            Err(e) => {
                self.messages = None;
                return Some(Err(read_err(&self.stream, e)));
            }
        };
        if seq >= self.last {
            // Done: later records are not part of this read.
            self.messages = None;
            if seq > self.last {
                return None;
            }
        }
        self.next = seq + 1;
        let message = m.message;
        Some(Ok(RawRecord {
            seq,
            subject: message.subject.to_string(),
            payload: message.payload,
        }))
    }
}

//! bamf-events: the event log on NATS JetStream — the only crate that imports
//! `async_nats`.
//!
//! - [`streams`]: stream definitions from `deploy/nats/streams/` applied
//!   idempotently at start-up ([`streams::ensure_streams`]).
//! - [`append`] / [`batch`]: [`EventLog`] appends one event (de-duplicated by
//!   `Nats-Msg-Id`, optimistic per aggregate, typed [`AppendError::Conflict`]),
//!   pipelined with bounded in-flight acks, or an atomic batch.
//! - [`feed`]: an ordered, decoded read of a stream from a sequence; poison is
//!   classified, never fatal.
//! - [`runner`]: in-memory projections with snapshots ([`snapshot`]), parked
//!   poison ([`parked`]) and a bounded read-your-writes `wait_for`.

pub mod append;
pub mod batch;
pub mod feed;
pub mod parked;
pub mod runner;
pub mod snapshot;
pub mod streams;

pub use append::{AppendError, Appended, EventLog, Expected, LogConfig, PendingAppend};
pub use batch::BatchAppended;
pub use feed::{Feed, FeedError, FeedItem, Poison};
pub use parked::Parked;
pub use runner::{
    ProjectionReader, ProjectionRunner, RunnerConfig, RunnerError, SnapshotPolicy, WaitTimeout,
};
pub use snapshot::SnapshotStore;
pub use streams::{ensure_streams, StreamOptions, StreamOutcome};

/// Re-exported so callers need not depend on `async_nats` to connect.
pub use async_nats::{connect, jetstream, Client, ConnectOptions};

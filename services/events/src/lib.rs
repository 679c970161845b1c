//! bamf-events: the event log on NATS JetStream — the only crate that imports
//! `async_nats`.
//!
//! - [`streams`]: stream definitions from `deploy/nats/streams/` applied
//!   idempotently at start-up ([`streams::ensure_streams`]).
//! - [`append`] / [`batch`]: [`EventLog`] appends one event (de-duplicated by
//!   `Nats-Msg-Id`, optimistic per aggregate, typed [`AppendError::Conflict`]),
//!   pipelined with bounded in-flight acks, or an atomic batch.
//! - [`audit`]: audit-only records on `bamf.audit.>`; [`credentials`]:
//!   password hashes on `bamf.cred.>`.
//! - [`commands`]: request/reply commands to agents and bridges
//!   (`bamf.cmd.>`), with typed refusals and a second step.
//! - [`durable`]: a durable, explicitly acked reader of `BAMF_AUDIT` for
//!   exports, and a whole-stream reader for `audit verify`.
//! - [`feed`]: an ordered, decoded read of a stream from a sequence; poison is
//!   classified, never fatal.
//! - [`runner`]: in-memory projections with snapshots ([`snapshot`]), parked
//!   poison ([`parked`]) and a bounded read-your-writes `wait_for`.

pub mod append;
pub mod audit;
pub mod batch;
pub mod bridge_heartbeat;
pub mod commands;
pub mod credentials;
pub mod durable;
pub mod feed;
pub mod heartbeat;
pub mod parked;
pub mod runner;
pub mod snapshot;
pub mod streams;

pub use append::{AppendError, Appended, EventLog, Expected, LogConfig, PendingAppend};
pub use audit::AuditLog;
pub use batch::BatchAppended;
pub use bridge_heartbeat::{BridgeHeartbeatFeed, BridgeHeartbeatItem};
pub use credentials::{CredentialError, Credentials, PasswordRecord};
pub use durable::{Delivery, Durable, DurableConfig, DurableError, StartAt, StreamReader};
pub use feed::{Feed, FeedError, FeedItem, Poison};
pub use heartbeat::{
    agent_heartbeat_subject, publish_heartbeat, HeartbeatError, HeartbeatFeed, HeartbeatItem,
};
pub use parked::Parked;
pub use runner::{
    ProjectionReader, ProjectionRunner, RunnerConfig, RunnerError, SnapshotPolicy, WaitTimeout,
};
pub use snapshot::SnapshotStore;
pub use streams::{ensure_streams, StreamOptions, StreamOutcome};

/// Re-exported so callers need not depend on `async_nats` to connect.
pub use async_nats::{connect, jetstream, Client, ConnectOptions};

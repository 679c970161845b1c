//! The bamf test harness: real infrastructure for tests, never fakes.
//!
//! - [`NatsServer`]: the pinned nats-server (`NATS_VERSION` in deploy/.env) with JetStream,
//!   on a free loopback port with a temporary store, killed and removed on drop.
//!   Readiness is awaited through the server's ports file and its `/healthz`
//!   endpoint, never slept for. It can be stopped and started again on the same
//!   port and store, to test what happens while NATS is away.
//! - [`TestDatabase`]: a fresh PostgreSQL database per test, on the server named
//!   by `DATABASE_URL` when it is set, else on a temporary cluster made with the
//!   machine's `initdb` (one per test process). Dropped when the test ends.
//!
//! - [`cargo`]: cargo from inside a test, to build another package's binary.
//!
//! Other crates use this as a dev-dependency; the cross-service tests live in
//! this crate's `tests/` folder.

pub mod cargo;
mod nats;
mod postgres;

pub use nats::{nats_server_binary, pinned_version, NatsServer};
pub use postgres::TestDatabase;

use std::path::PathBuf;

/// The repository root (this crate lives in `<root>/tests`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent folder: the repository root")
        .to_path_buf()
}

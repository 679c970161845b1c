//! bamf-runtime: the one way every bamf program starts and stops (STYLE habit 4).
//!
//! A program's `main.rs` parses its CLI with [`cli::CommonArgs`] flattened in,
//! loads its config once with [`config::load`] (defaults, then an optional TOML or
//! YAML file, then `BAMF_<PROGRAM>_…` environment variables; a bad value exits
//! with code 2 naming the key), sets up logs and traces with [`telemetry::init`],
//! binds its listeners and hands them to the program's library `run` together with
//! a [`Shutdown`]. `Shutdown` is one cancellation token for the whole process plus
//! a tracker of its tasks; SIGINT/SIGTERM cancel it and [`Shutdown::drain`] waits
//! for the tasks for a bounded grace period. [`health`] serves `/healthz` and
//! `/readyz`; [`probe`] is the tiny HTTP client the dev stack and the tests use to
//! ask them.
//!
//! Layout: `cli.rs` shared flags and exit codes, `config.rs` loading and its typed
//! error, `duration.rs` human durations in config, `telemetry.rs` tracing and
//! OpenTelemetry, `shutdown.rs`, `health.rs`, `probe.rs`; `files.rs` private
//! state files (a key at 0600, atomic replace) and `api_client.rs` the JSON
//! client agents and bridges enrol with.

pub mod api_client;
pub mod cli;
pub mod config;
pub mod duration;
pub mod files;
pub mod health;
pub mod probe;
pub mod shutdown;
pub mod telemetry;

pub use health::Readiness;
pub use shutdown::Shutdown;

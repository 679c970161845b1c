//! `bamf-devstack`: the local stack behind `tools/stack` (README command 1).
//!
//! Starts, in order, PostgreSQL (`DATABASE_URL`, else a cluster of its own),
//! nats-server with JetStream, bamf-api, the demo targets (an sshd offered
//! as resource `demo`, a PostgreSQL cluster offered as `demo-db`; each left
//! out with a warning when its programs are missing), bamf-bridge and
//! bamf-agent, each waited for on its readiness signal; prints what runs
//! where and the commands to try; on Ctrl-C or SIGTERM stops them in reverse
//! order, each within a grace period. Everything lives in the state
//! directory (`.stack/` by default), so a second run resumes the same data.
//! Streams and migrations are applied by bamf-api at its start.
//!
//! Layout: `args.rs` the flags, `ports.rs` port choice, `child.rs` a
//! managed child process, `secrets.rs` the admin password and bridge token,
//! `host.rs` facts about the machine, `api.rs` the API calls the stack makes;
//! one file per component (`nats.rs`, `postgres.rs`, `sshd.rs`, `demo_db.rs`,
//! `bridge.rs`, `agent.rs`); `stack.rs` the start sequence, `running.rs`
//! watching and stopping, `signals.rs`, `summary.rs` what it prints.

mod agent;
mod api;
mod args;
mod bridge;
mod child;
mod demo_db;
mod host;
mod nats;
mod ports;
mod postgres;
mod running;
mod secrets;
mod signals;
mod sshd;
mod stack;
mod summary;

use std::process::ExitCode;

use clap::Parser;

pub use args::Args;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match stack::run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

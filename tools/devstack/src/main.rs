//! `bamf-devstack`: the local stack behind `tools/stack` (README command 1).
//!
//! Starts, in order, PostgreSQL (`DATABASE_URL`, else a cluster of its own),
//! nats-server with JetStream and bamf-api, each waited for on its readiness
//! signal; prints what runs where; on Ctrl-C or SIGTERM stops them in reverse
//! order (api, nats, postgres), each within a grace period. Everything lives in
//! the state directory (`.stack/` by default), so a second run resumes the same
//! data. Streams and migrations are applied by bamf-api at its start.
//!
//! Layout: `ports.rs` port choice, `child.rs` a managed child process,
//! `nats.rs`, `postgres.rs`, `stack.rs` the start/stop sequence and summary.

mod admin;
mod child;
mod nats;
mod ports;
mod postgres;
mod stack;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// Runs nats-server, PostgreSQL and bamf-api from the local build, until Ctrl-C.
#[derive(Parser, Debug)]
#[command(name = "bamf-devstack", version)]
pub struct Args {
    /// Folder for all state: JetStream store, PostgreSQL cluster, API data, logs.
    #[arg(long, default_value = ".stack")]
    pub state_dir: PathBuf,
    /// The nats-server binary (tools/install-nats prints it).
    #[arg(long, env = "BAMF_NATS_SERVER")]
    pub nats_server: PathBuf,
    /// nats-server config file.
    #[arg(long, default_value = "deploy/nats/nats-server.conf")]
    pub nats_config: PathBuf,
    /// The bamf-api binary [default: bamf-api next to this program].
    #[arg(long)]
    pub api_bin: Option<PathBuf>,
    /// NATS client port [default: last run's if free, else a free one].
    #[arg(long)]
    pub nats_port: Option<u16>,
    /// NATS monitoring port (/healthz) [default: as for --nats-port].
    #[arg(long)]
    pub nats_monitor_port: Option<u16>,
    /// bamf-api HTTP port [default: as for --nats-port].
    #[arg(long)]
    pub api_port: Option<u16>,
    /// Port of the stack's own PostgreSQL, when DATABASE_URL is not set.
    #[arg(long)]
    pub pg_port: Option<u16>,
    /// Use this PostgreSQL instead of starting one.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// How long each component may take to stop before it is killed.
    #[arg(long, default_value = "15s", value_parser = bamf_runtime::duration::parse)]
    pub grace: Duration,
}

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

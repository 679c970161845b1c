//! The command line of bamf-devstack (`tools/stack --help`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Runs nats-server, PostgreSQL, bamf-api, bamf-bridge, bamf-agent and two
/// demo targets from the local build, until Ctrl-C.
#[derive(Parser, Debug)]
#[command(name = "bamf-devstack", version)]
pub struct Args {
    /// Folder for all state: JetStream store, PostgreSQL clusters, API data,
    /// bridge and agent identities, demo sshd keys, logs.
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
    /// The bamf-bridge binary [default: bamf-bridge next to this program].
    #[arg(long)]
    pub bridge_bin: Option<PathBuf>,
    /// The bamf-agent binary [default: bamf-agent next to this program].
    #[arg(long)]
    pub agent_bin: Option<PathBuf>,
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
    /// bamf-bridge's QUIC port (UDP) [default: as for --nats-port].
    #[arg(long)]
    pub bridge_port: Option<u16>,
    /// bamf-bridge's health port (/readyz) [default: as for --nats-port].
    #[arg(long)]
    pub bridge_health_port: Option<u16>,
    /// bamf-agent's health port (/readyz) [default: as for --nats-port].
    #[arg(long)]
    pub agent_health_port: Option<u16>,
    /// Port of the demo sshd (resource `demo`) [default: as for --nats-port].
    #[arg(long)]
    pub ssh_port: Option<u16>,
    /// Port of the demo PostgreSQL (resource `demo-db`) [default: as for --nats-port].
    #[arg(long)]
    pub demo_pg_port: Option<u16>,
    /// Use this PostgreSQL instead of starting one.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// How long each component may take to stop before it is killed.
    #[arg(long, default_value = "15s", value_parser = bamf_runtime::duration::parse)]
    pub grace: Duration,
}

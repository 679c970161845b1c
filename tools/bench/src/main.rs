//! `bamf-bench <command>`: see BENCHMARKS.md.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bamf-bench",
    about = "bamf benchmarks: figures and ratios against a baseline"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Event log: append, cold replay, restart from snapshot.
    Eventlog(bamf_bench::eventlog::Args),
    /// REST API: GET /resources with RBAC under load; RBAC cost per resource.
    Resources(bamf_bench::resources::Args),
    /// Two API replicas: delay until a revocation on one is honoured by the other.
    Revocation(bamf_bench::revocation::Args),
    /// Live views and the SIEM path: watch latency, export throughput.
    Audit(bamf_bench::audit::Args),
    /// Tunnels: throughput, session set-up latency, bridge memory per idle session.
    Tunnel(bamf_bench::tunnel::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Eventlog(args) => bamf_bench::eventlog::run(args).await,
        Command::Resources(args) => bamf_bench::resources::run(args).await,
        Command::Revocation(args) => bamf_bench::revocation::run(args).await,
        Command::Audit(args) => bamf_bench::audit::run(args).await,
        Command::Tunnel(args) => bamf_bench::tunnel::run(args).await,
    }
}

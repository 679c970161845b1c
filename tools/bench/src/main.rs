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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Eventlog(args) => bamf_bench::eventlog::run(args).await,
    }
}

//! `bamfctl`: the bamf command-line client (ARCHITECTURE §6).
//!
//! Only the skeleton so far: global flags and `version`. Each command will get
//! its own file under `src/cmd/` as it is built (login, resources, tcp, ssh,
//! psql, sessions, audit, users, roles, tokens, agents).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Where the API is when neither --api-url nor BAMF_API_URL says otherwise.
const DEFAULT_API_URL: &str = "http://127.0.0.1:8080";

/// bamf command-line client: short-lived, audited access to private infrastructure.
#[derive(Parser)]
#[command(name = "bamfctl", version)]
struct Cli {
    /// URL of the bamf API.
    #[arg(long, global = true, env = "BAMF_API_URL", default_value = DEFAULT_API_URL)]
    api_url: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print bamfctl's version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("bamfctl {}", env!("CARGO_PKG_VERSION"));
        }
    }
    ExitCode::SUCCESS
}

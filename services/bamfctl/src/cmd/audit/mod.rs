//! `bamfctl audit …`: the audit trail (docs/audit.md). One file per command.

pub mod export;
pub mod nats;
pub mod search;
pub mod tail;
pub mod verify;

pub use verify::verify_file;

use anyhow::Result;
use clap::Subcommand;

use crate::context::Ctx;

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify an exported audit trail: names the first missing or altered record.
    #[command(after_help = "Examples:\n  \
        bamfctl audit verify --file audit.jsonl --public-key audit-seal.pub.pem\n  \
        bamfctl audit verify --file audit.jsonl --public-key old.pem --public-key new.pem --json\n  \
        bamfctl audit verify --nats-url nats://nats:4222 --nats-creds siem.creds --public-key audit-seal.pub.pem")]
    Verify(verify::VerifyArgs),
    /// Export the audit stream to stdout, a file, syslog or HTTP, resuming where the last run stopped.
    #[command(after_help = "Examples:\n  \
        bamfctl audit export --nats-url nats://nats:4222 --nats-creds siem.creds --to file:/var/log/bamf/audit.jsonl\n  \
        bamfctl audit export --follow --format ocsf --to syslog+tcp://siem.corp:601\n  \
        bamfctl audit export --follow --to https://siem.corp/ingest --header 'Authorization: Bearer ...'")]
    Export(Box<export::ExportArgs>),
    /// Search the audit trail (admin, audit): filter by time, actor, action, resource, outcome.
    #[command(after_help = "Examples:\n  \
        bamfctl audit search --since 2h --outcome failure\n  \
        bamfctl audit search --action 'session.*' --resource orders-db --since 7d --limit 500\n  \
        bamfctl audit search --actor alice@corp.example --since 2026-11-22T00:00:00Z --json")]
    Search(search::SearchArgs),
    /// Print the latest audit records (admin, audit); with --follow, new ones as they arrive.
    #[command(after_help = "Examples:\n  \
        bamfctl audit tail\n  \
        bamfctl audit tail -n 50 --follow --outcome failure\n  \
        bamfctl audit tail --follow --action 'login.*' --json")]
    Tail(tail::TailArgs),
}

/// Runs an `audit` command. `ctx` loads the API URL and the saved login, for
/// the commands that go through the API.
pub async fn run(ctx: impl FnOnce() -> Result<Ctx>, command: AuditCommand) -> Result<()> {
    match command {
        // An exported file, or the stream straight from NATS: needs neither
        // the API nor a login.
        AuditCommand::Verify(args) => verify::run(args).await,
        // Straight to NATS, as the SIEM does: needs neither the API nor a login.
        AuditCommand::Export(args) => export::run(*args).await,
        AuditCommand::Search(args) => search::run(&ctx()?.client()?, args).await,
        AuditCommand::Tail(args) => tail::run(&ctx()?.client()?, args).await,
    }
}

//! `agents ls|rm`: enrolled agents.

use anyhow::{Context, Result};
use clap::Subcommand;

use super::{fetch_list, show_list};
use crate::context::Ctx;
use crate::output::{labels_cell, write_stdout, yes_no, JsonFlag, Table};
use crate::types::Agent;

#[derive(Subcommand, Debug)]
pub enum AgentsCommand {
    /// List agents with their online state and resource count.
    #[command(after_help = "Example:\n  bamfctl agents ls")]
    Ls {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Remove an agent: no more certificate renewals, its heartbeats are ignored.
    #[command(after_help = "Example:\n  bamfctl agents rm 01J9Z8Q3V6N0M4W2X7Y5T1R8KD")]
    Rm {
        /// Agent id.
        id: String,
    },
}

pub async fn run(ctx: &Ctx, cmd: AgentsCommand) -> Result<()> {
    let client = ctx.client()?;
    match cmd {
        AgentsCommand::Ls { out } => {
            let items = fetch_list(&client, &["agents"], "agents").await?;
            show_list(items, out.json, "agent", |agents: Vec<Agent>| {
                let mut t = Table::new([
                    "ID",
                    "NAME",
                    "ONLINE",
                    "LAST HEARTBEAT",
                    "RESOURCES",
                    "LABELS",
                ]);
                for a in agents {
                    let count = a.resource_count();
                    t.row([
                        a.id,
                        a.name,
                        yes_no(a.online),
                        a.last_heartbeat.unwrap_or_default(),
                        count,
                        labels_cell(&a.labels),
                    ]);
                }
                t.print()
            })
        }
        AgentsCommand::Rm { id } => {
            client
                .delete(&["agents", &id], &[])
                .await
                .with_context(|| format!("cannot remove agent {id}"))?;
            write_stdout(&format!("Removed agent {id}.\n"))
        }
    }
}

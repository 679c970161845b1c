//! `tokens ls|create|revoke`: join tokens agents use to enrol.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use super::{fetch_list, show_list};
use crate::context::Ctx;
use crate::labels::{into_map, parse_label};
use crate::output::{labels_cell, print_json, write_stdout, yes_no, JsonFlag, Table};
use crate::types::{parse, JoinToken};

#[derive(Subcommand, Debug)]
pub enum TokensCommand {
    /// List join tokens (never their values).
    #[command(after_help = "Example:\n  bamfctl tokens ls")]
    Ls {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Create a join token; its value is printed once and cannot be shown again.
    #[command(
        after_help = "Example:\n  bamfctl tokens create --name edge-1 --ttl 1h --uses 1 --label env=dev"
    )]
    Create(CreateArgs),
    /// Revoke a join token.
    #[command(after_help = "Example:\n  bamfctl tokens revoke 01J9Z8Q3V6N0M4W2X7Y5T1R8KD")]
    Revoke {
        /// Join token id.
        id: String,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// A name for the token (shown in listings and audit).
    #[arg(long)]
    pub name: String,
    /// How long the token is valid, like 15m or 1h [default: the server's].
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// How many agents may join with it [default: the server's].
    #[arg(long = "uses", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_uses: Option<u32>,
    /// A label agents joining with it get, key=value (repeat for several).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    #[command(flatten)]
    pub out: JsonFlag,
}

pub async fn run(ctx: &Ctx, cmd: TokensCommand) -> Result<()> {
    let client = ctx.client()?;
    match cmd {
        TokensCommand::Ls { out } => {
            let items = fetch_list(&client, &["join-tokens"], "join_tokens").await?;
            show_list(items, out.json, "join token", |tokens: Vec<JoinToken>| {
                let mut t = Table::new(["ID", "NAME", "EXPIRES", "USES", "LABELS", "REVOKED"]);
                for tok in tokens {
                    t.row([
                        tok.id,
                        tok.name,
                        tok.expires_at.unwrap_or_default(),
                        uses_cell(tok.uses, tok.max_uses),
                        labels_cell(&tok.labels),
                        yes_no(tok.revoked),
                    ]);
                }
                t.print()
            })
        }
        TokensCommand::Create(args) => {
            let mut body = json!({ "name": args.name });
            if let Some(ttl) = args.ttl {
                body["ttl"] = ttl.into();
            }
            if let Some(n) = args.max_uses {
                body["max_uses"] = n.into();
            }
            let labels = into_map(args.labels)?;
            if !labels.is_empty() {
                body["labels"] = json!(labels);
            }
            let answer = client
                .post(&["join-tokens"], &body)
                .await
                .with_context(|| format!("cannot create join token {}", args.name))?;
            if args.out.json {
                return print_json(&answer);
            }
            let tok: JoinToken = parse(&answer, "join token")?;
            let value = tok
                .token
                .context("the server's answer holds no token value")?;
            write_stdout(&format!(
                "Created join token {} ({}), expires {}, uses {}.\n\
                 The token is shown only now; it will not be shown again:\n\n  {value}\n",
                tok.name,
                tok.id,
                tok.expires_at.as_deref().unwrap_or("-"),
                uses_cell(tok.uses, tok.max_uses),
            ))
        }
        TokensCommand::Revoke { id } => {
            client
                .delete(&["join-tokens", &id], &[])
                .await
                .with_context(|| format!("cannot revoke join token {id}"))?;
            write_stdout(&format!("Revoked join token {id}.\n"))
        }
    }
}

/// `1/3` (used of allowed), or just the count when unlimited.
fn uses_cell(uses: u64, max: Option<u64>) -> String {
    match max {
        Some(max) => format!("{uses}/{max}"),
        None => uses.to_string(),
    }
}

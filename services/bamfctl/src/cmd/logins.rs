//! `logins ls|revoke`: login sessions (not tunnel sessions, which are `sessions`).

use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::Value;

use super::{fetch_list, show_list};
use crate::context::Ctx;
use crate::output::{write_stdout, JsonFlag, Table};
use crate::types::{parse, LoginSession};

#[derive(Subcommand, Debug)]
pub enum LoginsCommand {
    /// List your logins; with --all, every login you may see (admin, audit).
    #[command(after_help = "Examples:\n  bamfctl logins ls\n  bamfctl logins ls --all --json")]
    Ls {
        /// Everyone's logins, not only yours.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// End every login of a user (yours, or anyone's as admin).
    #[command(after_help = "Example:\n  bamfctl logins revoke --email bob@example.com")]
    Revoke {
        /// Whose logins to end.
        #[arg(long)]
        email: String,
    },
}

pub async fn run(ctx: &Ctx, cmd: LoginsCommand) -> Result<()> {
    let client = ctx.client()?;
    let me = ctx.login()?.email.clone();
    match cmd {
        LoginsCommand::Ls { all, out } => {
            let items = fetch_list(&client, &["auth", "sessions"], "sessions").await?;
            // The server sends admins and auditors everyone's; without --all keep ours.
            let mut kept = Vec::new();
            for item in items {
                let s: LoginSession = parse(&item, "login session")?;
                if all || s.email.eq_ignore_ascii_case(&me) {
                    kept.push(item);
                }
            }
            show_list(
                kept,
                out.json,
                "login session",
                |sessions: Vec<LoginSession>| {
                    let mut t = Table::new(["ID", "EMAIL", "PROVIDER", "EXPIRES", "CURRENT"]);
                    for s in sessions {
                        t.row([
                            s.id,
                            s.email,
                            s.provider.unwrap_or_default(),
                            s.expires_at.unwrap_or_default(),
                            if s.current { "*".into() } else { String::new() },
                        ]);
                    }
                    t.print()
                },
            )
        }
        LoginsCommand::Revoke { email } => {
            let answer = client
                .delete(&["auth", "sessions"], &[("email", &email)])
                .await
                .with_context(|| format!("cannot revoke the logins of {email}"))?;
            let n = answer.get("revoked").and_then(Value::as_u64).unwrap_or(0);
            let mut text = format!("Revoked {n} login(s) of {email}.\n");
            if email.eq_ignore_ascii_case(&me) {
                // Ours was among them: the saved token is dead.
                ctx.store.remove()?;
                text.push_str(
                    "Your own login was one of them; the saved credentials were removed.\n",
                );
            }
            write_stdout(&text)
        }
    }
}

//! `sessions ls|watch|kill`: open tunnel sessions (`watch` in `sessions/watch.rs`).

mod watch;

use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::Value;

use super::fetch_list;
use crate::context::Ctx;
use crate::output::{print_json, write_stdout, JsonFlag, Table};

#[derive(Subcommand, Debug)]
pub enum SessionsCommand {
    /// List open tunnel sessions (your own; admins and auditors see all).
    #[command(after_help = "Examples:\n  bamfctl sessions ls\n  bamfctl sessions ls --json")]
    Ls {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Follow tunnel sessions live: a table redrawn on each change (your own;
    /// admins and auditors see all). Resumes by itself after a lost connection.
    #[command(after_help = "Examples:\n  bamfctl sessions watch\n  \
        bamfctl sessions watch --json --resource orders-db\n  \
        bamfctl sessions watch --user alice@corp.example > sessions.log")]
    Watch {
        /// Print one JSON line per change instead of the table.
        #[arg(long)]
        json: bool,
        /// Only this user's sessions (e-mail).
        #[arg(long, value_name = "EMAIL")]
        user: Option<String>,
        /// Only sessions to this resource.
        #[arg(long, value_name = "NAME")]
        resource: Option<String>,
    },
    /// End a tunnel session now; the bridge closes both sides (admin).
    #[command(after_help = "Example:\n  bamfctl sessions kill 01JD3Z8Q3V6N0M4W2X7Y5T1R8K")]
    Kill {
        /// Session id.
        id: String,
    },
}

pub async fn run(ctx: &Ctx, cmd: SessionsCommand) -> Result<()> {
    let client = ctx.client()?;
    match cmd {
        SessionsCommand::Ls { out } => {
            let items = fetch_list(&client, &["sessions"], "sessions").await?;
            if out.json {
                return print_json(&Value::Array(items));
            }
            let mut t = Table::new(["ID", "USER", "RESOURCE", "STATE"]);
            for s in &items {
                t.row(
                    [
                        &["id", "session_id"][..],
                        &["email", "user_id"],
                        &["resource"],
                        &["state"],
                    ]
                    .map(|keys| field(s, keys)),
                );
            }
            t.print()
        }
        SessionsCommand::Watch {
            json,
            user,
            resource,
        } => {
            let spec = watch::Watch {
                json,
                user,
                resource,
            };
            watch::run(&client, spec).await
        }
        SessionsCommand::Kill { id } => {
            client
                .delete(&["sessions", &id], &[])
                .await
                .with_context(|| format!("cannot kill session {id}"))?;
            write_stdout(&format!("Killed session {id}.\n"))
        }
    }
}

/// The first of `keys` present as a string (or number) in `item`; the
/// listing's shape is still settling, so a missing field is an empty cell.
/// The first of `keys` present in `item`, as text (empty when none is).
pub(super) fn field(item: &Value, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| match item.get(k)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_is_the_first_key_present() {
        let s = serde_json::json!({"session_id": "s1", "bridge": 7, "resource": null});
        assert_eq!(field(&s, &["id", "session_id"]), "s1");
        assert_eq!(field(&s, &["bridge_id", "bridge"]), "7");
        assert_eq!(field(&s, &["resource"]), "");
    }
}

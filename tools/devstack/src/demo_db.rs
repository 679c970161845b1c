//! The demo PostgreSQL target (resource `demo-db`): a second small cluster
//! under `<state>/demo-pg`, made and run like the stack's own (see
//! `postgres.rs`), with trust authentication on loopback and a database
//! `demo`.
//!
//! psql connects as the account it runs under, to the database of that name,
//! unless told otherwise. So that a plain `bamfctl psql demo-db` works, that
//! account has a role (superuser, like `postgres`) and a database of its own
//! here, besides `demo`.

use std::path::Path;

use anyhow::Result;

use crate::host;
use crate::postgres::{self, Postgres};

/// The resource name the agent offers it as.
pub const RESOURCE: &str = "demo-db";
/// The demo database.
pub const DATABASE: &str = "demo";

/// Why the demo cluster can't run here, if it can't: the stack then goes on
/// without it.
pub fn missing() -> Option<String> {
    ["initdb", "pg_ctl", "psql"].into_iter().find_map(|tool| {
        postgres::pg_tool(tool)
            .err()
            .map(|_| format!("{tool} is missing (apt-get install postgresql postgresql-client)"))
    })
}

/// Starts (creating on first use) the demo cluster in `dir` on `port`;
/// then [`set_up`].
pub async fn start(dir: &Path, port: u16, log: &Path) -> Result<Postgres> {
    postgres::start_local(dir, port, log, DATABASE).await
}

/// Makes sure of database `demo` and of the role and database psql uses by
/// default; answers that role.
pub async fn set_up(port: u16) -> Result<String> {
    postgres::ensure_database(port, DATABASE, None).await?;
    let user = host::user_name()?;
    if user != "postgres" {
        postgres::ensure_superuser(port, &user).await?;
        postgres::ensure_database(port, &user, Some(&user)).await?;
    }
    Ok(user)
}

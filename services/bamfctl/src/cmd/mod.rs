//! One file per command group; [`run`] dispatches. Commands print results on
//! stdout and return errors; `main` prints those on stderr and exits 1.

pub mod agents;
pub mod audit;
pub mod auth;
pub mod connect;
pub mod logins;
pub mod psql;
pub mod resources;
pub mod roles;
pub mod sessions;
pub mod ssh;
pub mod tcp;
pub mod tokens;
pub mod users;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::cli::{Cli, Command};
use crate::client::ApiClient;
use crate::context::Ctx;
use crate::output::print_json;
use crate::types::{list_field, parse_all};

/// Runs one command line.
pub async fn run(cli: Cli) -> Result<()> {
    // Everything but `version` needs the URL and the saved login.
    let ctx = || Ctx::load(cli.api_url.as_deref());
    match cli.command {
        Command::Version => {
            crate::output::write_stdout(&format!("bamfctl {}\n", env!("CARGO_PKG_VERSION")))
        }
        Command::Login(args) => auth::login(&ctx()?, args).await,
        Command::Logout => auth::logout(&ctx()?).await,
        Command::Status(args) => auth::status(&ctx()?, args).await,
        Command::Users(c) => users::run(&ctx()?, c).await,
        Command::Roles(c) => roles::run(&ctx()?, c).await,
        Command::Tokens(c) => tokens::run(&ctx()?, c).await,
        Command::Agents(c) => agents::run(&ctx()?, c).await,
        Command::Resources(args) => resources::run(&ctx()?, args).await,
        Command::Logins(c) => logins::run(&ctx()?, c).await,
        Command::Tcp(args) => tcp::run(&ctx()?, args).await,
        Command::Ssh(args) => ssh::run(&ctx()?, args).await,
        Command::Psql(args) => psql::run(&ctx()?, args).await,
        Command::Sessions(c) => sessions::run(&ctx()?, c).await,
        Command::Audit(c) => audit::run(ctx, c).await,
    }
}

/// A listing: `GET <segments>` and the array under `key` of its answer.
pub(crate) async fn fetch_list(
    client: &ApiClient,
    segments: &[&str],
    key: &str,
) -> Result<Vec<Value>> {
    let answer = client
        .get(segments)
        .await
        .with_context(|| format!("cannot list {key}"))?;
    list_field(&answer, key)
}

/// Prints a listing as JSON (`--json`) or hands the typed items to `table`.
pub(crate) fn show_list<T: DeserializeOwned>(
    items: Vec<Value>,
    json: bool,
    what: &str,
    table: impl FnOnce(Vec<T>) -> Result<()>,
) -> Result<()> {
    if json {
        return print_json(&Value::Array(items));
    }
    table(parse_all(&items, what)?)
}

//! `psql`: native psql against a local port forwarded to a PostgreSQL
//! resource, so every psql flag keeps working.

use anyhow::Result;
use clap::Args;

use super::connect::{listen, open, with_child};
use crate::context::Ctx;

#[derive(Args, Debug)]
pub struct PsqlArgs {
    /// The PostgreSQL resource (see `bamfctl resources --type postgres`).
    pub resource: String,
    /// Anything for psql (user, database, -c …), passed through as given.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PSQL ARGS"
    )]
    pub args: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: PsqlArgs) -> Result<()> {
    let client = ctx.client()?;
    let listener = listen(None).await?;
    let port = listener.local_addr()?.port();
    let (answer, tunnel) = open(&client, &args.resource).await?;
    eprintln!(
        "forwarding 127.0.0.1:{port} → {} (session {})",
        answer.resource, answer.session_id
    );
    let mut psql = tokio::process::Command::new("psql");
    psql.args(psql_argv(port, &args.args));
    with_child(&tunnel, listener, psql, "psql (is it installed?)").await
}

/// psql's arguments: the local end of the tunnel, then the user's.
pub fn psql_argv(port: u16, rest: &[String]) -> Vec<String> {
    let mut argv = vec![
        "-h".to_owned(),
        "127.0.0.1".to_owned(),
        "-p".to_owned(),
        port.to_string(),
    ];
    argv.extend(rest.iter().cloned());
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psql_gets_the_local_port_then_every_flag() {
        let rest = vec![
            "-U".to_owned(),
            "app".to_owned(),
            "-c".to_owned(),
            "select 1".to_owned(),
        ];
        assert_eq!(
            psql_argv(5999, &rest),
            [
                "-h",
                "127.0.0.1",
                "-p",
                "5999",
                "-U",
                "app",
                "-c",
                "select 1"
            ]
        );
    }
}

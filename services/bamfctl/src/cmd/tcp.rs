//! `tcp`: a local port (or stdin/stdout) forwarded to a resource.

use anyhow::{bail, Result};
use clap::Args;

use super::connect::{listen, open, session_ended, with_child};
use crate::context::Ctx;

#[derive(Args, Debug)]
pub struct TcpArgs {
    /// The resource to connect to (see `bamfctl resources`).
    pub resource: String,
    /// Local port on 127.0.0.1 [default: a free one].
    #[arg(short = 'p', long, value_name = "PORT", conflicts_with = "stdio")]
    pub port: Option<u16>,
    /// Run this command once the port is open ({host} and {port} are replaced), then exit with its status.
    #[arg(long, value_name = "COMMAND", conflicts_with = "stdio")]
    pub exec: Option<String>,
    /// Carry one connection on stdin/stdout instead of a port (for ssh's ProxyCommand).
    #[arg(long)]
    pub stdio: bool,
}

pub async fn run(ctx: &Ctx, args: TcpArgs) -> Result<()> {
    let client = ctx.client()?;
    if args.stdio {
        let (_answer, tunnel) = open(&client, &args.resource).await?;
        return tunnel
            .stdio(tokio::io::stdin(), tokio::io::stdout())
            .await
            .map_err(session_ended);
    }
    if let Some(command) = &args.exec {
        if command.trim().is_empty() {
            bail!("--exec needs a command");
        }
    }
    let listener = listen(args.port).await?;
    let port = listener.local_addr()?.port();
    let (answer, tunnel) = open(&client, &args.resource).await?;
    eprintln!(
        "forwarding 127.0.0.1:{port} → {} (session {})",
        answer.resource, answer.session_id
    );
    match args.exec {
        Some(command) => {
            let line = substitute(&command, "127.0.0.1", port);
            with_child(&tunnel, listener, shell(&line), &format!("`{line}`")).await
        }
        None => tokio::select! {
            served = tunnel.serve(listener) => served.map_err(session_ended),
            // Ctrl-C ends the session cleanly, so the bridge records a
            // normal close rather than waiting for the idle timeout.
            _ = tokio::signal::ctrl_c() => {
                tunnel.close().await;
                Ok(())
            }
        },
    }
}

/// `command` with `{host}` and `{port}` replaced.
pub fn substitute(command: &str, host: &str, port: u16) -> String {
    command
        .replace("{host}", host)
        .replace("{port}", &port.to_string())
}

/// A command line run by the system shell, so quoting works as typed.
fn shell(line: &str) -> tokio::process::Command {
    #[cfg(unix)]
    let mut command = {
        let mut c = tokio::process::Command::new("sh");
        c.arg("-c");
        c
    };
    #[cfg(not(unix))]
    let mut command = {
        let mut c = tokio::process::Command::new("cmd");
        c.arg("/C");
        c
    };
    command.arg(line);
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_substitutes_every_host_and_port() {
        assert_eq!(
            substitute("nc {host} {port}; echo {port}", "127.0.0.1", 5432),
            "nc 127.0.0.1 5432; echo 5432"
        );
        assert_eq!(substitute("true", "h", 1), "true");
    }
}

//! `bamf-agent`: parse the command line, load config, run (see the library).

use std::process::ExitCode;

use anyhow::Context;
use bamf_agent::AgentConfig;
use bamf_runtime::cli::{self, CommonArgs};
use bamf_runtime::Shutdown;
use clap::Parser;

/// bamf agent.
///
/// Config comes from defaults, then --config (agent.yaml, with ${ENV} and
/// ${ENV:-default} expanded in values), then BAMF_AGENT_*
/// environment variables (e.g. BAMF_AGENT_JOIN_TOKEN).
#[derive(Parser)]
#[command(name = "bamf-agent", version)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match AgentConfig::load(cli.common.config.as_deref()) {
        Ok(config) => config,
        Err(error) => return cli::config_error(&error),
    };
    cli::run_program("bamf-agent", cli.common.log_format, || async move {
        let listener = tokio::net::TcpListener::bind(config.health_listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (key \"health_listen\")",
                    config.health_listen
                )
            })?;
        let shutdown = Shutdown::new(config.shutdown_grace);
        shutdown.on_signals();
        bamf_agent::run(config, listener, shutdown).await
    })
}

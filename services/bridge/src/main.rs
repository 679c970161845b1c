//! `bamf-bridge`: parse the command line, load config, run (see the library).

use std::process::ExitCode;

use anyhow::Context;
use bamf_bridge::BridgeConfig;
use bamf_runtime::cli::{self, CommonArgs};
use bamf_runtime::Shutdown;
use clap::Parser;

/// bamf bridge.
///
/// Config comes from defaults, then --config (TOML or YAML), then BAMF_BRIDGE_*
/// environment variables (e.g. BAMF_BRIDGE_HEALTH_LISTEN).
#[derive(Parser)]
#[command(name = "bamf-bridge", version)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match BridgeConfig::load(cli.common.config.as_deref()) {
        Ok(config) => config,
        Err(error) => return cli::config_error(&error),
    };
    cli::run_program("bamf-bridge", cli.common.log_format, || async move {
        let listener = tokio::net::TcpListener::bind(config.health_listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (key \"health_listen\")",
                    config.health_listen
                )
            })?;
        let quic = std::net::UdpSocket::bind(config.quic_listen).with_context(|| {
            format!(
                "cannot listen on UDP {} (key \"quic_listen\")",
                config.quic_listen
            )
        })?;
        let shutdown = Shutdown::new(config.shutdown_grace);
        shutdown.on_signals();
        bamf_bridge::run(config, listener, quic, shutdown).await
    })
}

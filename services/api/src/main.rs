//! `bamf-api`: parse the command line, load config, run (see the library).

use std::process::ExitCode;

use anyhow::Context;
use bamf_api::ApiConfig;
use bamf_runtime::cli::{self, CommonArgs};
use bamf_runtime::Shutdown;
use clap::{Parser, Subcommand};

/// bamf control plane: REST API, auth, RBAC, CA, session broker, projections.
///
/// Config comes from defaults, then --config (TOML or YAML), then BAMF_API_*
/// environment variables (e.g. BAMF_API_LISTEN, BAMF_API_DATABASE_URL).
#[derive(Parser)]
#[command(name = "bamf-api", version)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Default)]
enum Command {
    /// Serve the API until SIGINT/SIGTERM (the default).
    #[default]
    Serve,
    /// Work on the read models.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Empty every PostgreSQL read model and replay the event log into it.
    ///
    /// Stop the API replicas first: a running replica would go on projecting
    /// from its own position while the rebuild replays from the start.
    Rebuild,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match ApiConfig::load(cli.common.config.as_deref()) {
        Ok(config) => config,
        Err(error) => return cli::config_error(&error),
    };
    cli::run_program("bamf-api", cli.common.log_format, || async move {
        match cli.command.unwrap_or_default() {
            Command::Serve => serve(config).await,
            Command::Projections(ProjectionsCommand::Rebuild) => rebuild(config).await,
        }
    })
}

async fn serve(config: ApiConfig) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (key \"listen\")", config.listen))?;
    let shutdown = Shutdown::new(config.shutdown_grace);
    shutdown.on_signals();
    bamf_api::run(config, listener, shutdown).await
}

async fn rebuild(config: ApiConfig) -> anyhow::Result<()> {
    let backends = bamf_api::startup::connect(&config).await?;
    for report in bamf_api::projections::rebuild(&backends, config.audit_search_retention).await? {
        println!(
            "{}: replayed {} events, now at stream sequence {}",
            report.projection, report.replayed, report.seq
        );
    }
    Ok(())
}

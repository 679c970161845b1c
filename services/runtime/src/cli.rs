//! Flags every program shares, and its exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::ConfigError;
use crate::telemetry::LogFormat;

/// Exit code for a config the program cannot use (clap uses the same for bad flags).
pub const EXIT_CONFIG: u8 = 2;
/// Exit code for a failure after start-up (a port taken, a backend unreachable).
pub const EXIT_FAILURE: u8 = 1;

/// Flags shared by the programs; flatten into each program's clap parser.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Config file (TOML or YAML); environment variables override its values.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Log format: `auto` (human-readable, coloured on a terminal), `text` or `json`.
    #[arg(
        long,
        global = true,
        env = "BAMF_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    pub log_format: LogFormat,
}

/// Prints a config error in the one shape every program uses and returns the
/// exit code for it.
pub fn config_error(error: &ConfigError) -> ExitCode {
    eprintln!("error: invalid config: {error}");
    ExitCode::from(EXIT_CONFIG)
}

/// Prints a start-up or run failure with its causes and returns the exit code.
pub fn failure(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::from(EXIT_FAILURE)
}

/// Runs a program's body on a fresh Tokio runtime with logs and traces set up,
/// then flushes traces and turns the outcome into an exit code.
///
/// Telemetry is set up and flushed outside the runtime because the OTLP
/// exporter uses a blocking HTTP client on its own thread.
pub fn run_program<F, Fut>(service: &'static str, log_format: LogFormat, body: F) -> ExitCode
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let telemetry = match crate::telemetry::init(service, log_format) {
        Ok(telemetry) => telemetry,
        Err(error) => return failure(&error),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return failure(&anyhow::Error::new(error).context("cannot start Tokio")),
    };
    let result = runtime.block_on(body());
    // Tasks the grace period gave up on are dropped here, not awaited again.
    runtime.shutdown_timeout(RUNTIME_DROP_TIMEOUT);
    let code = match &result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "{service} failed");
            ExitCode::from(EXIT_FAILURE)
        }
    };
    telemetry.shutdown();
    code
}

/// How long dropping the runtime may wait for blocking tasks after `run` returned.
const RUNTIME_DROP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

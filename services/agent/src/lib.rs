//! bamf-agent: the agent (ARCHITECTURE §1): it runs next to the targets, joins with
//! a token, dials out to bridges on command and proxies to the targets in its own
//! configuration, and nothing else.
//!
//! For now the program starts, serves its health endpoint, and stops cleanly.
//! [`run`] is what both `main.rs` and the tests call, the latter on a listener
//! bound to port 0. Layout: `config.rs` keys and defaults.

pub mod config;

pub use config::AgentConfig;

use bamf_runtime::{health, Shutdown};
use tokio::net::TcpListener;

/// Runs bamf-agent with its health endpoint on `health` until `shutdown` is
/// triggered, then drains within the grace period.
pub async fn run(
    _config: AgentConfig,
    health: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    health::run_health_only("bamf-agent", health, shutdown).await
}

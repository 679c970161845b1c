//! bamf-bridge: the bridge (ARCHITECTURE §1): the QUIC listener that verifies
//! session certificates against the CA, pairs client and agent by session id and
//! splices their streams. It never talks to PostgreSQL or the API.
//!
//! For now the program starts, serves its health endpoint, and stops cleanly.
//! [`run`] is what both `main.rs` and the tests call, the latter on a listener
//! bound to port 0. Layout: `config.rs` keys and defaults.

pub mod config;

pub use config::BridgeConfig;

use anyhow::Context;
use bamf_runtime::{health, Readiness, Shutdown};
use tokio::net::TcpListener;
use tracing::info;

/// Runs bamf-bridge with its health endpoint on `health` until `shutdown` is
/// triggered, then drains within the grace period.
pub async fn run(
    _config: BridgeConfig,
    health: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let addr = health
        .local_addr()
        .context("listener has no local address")?;
    let readiness = Readiness::new();
    let router = health::routes(readiness.clone());
    let mut server = shutdown.spawn(health::serve(health, router, shutdown.clone()));
    info!(health = %addr, "bamf-bridge listening");
    // Nothing to prepare yet: ready as soon as the health endpoint is up.
    readiness.set(true);
    // The server also ends on the shutdown token; `biased` checks the token
    // first so a requested stop is never mistaken for the server giving up.
    let outcome = tokio::select! {
        biased;
        _ = shutdown.triggered() => Ok(()),
        served = &mut server => match served.context("health server task panicked") {
            Ok(Ok(())) if shutdown.is_triggered() => Ok(()),
            Ok(Ok(())) => Err(anyhow::anyhow!("health server stopped before shutdown")),
            Ok(Err(error)) => Err(anyhow::Error::new(error).context("health server failed")),
            Err(error) => Err(error),
        },
    };
    readiness.set(false);
    shutdown.trigger();
    shutdown.drain().await;
    info!("bamf-bridge stopped");
    outcome
}

//! bamf-api: the control plane (ARCHITECTURE §1) — REST API `/api/v1`, login,
//! RBAC, the internal CA, the session broker and the read-model projections.
//!
//! The program starts, prepares its backends ([`startup`]: NATS with the
//! streams applied, PostgreSQL with the migrations applied), starts its
//! [`projections`], serves `/healthz`, `/readyz` and JSON errors for every
//! other path, and stops cleanly. [`run`] is what both `main.rs` and the tests
//! call, the latter on a listener bound to port 0.
//!
//! Layout: `config.rs` keys and validation, `error.rs` the JSON error shape,
//! `router.rs` the routes, `startup.rs` the start-up work, `projections.rs`
//! the projections this replica runs, `readmodel/` the PostgreSQL read models.

pub mod config;
pub mod error;
pub mod projections;
pub mod readmodel;
pub mod router;
pub mod startup;

pub use config::ApiConfig;
pub use projections::Projections;

use anyhow::Context;
use bamf_runtime::{health, Readiness, Shutdown};
use tokio::net::TcpListener;
use tracing::info;

/// Runs the API on `listener` until `shutdown` is triggered, then drains within
/// its grace period. Returns an error if start-up or the server fails; the
/// shutdown is triggered and drained in that case too.
pub async fn run(
    config: ApiConfig,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let readiness = Readiness::new();
    let outcome = serve_until_shutdown(&config, listener, &shutdown, &readiness).await;
    readiness.set(false);
    shutdown.trigger();
    shutdown.drain().await;
    info!("bamf-api stopped");
    outcome
}

async fn serve_until_shutdown(
    config: &ApiConfig,
    listener: TcpListener,
    shutdown: &Shutdown,
    readiness: &Readiness,
) -> anyhow::Result<()> {
    let addr = listener
        .local_addr()
        .context("listener has no local address")?;
    let app = router::router(readiness.clone());
    let mut server = shutdown.spawn(health::serve(listener, app, shutdown.clone()));
    info!(%addr, nats_url = %config.nats_url, data_dir = %config.data_dir.display(), "bamf-api listening");

    let start = async {
        let backends = startup::prepare(config).await?;
        Projections::start(&backends).await
    };
    let projections = tokio::select! {
        started = start => started.context("start-up failed")?,
        _ = shutdown.triggered() => return Ok(()),
    };
    readiness.set(true);
    info!("bamf-api ready");
    let outcome = health::until_stopped(&mut server, shutdown).await;
    // The final snapshot needs NATS; never wait for it past the grace period.
    if tokio::time::timeout(shutdown.grace(), projections.stop())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?shutdown.grace(), "projections did not stop within the grace period");
    }
    outcome
}

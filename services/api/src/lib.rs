//! bamf-api: the control plane (ARCHITECTURE §1) — REST API `/api/v1`, login,
//! RBAC, the internal CA, the session broker and the read-model projections.
//!
//! The program starts, prepares its backends ([`startup`]: NATS with the
//! streams applied, PostgreSQL with the migrations applied), starts its
//! [`projections`], serves `/healthz`, `/readyz` and JSON errors for every
//! other path, and stops cleanly. [`run`] is what both `main.rs` and the tests
//! call, the latter on a listener bound to port 0.
//!
//! Layout: `config.rs` keys and validation; `startup.rs` and `bootstrap.rs`
//! the start-up work (backends; CA and first admin); `projections.rs` the
//! projections this replica runs, `catalog.rs` the heartbeat follower,
//! `bridges.rs` the bridge heartbeat follower (and the choice of a bridge),
//! `readmodel/` the PostgreSQL read models; `app.rs` the shared state and how
//! commands are decided and appended; `router.rs` the routes, `handlers/` one
//! file per resource, `http/` request context, strict JSON bodies and the
//! authenticated caller, `dto.rs` the bodies, `openapi.rs` the document,
//! `error.rs` the JSON error shape, `secrets.rs` tokens and password hashes,
//! `seal.rs` the periodic signed audit seals.

pub mod app;
pub mod bootstrap;
pub mod bridges;
pub mod catalog;
pub mod config;
pub mod dto;
pub mod error;
pub mod follow;
pub mod handlers;
pub mod http;
pub mod openapi;
pub mod projections;
pub mod readmodel;
pub mod router;
pub mod seal;
pub mod secrets;
pub mod startup;

pub use config::ApiConfig;
pub use projections::Projections;

use std::sync::Arc;

use anyhow::Context;
use app::{App, AppSlot};
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
    let slot = AppSlot::new(config.max_body_bytes);
    let routes = router::router(readiness.clone(), slot.clone());
    let mut server = shutdown.spawn(health::serve(listener, routes, shutdown.clone()));
    info!(%addr, nats_url = %config.nats_url, data_dir = %config.data_dir.display(), "bamf-api listening");

    let start = async {
        let backends = startup::prepare(config).await?;
        let ca = bootstrap::load_ca(&config.data_dir)?;
        let seal_key = Arc::new(seal::load_or_create_key(&config.data_dir)?);
        let projections = Projections::start(&backends, config.audit_search_retention).await?;
        let catalog = catalog::CatalogFollower::start(&backends.js)
            .await
            .context("cannot follow agent heartbeats")?;
        let bridges = bridges::BridgeFollower::start(&backends.js)
            .await
            .context("cannot follow bridge heartbeats")?;
        let app = Arc::new(App::new(
            config.clone(),
            &backends,
            &projections,
            &catalog,
            &bridges,
            ca,
        ));
        bootstrap::first_admin(&app).await?;
        anyhow::Ok((projections, catalog, bridges, app, backends, seal_key))
    };
    let (projections, catalog, bridges, app, backends, seal_key) = tokio::select! {
        started = start => started.context("start-up failed")?,
        _ = shutdown.triggered() => return Ok(()),
    };
    let live = app.live.clone();
    slot.fill(app);
    shutdown.spawn(readmodel::audit_retention::run(
        backends.pool.clone(),
        config.audit_search_retention,
        shutdown.clone(),
    ));
    shutdown.spawn(seal::run(
        backends.js,
        seal_key,
        config.audit_seal_interval,
        shutdown.clone(),
    ));
    readiness.set(true);
    info!("bamf-api ready");
    let outcome = health::until_stopped(&mut server, shutdown).await;
    live.cancel();
    catalog.stop().await;
    bridges.stop().await;
    // The final snapshot needs NATS; never wait for it past the grace period.
    if tokio::time::timeout(shutdown.grace(), projections.stop())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?shutdown.grace(), "projections did not stop within the grace period");
    }
    outcome
}

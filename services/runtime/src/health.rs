//! `GET /healthz` (liveness) and `GET /readyz` (readiness), and serving a
//! router on a listener until shutdown.
//!
//! Liveness answers 200 whenever the process can serve HTTP at all. Readiness
//! answers 200 only while the program says it is ready (its backends are set
//! up, it can do useful work) and 503 otherwise, so orchestrators and the dev
//! stack route to it, or wait for it, on that signal.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::Shutdown;

/// Whether the program is ready; cheap to clone and share.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Not ready yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the program ready (or not).
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    /// Whether the program is ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Routes `/healthz` and `/readyz`, to merge into a program's router.
pub fn routes<S>(readiness: Readiness) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route(
            "/readyz",
            get(move || {
                let ready = readiness.is_ready();
                async move { readyz(ready) }
            }),
        )
}

fn readyz(ready: bool) -> (StatusCode, Json<Value>) {
    if ready {
        (StatusCode::OK, Json(json!({ "status": "ready" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready" })),
        )
    }
}

/// Serves `router` on `listener` until `shutdown` is triggered, then stops
/// accepting and lets open requests finish (bounded by the caller's drain).
/// Handlers may extract `ConnectInfo<SocketAddr>` (the peer address).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let token = shutdown.token().clone();
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(token.cancelled_owned())
        .await
}

/// Waits until `shutdown` is triggered or the `server` task (from
/// [`Shutdown::spawn`] of [`serve`]) ends. The server also ends on the shutdown
/// token; `biased` checks the token first so a requested stop is never mistaken
/// for the server giving up. A server that ends before shutdown is an error.
pub async fn until_stopped(
    server: &mut tokio::task::JoinHandle<std::io::Result<()>>,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    use anyhow::Context;
    tokio::select! {
        biased;
        _ = shutdown.triggered() => Ok(()),
        served = server => {
            served.context("HTTP server task panicked")?.context("HTTP server failed")?;
            anyhow::ensure!(shutdown.is_triggered(), "HTTP server stopped before shutdown");
            Ok(())
        }
    }
}

/// The whole run of a program whose only listener so far is its health
/// endpoint: serve `/healthz` and `/readyz` (ready at once, nothing to prepare)
/// on `listener` until `shutdown`, then drain within the grace period.
pub async fn run_health_only(
    program: &str,
    listener: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let addr = listener
        .local_addr()
        .context("listener has no local address")?;
    let readiness = Readiness::new();
    let router = routes(readiness.clone());
    let mut server = shutdown.spawn(serve(listener, router, shutdown.clone()));
    tracing::info!(health = %addr, "{program} listening");
    readiness.set(true);
    let outcome = until_stopped(&mut server, &shutdown).await;
    readiness.set(false);
    shutdown.trigger();
    shutdown.drain().await;
    tracing::info!("{program} stopped");
    outcome
}

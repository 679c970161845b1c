//! Work done at start, after the listener is up and before `/readyz` says ready:
//! the data directory, NATS with the streams of `deploy/nats/streams`, and
//! PostgreSQL with the migrations of `migrations/`.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use bamf_events::{jetstream, StreamOptions};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tracing::info;

use crate::{readmodel, ApiConfig};

/// How long to wait for a PostgreSQL connection before start-up fails.
const DATABASE_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The connections the API works with once it is prepared.
#[derive(Clone)]
pub struct Backends {
    pub nats: bamf_events::Client,
    pub js: jetstream::Context,
    pub pool: PgPool,
}

/// Prepares everything the API needs before it can serve.
pub async fn prepare(config: &ApiConfig) -> anyhow::Result<Backends> {
    ensure_data_dir(&config.data_dir)?;
    connect(config).await
}

/// Connects to NATS and PostgreSQL, applies the stream definitions
/// (idempotently) and the migrations. Also used by `projections rebuild`.
pub async fn connect(config: &ApiConfig) -> anyhow::Result<Backends> {
    let nats = bamf_events::ConnectOptions::new()
        .name("bamf-api")
        .connect(config.nats_url.as_str())
        .await
        .with_context(|| {
            format!(
                "cannot connect to NATS at {} (key \"nats_url\")",
                config.nats_url
            )
        })?;
    let js = jetstream::new(nats.clone());
    let streams = bamf_events::ensure_streams(
        &js,
        &StreamOptions {
            audit_max_age: Some(config.audit_max_age),
        },
    )
    .await
    .context("cannot set up the JetStream streams")?;
    for (stream, outcome) in streams {
        info!(%stream, ?outcome, "stream ready");
    }

    // The URL may hold a password: it is never logged.
    let pool = PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        .acquire_timeout(DATABASE_CONNECT_TIMEOUT)
        .connect(&config.database_url)
        .await
        .context("cannot connect to PostgreSQL (key \"database_url\")")?;
    readmodel::migrate(&pool)
        .await
        .context("cannot apply the read-model migrations")?;
    info!("read-model migrations applied");
    Ok(Backends { nats, js, pool })
}

/// Creates the data directory (mode 0700: it will hold the CA key) if missing.
fn ensure_data_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("cannot create data_dir {}", dir.display()))
}

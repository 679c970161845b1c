//! Work done at start, after the listener is up and before `/readyz` says ready.

use std::path::Path;

use anyhow::Context;

use crate::ApiConfig;

/// Prepares everything the API needs before it can serve.
pub async fn prepare(config: &ApiConfig) -> anyhow::Result<()> {
    ensure_data_dir(&config.data_dir)?;

    // ─── INTEGRATION POINT: streams and migrations ─────────────────────────────
    // Apply the JetStream stream definitions from deploy/nats (through
    // bamf-events, idempotently) against `config.nats_url`, then run the sqlx
    // migrations from migrations/ against `config.database_url`. Each step must
    // fail with context naming what it was doing; `run` then stops and the
    // program exits non-zero. Readiness turns on only after this returns Ok.
    // ────────────────────────────────────────────────────────────────────────────

    Ok(())
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

//! `bamf-api projections rebuild`: empty a projection's tables, reset its
//! checkpoint and parked records, and replay the whole log.

use bamf_events::feed::last_sequence;
use bamf_events::jetstream;
use sqlx::PgPool;

use super::runner::{catch_up, PgProjection, ReadModelError};

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    pub projection: &'static str,
    /// Events replayed (applied or parked).
    pub replayed: u64,
    /// The stream sequence the read model now reflects.
    pub seq: u64,
}

/// Rebuilds `projection` from the start of its stream up to the stream's
/// last sequence at call time. The reset is one transaction; a running
/// [`super::PgRunner`] of the same projection should be stopped first.
pub async fn rebuild<P: PgProjection>(
    pool: &PgPool,
    js: &jetstream::Context,
    projection: P,
) -> Result<RebuildReport, ReadModelError> {
    let name = projection.name();
    let db = |source| ReadModelError::Database {
        projection: name,
        source,
    };
    let mut tx = pool.begin().await.map_err(db)?;
    for table in projection.tables() {
        // Table names come from the projection's code, never from input.
        sqlx::query(&format!("TRUNCATE TABLE {table}"))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    sqlx::query("DELETE FROM parked_events WHERE projection = $1")
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    sqlx::query(
        "INSERT INTO projection_checkpoints (name, seq) VALUES ($1, 0) \
         ON CONFLICT (name) DO UPDATE SET seq = 0, updated_at = now()",
    )
    .bind(name)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    let last = last_sequence(js, projection.stream()).await?;
    let replayed = catch_up(pool, js, projection, last).await?;
    tracing::info!(
        projection = name,
        replayed,
        seq = last,
        "read model rebuilt"
    );
    Ok(RebuildReport {
        projection: name,
        replayed,
        seq: last,
    })
}

//! Retention of the audit search read model (`audit_search_retention`):
//! whole day partitions of `audit_records` whose day ended before
//! `now - retention` are dropped, at start and every [`RETENTION_INTERVAL`].
//! The records stay in `BAMF_AUDIT` (its own `audit_max_age`); only the
//! search forgets them.

use std::time::Duration;

use bamf_runtime::Shutdown;
use sqlx::PgPool;
use time::OffsetDateTime;
use tracing::{info, warn};

use super::audit::{cutoff, partition_date, AUDIT_RECORDS};
use super::checkpoint;

/// How often expired partitions are looked for.
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// Longest a drop waits for searches holding the table: a busy moment is
/// retried at the next round rather than queueing every search behind it.
const LOCK_TIMEOUT: &str = "5s";

/// Drops the day partitions of `audit_records` that lie entirely before
/// `now - retention`; answers their names, oldest first. Takes the read
/// model's checkpoint lock, so it never interleaves with the projection
/// inserting (and creating partitions) on any replica.
pub async fn drop_expired(
    pool: &PgPool,
    retention: Duration,
    now: OffsetDateTime,
) -> Result<Vec<String>, sqlx::Error> {
    let cutoff = cutoff(now, retention);
    checkpoint::ensure(pool, AUDIT_RECORDS).await?;
    let mut tx = pool.begin().await?;
    sqlx::query(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        .execute(&mut *tx)
        .await?;
    checkpoint::lock(&mut tx, AUDIT_RECORDS).await?;
    let partitions: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = to_regclass($1) ORDER BY c.relname",
    )
    .bind(AUDIT_RECORDS)
    .fetch_all(&mut *tx)
    .await?;
    let mut dropped = Vec::new();
    for name in partitions {
        let Some(day) = partition_date(&name) else {
            warn!(partition = %name, "not a day partition of audit_records; left alone");
            continue;
        };
        // The day ends at the next midnight (UTC): drop only when all of it
        // is older than the cutoff.
        let Some(end) = day.next_day() else { continue };
        if end.midnight().assume_utc() <= cutoff {
            // The name was read from the catalogue and parsed as ours.
            sqlx::query(&format!("DROP TABLE {name}"))
                .execute(&mut *tx)
                .await?;
            dropped.push(name);
        }
    }
    tx.commit().await?;
    Ok(dropped)
}

/// Applies the retention now and every [`RETENTION_INTERVAL`] until shutdown.
/// A failed round is logged and retried at the next.
pub async fn run(pool: PgPool, retention: Duration, shutdown: Shutdown) {
    let mut ticker = tokio::time::interval(RETENTION_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.triggered() => return,
            _ = ticker.tick() => {}
        }
        let round = drop_expired(&pool, retention, OffsetDateTime::now_utc());
        let outcome = tokio::select! {
            _ = shutdown.triggered() => return,
            outcome = round => outcome,
        };
        match outcome {
            Ok(dropped) if dropped.is_empty() => {}
            Ok(dropped) => info!(
                partitions = ?dropped,
                retention = %bamf_runtime::duration::format(retention),
                "audit search: expired day partitions dropped"
            ),
            Err(error) => warn!(
                error = %error,
                "audit search: cannot drop expired partitions; retrying at the next round"
            ),
        }
    }
}

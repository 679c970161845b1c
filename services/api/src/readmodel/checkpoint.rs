//! Checkpoint and parked-event queries.

use sqlx::{PgConnection, PgPool};

use bamf_events::Parked;

/// Creates the checkpoint row if missing.
pub(crate) async fn ensure(pool: &PgPool, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO projection_checkpoints (name, seq) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .execute(pool)
        .await?;
    Ok(())
}

/// The last sequence `name` applied (0 when it never ran).
pub async fn checkpoint(pool: &PgPool, name: &str) -> Result<u64, sqlx::Error> {
    let seq: Option<i64> =
        sqlx::query_scalar("SELECT seq FROM projection_checkpoints WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?;
    Ok(seq.map_or(0, to_u64))
}

/// Locks the checkpoint row for this transaction and returns it.
pub(crate) async fn lock(conn: &mut PgConnection, name: &str) -> Result<u64, sqlx::Error> {
    let seq: i64 =
        sqlx::query_scalar("SELECT seq FROM projection_checkpoints WHERE name = $1 FOR UPDATE")
            .bind(name)
            .fetch_one(conn)
            .await?;
    Ok(to_u64(seq))
}

pub(crate) async fn advance(
    conn: &mut PgConnection,
    name: &str,
    seq: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE projection_checkpoints SET seq = $2, updated_at = now() WHERE name = $1")
        .bind(name)
        .bind(to_i64(seq))
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) async fn park(
    conn: &mut PgConnection,
    name: &str,
    parked: &Parked,
    payload: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO parked_events (projection, seq, subject, reason, detail, payload) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (projection, seq) DO NOTHING",
    )
    .bind(name)
    .bind(to_i64(parked.seq))
    .bind(&parked.subject)
    .bind(&parked.reason)
    .bind(&parked.detail)
    .bind(payload)
    .execute(conn)
    .await?;
    Ok(())
}

/// The messages `name` parked, by sequence.
pub async fn parked(pool: &PgPool, name: &str) -> Result<Vec<Parked>, sqlx::Error> {
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT seq, subject, reason, detail FROM parked_events WHERE projection = $1 ORDER BY seq",
    )
    .bind(name)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(seq, subject, reason, detail)| Parked {
            seq: to_u64(seq),
            subject,
            reason,
            detail,
        })
        .collect())
}

/// Stream sequences fit in i64 in practice (2^63 messages); saturate rather than wrap.
pub(crate) fn to_i64(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(seq: i64) -> u64 {
    u64::try_from(seq).unwrap_or(0)
}

//! The event history read model: one row per domain event in `event_history`,
//! keyed by stream sequence, indexed by aggregate and time.

use bamf_domain::Envelope;
use sqlx::PgConnection;

use super::PgProjection;

/// Projects every domain event into `event_history`.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventHistory;

impl PgProjection for EventHistory {
    fn name(&self) -> &'static str {
        "event_history"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["event_history"]
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        seq: u64,
        envelope: &Envelope,
    ) -> Result<(), sqlx::Error> {
        let seq = i64::try_from(seq).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        sqlx::query(
            "INSERT INTO event_history (seq, event_id, event_type, version, occurred_at, \
             actor_kind, actor_id, subject_kind, subject_id, request_id) \
             VALUES ($1, $2, $3, $4, $5::timestamptz, $6, $7, $8, $9, $10)",
        )
        .bind(seq)
        .bind(envelope.id.to_string())
        .bind(envelope.event.event_type())
        .bind(envelope.event.version() as i32)
        .bind(envelope.time.to_string())
        .bind(envelope.actor.kind.as_str())
        .bind(&envelope.actor.id)
        .bind(envelope.event.aggregate())
        .bind(envelope.aggregate_id.as_str())
        .bind(envelope.request_id.as_deref())
        .execute(tx)
        .await?;
        Ok(())
    }
}

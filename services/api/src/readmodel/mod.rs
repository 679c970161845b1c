//! Read models in PostgreSQL (ARCHITECTURE §2 "Reading"): projections of the
//! event log into tables that can always be dropped and rebuilt.
//!
//! A [`PgProjection`] writes its rows for one event; the [`runner`] applies
//! each event and the projection's checkpoint in one transaction (the
//! checkpoint row is locked first, so a replayed or concurrently delivered
//! event is skipped, never applied twice), parks poison in `parked_events`,
//! and offers a bounded read-your-writes wait. [`rebuild`] empties a
//! projection's tables and replays the log (`bamf-api projections rebuild`).
//! [`migrate`] applies `migrations/`.
//!
//! Read models: [`EventHistory`] (`event_history`, from `BAMF_EVENTS`) and
//! [`AuditRecords`] (`audit_records`, the audit search, from `BAMF_AUDIT`;
//! [`audit_query`] searches it, [`audit_retention`] drops expired days).

pub mod audit;
pub mod audit_query;
pub mod audit_retention;
mod checkpoint;
mod history;
mod rebuild;
pub mod runner;

pub use audit::AuditRecords;
pub use checkpoint::{checkpoint, parked};
pub use history::EventHistory;
pub use rebuild::{rebuild, RebuildReport};
pub use runner::{PgProjection, PgRunner, ReadModelError};

use sqlx::PgPool;

/// Applies the read-model migrations (`migrations/` at the repository root).
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("../../migrations").run(pool).await
}

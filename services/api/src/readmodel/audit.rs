//! The audit search read model (docs/audit.md "Search"): one row per
//! `BAMF_AUDIT` record in `audit_records` — the sourced domain events and the
//! audit-only records — with the payload kept verbatim.
//!
//! The table is range-partitioned by the record's time, one partition per UTC
//! day ([`partition_name`]), created on demand in the transaction that inserts
//! the day's first record. Retention ([`super::audit_retention`]) drops whole
//! days; a record already older than the retention when it arrives is not
//! inserted (its checkpoint still advances). Querying is
//! [`super::audit_query`].
//!
//! The columns a search filters on are derived here from the envelope, by the
//! pure [`AuditRow::from_record`]: the outcome and reason field come from the
//! domain's per-type answers (the same ones `schemas/audit/catalogue.json` is
//! generated from); the resource from the record's data where it names one,
//! else from the session it belongs to.

use std::time::Duration;

use bamf_domain::events::{AccessDenied, Event};
use bamf_domain::{Envelope, Timestamp};
use bamf_events::streams::AUDIT_STREAM;
use sqlx::PgConnection;
use time::{Date, OffsetDateTime};

use super::checkpoint::to_i64;
use super::PgProjection;

/// Checkpoint name of the audit search read model.
pub const AUDIT_RECORDS: &str = "audit_records";

/// Where a record's resource comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceRef {
    /// The record has none.
    None,
    /// The record names it.
    Named(String),
    /// The resource of this tunnel session (its `session.requested`).
    OfSession(String),
}

/// One record as the read model stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: u64,
    pub record_id: String,
    pub time: Timestamp,
    pub action: &'static str,
    pub version: u32,
    pub outcome: &'static str,
    pub actor_kind: &'static str,
    pub actor_id: String,
    pub actor_email: Option<String>,
    pub actor_address: Option<String>,
    pub target_kind: &'static str,
    pub target_id: String,
    pub resource: ResourceRef,
    pub request_id: Option<String>,
    pub reason: Option<String>,
    /// The payload verbatim.
    pub record: String,
}

impl AuditRow {
    /// The row of record `envelope`, stream sequence `seq`, stored as `payload`.
    pub fn from_record(seq: u64, envelope: &Envelope, payload: &[u8]) -> AuditRow {
        let event = &envelope.event;
        AuditRow {
            seq,
            record_id: envelope.id.to_string(),
            time: envelope.time,
            action: event.event_type(),
            version: event.version(),
            outcome: event.outcome().as_str(),
            actor_kind: envelope.actor.kind.as_str(),
            actor_id: envelope.actor.id.clone(),
            actor_email: envelope.actor.email.clone(),
            actor_address: envelope.actor.ip.map(|ip| ip.to_string()),
            target_kind: event.aggregate(),
            target_id: envelope.aggregate_id.as_str().to_string(),
            resource: resource_of(envelope),
            request_id: envelope.request_id.clone(),
            reason: reason_of(event),
            record: String::from_utf8_lossy(payload).into_owned(),
        }
    }
}

/// Where the resource of `envelope` comes from.
fn resource_of(envelope: &Envelope) -> ResourceRef {
    match &envelope.event {
        Event::SessionRequested(e) => ResourceRef::Named(e.resource.clone()),
        Event::AccessDenied(e)
            if e.action == AccessDenied::SESSIONS_CONNECT && !e.target.is_empty() =>
        {
            ResourceRef::Named(e.target.clone())
        }
        Event::AccessDenied(e)
            if e.action == AccessDenied::BRIDGE_CONNECT && !e.target.is_empty() =>
        {
            ResourceRef::OfSession(e.target.clone())
        }
        event if event.aggregate() == "session" => {
            ResourceRef::OfSession(envelope.aggregate_id.as_str().to_string())
        }
        _ => ResourceRef::None,
    }
}

/// The value of the type's reason field, if it has one.
fn reason_of(event: &Event) -> Option<String> {
    let field = event.reason_field()?;
    let data = event.serialize_data(serde_json::value::Serializer).ok()?;
    data.get(field)?.as_str().map(str::to_string)
}

/// The day partition holding `date`: `audit_records_pYYYYMMDD`.
pub fn partition_name(date: Date) -> String {
    format!(
        "{AUDIT_RECORDS}_p{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The day of a partition named by [`partition_name`] (`None` for any other name).
pub fn partition_date(name: &str) -> Option<Date> {
    let digits = name.strip_prefix(AUDIT_RECORDS)?.strip_prefix("_p")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year = digits[..4].parse().ok()?;
    let month = digits[4..6].parse::<u8>().ok()?.try_into().ok()?;
    let day = digits[6..].parse().ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

/// Creates the day partition for `date` unless it exists. Runs inside the
/// caller's transaction (serialised with other writers by the checkpoint lock).
async fn ensure_partition(tx: &mut PgConnection, date: Date) -> Result<(), sqlx::Error> {
    let name = partition_name(date);
    let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(&name)
        .fetch_one(&mut *tx)
        .await?;
    if exists.is_some() {
        return Ok(());
    }
    let next = date.next_day().unwrap_or(Date::MAX);
    // The name and bounds are made here from a date, never from input.
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {name} PARTITION OF {AUDIT_RECORDS} \
         FOR VALUES FROM ('{date} 00:00:00+00') TO ('{next} 00:00:00+00')"
    ))
    .execute(&mut *tx)
    .await?;
    tracing::info!(partition = %name, "audit search partition created");
    Ok(())
}

/// The resource of tunnel session `session` from its earlier records.
pub async fn session_resource(
    conn: &mut PgConnection,
    session: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT resource FROM audit_records WHERE target_kind = 'session' AND target_id = $1 \
         AND resource IS NOT NULL ORDER BY occurred_at LIMIT 1",
    )
    .bind(session)
    .fetch_optional(conn)
    .await
}

/// The resource of `row`, looked up when it belongs to a session.
pub async fn resolve_resource(
    conn: &mut PgConnection,
    row: &AuditRow,
) -> Result<Option<String>, sqlx::Error> {
    match &row.resource {
        ResourceRef::None => Ok(None),
        ResourceRef::Named(name) => Ok(Some(name.clone())),
        ResourceRef::OfSession(session) => session_resource(conn, session).await,
    }
}

/// The oldest time `retention` keeps at `now` (the distant past when the
/// retention reaches further back than time can go).
pub fn cutoff(now: OffsetDateTime, retention: Duration) -> OffsetDateTime {
    time::Duration::try_from(retention)
        .ok()
        .and_then(|d| now.checked_sub(d))
        .unwrap_or(time::PrimitiveDateTime::MIN.assume_utc())
}

/// Projects every `BAMF_AUDIT` record into `audit_records`, skipping those
/// already older than `retention` when they arrive.
#[derive(Debug, Clone, Copy)]
pub struct AuditRecords {
    pub retention: Duration,
}

impl AuditRecords {
    /// Inserts `row` unless it is older than the retention at `now`; answers
    /// whether it did.
    pub async fn insert(
        &self,
        tx: &mut PgConnection,
        row: &AuditRow,
        now: OffsetDateTime,
    ) -> Result<bool, sqlx::Error> {
        let time = row.time.get();
        if time < cutoff(now, self.retention) {
            tracing::debug!(seq = row.seq, time = %row.time, "audit record older than the search retention; not kept");
            return Ok(false);
        }
        ensure_partition(tx, time.date()).await?;
        let resource = resolve_resource(tx, row).await?;
        sqlx::query(
            "INSERT INTO audit_records (seq, record_id, occurred_at, action, version, outcome, \
             actor_kind, actor_id, actor_email, actor_address, target_kind, target_id, resource, \
             request_id, reason, record) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(to_i64(row.seq))
        .bind(&row.record_id)
        .bind(time)
        .bind(row.action)
        .bind(i32::try_from(row.version).unwrap_or(i32::MAX))
        .bind(row.outcome)
        .bind(row.actor_kind)
        .bind(&row.actor_id)
        .bind(row.actor_email.as_deref())
        .bind(row.actor_address.as_deref())
        .bind(row.target_kind)
        .bind(&row.target_id)
        .bind(resource.as_deref())
        .bind(row.request_id.as_deref())
        .bind(row.reason.as_deref())
        .bind(&row.record)
        .execute(&mut *tx)
        .await?;
        Ok(true)
    }
}

impl PgProjection for AuditRecords {
    fn name(&self) -> &'static str {
        AUDIT_RECORDS
    }

    fn tables(&self) -> &'static [&'static str] {
        &[AUDIT_RECORDS]
    }

    fn stream(&self) -> &'static str {
        AUDIT_STREAM
    }

    /// Without the stored payload, the record is re-encoded (the same bytes
    /// for every record bamf wrote); the runner always passes the payload.
    async fn apply(
        &self,
        tx: &mut PgConnection,
        seq: u64,
        envelope: &Envelope,
    ) -> Result<(), sqlx::Error> {
        let payload = envelope
            .encode()
            .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        self.apply_message(tx, seq, envelope, &payload).await
    }

    async fn apply_message(
        &self,
        tx: &mut PgConnection,
        seq: u64,
        envelope: &Envelope,
        payload: &[u8],
    ) -> Result<(), sqlx::Error> {
        let row = AuditRow::from_record(seq, envelope, payload);
        self.insert(tx, &row, OffsetDateTime::now_utc()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bamf_domain::events::{LoginFailed, SessionClosed, SessionRequested, UserCreated};
    use bamf_domain::{Actor, ActorKind, AggregateId};
    use time::macros::date;

    use super::*;

    fn envelope(id: &str, event: Event) -> Envelope {
        let mut e = Envelope::new(
            ulid::Ulid::from_parts(1_700_000_000_000, 1),
            Timestamp::from_unix_micros(1_795_000_000_123_456),
            Actor {
                kind: ActorKind::User,
                id: "01jdu".into(),
                email: Some("alice@corp.example".into()),
                ip: Some("192.0.2.7".parse().unwrap()),
            },
            AggregateId::new(id).unwrap(),
            event,
        );
        e.request_id = Some("req-1".into());
        e
    }

    #[test]
    fn a_row_holds_the_searchable_fields_and_the_payload_verbatim() {
        let e = envelope(
            "01jdl",
            Event::LoginFailed(LoginFailed {
                email: "mallory@corp.example".into(),
                provider: "local".into(),
                reason: "wrong_password".into(),
            }),
        );
        let payload = e.encode().unwrap();
        let row = AuditRow::from_record(7, &e, &payload);
        assert_eq!(row.seq, 7);
        assert_eq!(row.record_id, e.id.to_string());
        assert_eq!(row.action, "login.failed");
        assert_eq!(row.outcome, "failure");
        assert_eq!(row.reason.as_deref(), Some("wrong_password"));
        assert_eq!((row.actor_kind, row.actor_id.as_str()), ("user", "01jdu"));
        assert_eq!(row.actor_email.as_deref(), Some("alice@corp.example"));
        assert_eq!(row.actor_address.as_deref(), Some("192.0.2.7"));
        assert_eq!(
            (row.target_kind, row.target_id.as_str()),
            ("login", "01jdl")
        );
        assert_eq!(row.request_id.as_deref(), Some("req-1"));
        assert_eq!(row.resource, ResourceRef::None);
        assert_eq!(row.record.as_bytes(), payload.as_slice());

        let created = envelope(
            "01jdu",
            Event::UserCreated(UserCreated {
                email: "bob@corp.example".into(),
                display_name: "Bob".into(),
                roles: vec![],
            }),
        );
        let row = AuditRow::from_record(8, &created, b"{}");
        assert_eq!((row.outcome, row.reason), ("success", None));
    }

    #[test]
    fn the_resource_comes_from_the_data_or_the_session() {
        let requested = envelope(
            "01jds",
            Event::SessionRequested(SessionRequested {
                user_id: AggregateId::new("01jdu").unwrap(),
                resource: "orders-db".into(),
                resource_type: "postgres".into(),
            }),
        );
        assert_eq!(
            resource_of(&requested),
            ResourceRef::Named("orders-db".into())
        );
        let closed = envelope(
            "01jds",
            Event::SessionClosed(SessionClosed {
                bytes_up: 1,
                bytes_down: 2,
                reason: "killed".into(),
            }),
        );
        assert_eq!(resource_of(&closed), ResourceRef::OfSession("01jds".into()));
        let denied = |action: &str, target: &str| {
            resource_of(&envelope(
                "01jdx",
                Event::AccessDenied(AccessDenied {
                    action: action.into(),
                    target: target.into(),
                    reason: "no".into(),
                }),
            ))
        };
        assert_eq!(
            denied(AccessDenied::SESSIONS_CONNECT, "orders-db"),
            ResourceRef::Named("orders-db".into())
        );
        assert_eq!(
            denied(AccessDenied::BRIDGE_CONNECT, "01jds"),
            ResourceRef::OfSession("01jds".into())
        );
        assert_eq!(
            denied("users.create", "bob@corp.example"),
            ResourceRef::None
        );
        assert_eq!(
            denied(AccessDenied::SESSIONS_CONNECT, ""),
            ResourceRef::None
        );
    }

    #[test]
    fn partitions_are_named_by_their_utc_day() {
        assert_eq!(
            partition_name(date!(2026 - 11 - 02)),
            "audit_records_p20261102"
        );
        assert_eq!(
            partition_date("audit_records_p20261102"),
            Some(date!(2026 - 11 - 02))
        );
        for other in [
            "audit_records",
            "audit_records_p2026110",
            "audit_records_p20261302",
            "audit_records_p2026-1102",
            "event_history",
        ] {
            assert_eq!(partition_date(other), None, "{other}");
        }
    }
}

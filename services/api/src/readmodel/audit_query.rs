//! Searching the audit read model: filters, newest first, keyset pagination
//! on `(occurred_at, seq)` (a page starts strictly after the last row of the
//! previous one, so rows arriving meanwhile never shift a page).

use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use time::OffsetDateTime;

use super::audit::AUDIT_RECORDS;
use super::checkpoint::{to_i64, to_u64};

/// Which actions a search matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionFilter {
    /// Exactly this type, e.g. `session.granted`.
    Exact(String),
    /// Every type starting with this, e.g. `session.` (from `session.*`).
    Prefix(String),
}

impl ActionFilter {
    /// Whether `action` matches.
    pub fn matches(&self, action: &str) -> bool {
        match self {
            ActionFilter::Exact(a) => action == a,
            ActionFilter::Prefix(p) => action.starts_with(p.as_str()),
        }
    }
}

/// A position in newest-first order: the last row of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub time: OffsetDateTime,
    pub seq: u64,
}

/// What to search for. Empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct Search {
    /// Records at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Records before this time.
    pub until: Option<OffsetDateTime>,
    /// The actor's id, or e-mail (case-insensitive).
    pub actor: Option<String>,
    pub action: Option<ActionFilter>,
    pub resource: Option<String>,
    /// `success` or `failure`.
    pub outcome: Option<String>,
    /// Rows after this position (the previous page's last).
    pub after: Option<Position>,
    /// Most rows answered.
    pub limit: u32,
}

/// One row found, as stored.
#[derive(Debug, Clone)]
pub struct FoundRecord {
    pub seq: u64,
    pub time: OffsetDateTime,
    pub action: String,
    pub outcome: String,
    pub actor_kind: String,
    pub actor_id: String,
    pub actor_email: Option<String>,
    pub actor_address: Option<String>,
    pub target_kind: String,
    pub target_id: String,
    pub resource: Option<String>,
    pub request_id: Option<String>,
    pub reason: Option<String>,
    /// The payload verbatim.
    pub record: String,
}

/// A page of results.
#[derive(Debug, Clone)]
pub struct Found {
    pub records: Vec<FoundRecord>,
    /// Whether more rows match after the last one.
    pub more: bool,
    /// The `BAMF_AUDIT` sequence the read model reflected for this page.
    pub as_of_seq: u64,
}

/// `LIKE` pattern of a prefix: `_`, `%` and `\` escaped.
fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Runs `search` in one snapshot with the read model's checkpoint.
pub async fn search(pool: &PgPool, search: &Search) -> Result<Found, sqlx::Error> {
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
        "SELECT seq, occurred_at, action, outcome, actor_kind, actor_id, actor_email, \
         actor_address, target_kind, target_id, resource, request_id, reason, record \
         FROM audit_records WHERE true",
    );
    if let Some(since) = search.since {
        q.push(" AND occurred_at >= ").push_bind(since);
    }
    if let Some(until) = search.until {
        q.push(" AND occurred_at < ").push_bind(until);
    }
    if let Some(actor) = &search.actor {
        q.push(" AND (actor_id = ")
            .push_bind(actor.clone())
            .push(" OR lower(actor_email) = lower(")
            .push_bind(actor.clone())
            .push("))");
    }
    match &search.action {
        Some(ActionFilter::Exact(a)) => {
            q.push(" AND action = ").push_bind(a.clone());
        }
        Some(ActionFilter::Prefix(p)) => {
            q.push(" AND action LIKE ")
                .push_bind(like_prefix(p))
                .push(" ESCAPE '\\'");
        }
        None => {}
    }
    if let Some(resource) = &search.resource {
        q.push(" AND resource = ").push_bind(resource.clone());
    }
    if let Some(outcome) = &search.outcome {
        q.push(" AND outcome = ").push_bind(outcome.clone());
    }
    if let Some(after) = search.after {
        q.push(" AND (occurred_at, seq) < (")
            .push_bind(after.time)
            .push(", ")
            .push_bind(to_i64(after.seq))
            .push(")");
    }
    q.push(" ORDER BY occurred_at DESC, seq DESC LIMIT ")
        .push_bind(i64::from(search.limit) + 1);

    // One snapshot for the rows and the checkpoint: every record up to
    // `as_of_seq` is either on this page (or a later one) or does not match.
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let as_of: Option<i64> =
        sqlx::query_scalar("SELECT seq FROM projection_checkpoints WHERE name = $1")
            .bind(AUDIT_RECORDS)
            .fetch_optional(&mut *tx)
            .await?;
    let rows = q.build().fetch_all(&mut *tx).await?;
    tx.commit().await?;

    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        records.push(FoundRecord {
            seq: to_u64(row.try_get("seq")?),
            time: row.try_get("occurred_at")?,
            action: row.try_get("action")?,
            outcome: row.try_get("outcome")?,
            actor_kind: row.try_get("actor_kind")?,
            actor_id: row.try_get("actor_id")?,
            actor_email: row.try_get("actor_email")?,
            actor_address: row.try_get("actor_address")?,
            target_kind: row.try_get("target_kind")?,
            target_id: row.try_get("target_id")?,
            resource: row.try_get("resource")?,
            request_id: row.try_get("request_id")?,
            reason: row.try_get("reason")?,
            record: row.try_get("record")?,
        });
    }
    let limit = usize::try_from(search.limit).unwrap_or(usize::MAX);
    let more = records.len() > limit;
    records.truncate(limit);
    Ok(Found {
        records,
        more,
        as_of_seq: as_of.map_or(0, to_u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_escape_like_wildcards() {
        assert_eq!(like_prefix("session."), "session.%");
        assert_eq!(like_prefix("role_binding."), "role\\_binding.%");
        assert_eq!(like_prefix("a%b\\"), "a\\%b\\\\%");
    }

    #[test]
    fn action_filters_match_exactly_or_by_prefix() {
        let exact = ActionFilter::Exact("session.granted".into());
        assert!(exact.matches("session.granted"));
        assert!(!exact.matches("session.granted2"));
        let prefix = ActionFilter::Prefix("session.".into());
        assert!(prefix.matches("session.killed"));
        assert!(!prefix.matches("sessions.x"));
        assert!(!prefix.matches("login.failed"));
    }
}

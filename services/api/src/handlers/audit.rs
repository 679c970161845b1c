//! `GET /audit` (admin, audit): search the audit trail — the `audit_records`
//! read model of `BAMF_AUDIT` — by time range, actor, action, resource and
//! outcome, newest first, a page at a time (`GET /audit/stream` in
//! `audit_stream.rs` follows new records live).
//!
//! The cursor is opaque to clients: the last row's `(time, seq)` and a check
//! (truncated SHA-256) over that position and the search's filters. A cursor
//! that was altered, or is used with other filters, is refused with a 400. It
//! is not a secret and needs no key: it only positions a search the caller may
//! run anyway, and any replica accepts any replica's cursors.

use axum::Json;
use bamf_domain::control::rbac::AdminAccess;
use bamf_domain::subject::validate_token;
use bamf_domain::Timestamp;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tracing::warn;

use crate::app::Api;
use crate::dto;
use crate::error::ApiError;
use crate::http::{Caller, QueryArgs, RequestContext};
use crate::readmodel::audit::{AuditRow, AUDIT_RECORDS};
use crate::readmodel::audit_query::{self, ActionFilter, FoundRecord, Position, Search};

/// Records per page unless the caller says.
pub const DEFAULT_LIMIT: u32 = 100;
/// Most records per page.
pub const MAX_LIMIT: u32 = 1000;
/// Longest actor or resource filter accepted (an e-mail is at most 254).
const MAX_FILTER_CHARS: usize = 320;
/// Cursor layout: version, time (µs since the epoch), sequence, check.
const CURSOR_VERSION: u8 = 1;
const CURSOR_LEN: usize = 1 + 8 + 8 + CHECK_LEN;
const CHECK_LEN: usize = 8;

/// Query of `GET /audit`. Empty values are as if absent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Records at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Records before this time (RFC 3339).
    pub until: Option<String>,
    /// The actor's id or e-mail.
    pub actor: Option<String>,
    /// A type (`login.failed`) or a prefix (`session.*`).
    pub action: Option<String>,
    pub resource: Option<String>,
    /// `success` or `failure`.
    pub outcome: Option<String>,
    /// Records per page, 1 to 1000 (default 100).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A value given, not empty.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// Parses an RFC 3339 time parameter.
fn parse_time(field: &str, text: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        let hint = if text.contains(' ') {
            " (send a `+` offset as %2B, or use Z)"
        } else {
            ""
        };
        ApiError::invalid_argument(format!(
            "{field}: {text:?} is not an RFC 3339 time like 2026-11-22T10:00:00Z{hint}"
        ))
    })
}

/// `login.failed` exactly, or `session.*` for every `session.` type.
pub(crate) fn parse_action(text: &str) -> Result<ActionFilter, ApiError> {
    let refused = || {
        ApiError::invalid_argument(format!(
            "action: {text:?} is not a record type like login.failed or a prefix like session.*"
        ))
    };
    let (aggregate, name) = text.split_once('.').ok_or_else(refused)?;
    validate_token(aggregate).map_err(|_| refused())?;
    if name == "*" {
        return Ok(ActionFilter::Prefix(format!("{aggregate}.")));
    }
    validate_token(name).map_err(|_| refused())?;
    Ok(ActionFilter::Exact(text.to_string()))
}

/// `success` or `failure`.
pub(crate) fn parse_outcome(text: &str) -> Result<String, ApiError> {
    match text {
        "success" | "failure" => Ok(text.to_string()),
        _ => Err(ApiError::invalid_argument(format!(
            "outcome: {text:?} is neither success nor failure"
        ))),
    }
}

/// A free-text filter (actor, resource), bounded.
pub(crate) fn parse_text(field: &str, text: &str) -> Result<String, ApiError> {
    if text.chars().count() > MAX_FILTER_CHARS {
        return Err(ApiError::invalid_argument(format!(
            "{field}: longer than {MAX_FILTER_CHARS} characters"
        )));
    }
    Ok(text.to_string())
}

fn parse_limit(text: Option<&str>) -> Result<u32, ApiError> {
    let Some(text) = text else {
        return Ok(DEFAULT_LIMIT);
    };
    match text.parse::<u32>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::invalid_argument(format!(
            "limit: {text:?} is not a whole number from 1 to {MAX_LIMIT}"
        ))),
    }
}

/// A search and the text its cursors are checked against.
#[derive(Debug)]
pub struct Parsed {
    pub search: Search,
    /// The filters, canonical: a cursor is valid only for the same ones.
    filters: String,
}

/// Parses and checks every parameter.
pub fn parse(query: &AuditQuery) -> Result<Parsed, ApiError> {
    let since = given(&query.since)
        .map(|t| parse_time("since", t))
        .transpose()?;
    let until = given(&query.until)
        .map(|t| parse_time("until", t))
        .transpose()?;
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            return Err(ApiError::invalid_argument(
                "since is after until: the time range is empty the wrong way round",
            ));
        }
    }
    let actor = given(&query.actor)
        .map(|a| parse_text("actor", a))
        .transpose()?;
    let action = given(&query.action).map(parse_action).transpose()?;
    let resource = given(&query.resource)
        .map(|r| parse_text("resource", r))
        .transpose()?;
    let outcome = given(&query.outcome).map(parse_outcome).transpose()?;
    let limit = parse_limit(given(&query.limit))?;
    let nanos = |t: Option<OffsetDateTime>| t.map(|t| t.unix_timestamp_nanos().to_string());
    let filters = [
        ("since", nanos(since)),
        ("until", nanos(until)),
        ("actor", actor.clone()),
        ("action", given(&query.action).map(str::to_string)),
        ("resource", resource.clone()),
        ("outcome", outcome.clone()),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("")))
    .collect::<Vec<_>>()
    .join("\0");
    let after = given(&query.cursor)
        .map(|c| decode_cursor(c, &filters))
        .transpose()?;
    Ok(Parsed {
        search: Search {
            since,
            until,
            actor,
            action,
            resource,
            outcome,
            after,
            limit,
        },
        filters,
    })
}

fn check(time_micros: i64, seq: u64, filters: &str) -> [u8; CHECK_LEN] {
    let digest = Sha256::new()
        .chain_update(b"bamf audit cursor\0")
        .chain_update([CURSOR_VERSION])
        .chain_update(time_micros.to_be_bytes())
        .chain_update(seq.to_be_bytes())
        .chain_update(filters.as_bytes())
        .finalize();
    let mut out = [0; CHECK_LEN];
    out.copy_from_slice(&digest[..CHECK_LEN]);
    out
}

fn micros(time: OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// The cursor after `position` for a search with `filters`.
fn encode_cursor(position: Position, filters: &str) -> String {
    let t = micros(position.time);
    let mut bytes = Vec::with_capacity(CURSOR_LEN);
    bytes.push(CURSOR_VERSION);
    bytes.extend_from_slice(&t.to_be_bytes());
    bytes.extend_from_slice(&position.seq.to_be_bytes());
    bytes.extend_from_slice(&check(t, position.seq, filters));
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_cursor(text: &str, filters: &str) -> Result<Position, ApiError> {
    let malformed = || {
        ApiError::invalid_argument(
            "cursor: not a cursor from a page of this search; pass next_cursor unchanged",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| malformed())?;
    if bytes.len() != CURSOR_LEN || bytes[0] != CURSOR_VERSION {
        return Err(malformed());
    }
    let word = |at: usize| {
        let mut b = [0; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        b
    };
    let t = i64::from_be_bytes(word(1));
    let seq = u64::from_be_bytes(word(9));
    if bytes[17..] != check(t, seq, filters) {
        return Err(ApiError::invalid_argument(
            "cursor: it was altered, or belongs to a search with other filters; \
             repeat the search without a cursor",
        ));
    }
    let time = OffsetDateTime::from_unix_timestamp_nanos(i128::from(t) * 1_000)
        .map_err(|_| malformed())?;
    Ok(Position { time, seq })
}

/// An item of the answer from a stored row.
fn found_item(found: FoundRecord) -> Result<dto::AuditRecord, ApiError> {
    let record = serde_json::value::RawValue::from_string(found.record).map_err(|e| {
        ApiError::internal(
            anyhow::Error::new(e).context(format!("audit record {} is not JSON", found.seq)),
        )
    })?;
    Ok(dto::AuditRecord {
        seq: found.seq,
        time: Timestamp::new(found.time).to_string(),
        action: found.action,
        outcome: found.outcome,
        actor: dto::AuditActor {
            kind: found.actor_kind,
            id: found.actor_id,
            email: found.actor_email,
            address: found.actor_address,
        },
        target: dto::AuditTarget {
            kind: found.target_kind,
            id: found.target_id,
        },
        resource: found.resource,
        request_id: found.request_id,
        reason: found.reason,
        record,
    })
}

/// An item from a record just read from the stream, with its resource.
pub(crate) fn row_item(row: AuditRow, resource: Option<String>) -> Option<dto::AuditRecord> {
    // The payload decoded as an envelope, so it is JSON.
    let record = serde_json::value::RawValue::from_string(row.record).ok()?;
    Some(dto::AuditRecord {
        seq: row.seq,
        time: row.time.to_string(),
        action: row.action.to_string(),
        outcome: row.outcome.to_string(),
        actor: dto::AuditActor {
            kind: row.actor_kind.to_string(),
            id: row.actor_id,
            email: row.actor_email,
            address: row.actor_address,
        },
        target: dto::AuditTarget {
            kind: row.target_kind.to_string(),
            id: row.target_id,
        },
        resource,
        request_id: row.request_id,
        reason: row.reason,
        record,
    })
}

/// `GET /audit` (admin, audit).
pub async fn search(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
    query: Result<QueryArgs<AuditQuery>, ApiError>,
) -> Result<Json<dto::AuditPage>, ApiError> {
    caller
        .require(&app, &ctx, AdminAccess::Read, "audit.search", "")
        .await?;
    let QueryArgs(query) = query?;
    let parsed = parse(&query)?;
    let found = audit_query::search(&app.pool, &parsed.search)
        .await
        .map_err(|e| {
            warn!(error = %e, read_model = AUDIT_RECORDS, "audit search failed");
            ApiError::unavailable("the audit search is unavailable; retry shortly")
        })?;
    let next_cursor = match found.records.last() {
        Some(last) if found.more => Some(encode_cursor(
            Position {
                time: last.time,
                seq: last.seq,
            },
            &parsed.filters,
        )),
        _ => None,
    };
    let records = found
        .records
        .into_iter()
        .map(found_item)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(dto::AuditPage {
        records,
        next_cursor,
        as_of_seq: found.as_of_seq,
    }))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn query(pairs: &[(&str, &str)]) -> AuditQuery {
        let mut q = AuditQuery::default();
        for (k, v) in pairs {
            let v = Some(v.to_string());
            match *k {
                "since" => q.since = v,
                "until" => q.until = v,
                "actor" => q.actor = v,
                "action" => q.action = v,
                "resource" => q.resource = v,
                "outcome" => q.outcome = v,
                "limit" => q.limit = v,
                "cursor" => q.cursor = v,
                other => panic!("{other}"),
            }
        }
        q
    }

    fn refused(pairs: &[(&str, &str)]) -> String {
        let e = parse(&query(pairs)).unwrap_err();
        assert_eq!(e.code(), "invalid_argument", "{pairs:?}");
        e.message().to_string()
    }

    #[test]
    fn parameters_parse_with_defaults() {
        let p = parse(&query(&[])).unwrap();
        assert_eq!(p.search.limit, DEFAULT_LIMIT);
        assert!(p.search.since.is_none() && p.search.after.is_none());
        let p = parse(&query(&[
            ("since", "2026-11-22T10:00:00+01:00"),
            ("until", "2026-11-22T10:00:00Z"),
            ("actor", "alice@corp.example"),
            ("action", "session.*"),
            ("resource", "orders-db"),
            ("outcome", "failure"),
            ("limit", "1000"),
        ]))
        .unwrap();
        assert_eq!(p.search.since, Some(datetime!(2026-11-22 09:00 UTC)));
        assert_eq!(p.search.until, Some(datetime!(2026-11-22 10:00 UTC)));
        assert_eq!(
            p.search.action,
            Some(ActionFilter::Prefix("session.".into()))
        );
        assert_eq!(p.search.outcome.as_deref(), Some("failure"));
        assert_eq!(p.search.limit, 1000);
        // Empty values are as if absent.
        let p = parse(&query(&[("since", ""), ("outcome", ""), ("limit", "")])).unwrap();
        assert!(p.search.since.is_none() && p.search.outcome.is_none());
        assert_eq!(
            parse_action("login.failed").unwrap(),
            ActionFilter::Exact("login.failed".into())
        );
    }

    #[test]
    fn bad_parameters_are_refused_with_a_specific_message() {
        assert!(refused(&[("since", "yesterday")]).starts_with("since: \"yesterday\" is not"));
        assert!(refused(&[("until", "2026-11-22T10:00:00 01:00")]).contains("%2B"));
        assert!(refused(&[
            ("since", "2026-11-23T00:00:00Z"),
            ("until", "2026-11-22T00:00:00Z")
        ])
        .starts_with("since is after until"));
        assert!(refused(&[("outcome", "maybe")]).starts_with("outcome: "));
        for limit in ["0", "1001", "-1", "ten"] {
            assert!(
                refused(&[("limit", limit)]).starts_with("limit: "),
                "{limit}"
            );
        }
        for action in ["login", "Login.failed", "session.*.x", "*", "a.b c", ".x"] {
            assert!(
                refused(&[("action", action)]).starts_with("action: "),
                "{action}"
            );
        }
        assert!(refused(&[("actor", &"a".repeat(321))]).starts_with("actor: "));
    }

    #[test]
    fn cursors_round_trip_and_are_bound_to_their_filters() {
        let filters = parse(&query(&[("outcome", "failure")])).unwrap().filters;
        let at = Position {
            time: datetime!(2026-11-22 10:00:00.123456 UTC),
            seq: 42,
        };
        let cursor = encode_cursor(at, &filters);
        let next = parse(&query(&[("outcome", "failure"), ("cursor", &cursor)])).unwrap();
        assert_eq!(next.search.after, Some(at));
        // The page size may change between pages.
        let next = parse(&query(&[
            ("outcome", "failure"),
            ("limit", "5"),
            ("cursor", &cursor),
        ]))
        .unwrap();
        assert_eq!(next.search.after, Some(at));

        // Other filters: refused.
        let other = refused(&[("outcome", "success"), ("cursor", &cursor)]);
        assert!(other.starts_with("cursor: it was altered"), "{other}");
        // Any one byte changed: refused.
        let bytes = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 1;
            let tampered = URL_SAFE_NO_PAD.encode(&t);
            let m = refused(&[("outcome", "failure"), ("cursor", &tampered)]);
            assert!(m.starts_with("cursor: "), "byte {i}: {m}");
        }
        for junk in ["x", "!!!", &cursor[..cursor.len() - 2]] {
            let m = refused(&[("outcome", "failure"), ("cursor", junk)]);
            assert!(m.starts_with("cursor: not a cursor"), "{junk}: {m}");
        }
    }
}

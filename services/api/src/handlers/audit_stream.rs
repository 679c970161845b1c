//! `GET /audit/stream` (admin, audit): new audit records live, as Server-Sent
//! Events, for `bamfctl audit tail --follow`.
//!
//! Backed by an ordered consumer on `BAMF_AUDIT` ([`bamf_events::Feed`], which
//! checks each record against the subjects the stream may hold). The first
//! event is `ready`, whose `id:` is the position the stream starts after; then
//! one `record` event per record, `id:` = its `BAMF_AUDIT` sequence, `data:`
//! the same item `GET /audit` answers. Without `Last-Event-ID` (or `?after=`)
//! it starts at the stream's end: new records only. With `Last-Event-ID: N` it
//! replays everything after `N` that matches, so a client that reconnects
//! with its last id misses nothing.
//!
//! Filters (`action`, `actor`, `outcome`) are applied here; a record's
//! resource is looked up in the read model when it belongs to a session. Poison
//! is skipped (the read model parks it). Streams end when the API shuts down.

use std::convert::Infallible;
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use bamf_domain::control::rbac::AdminAccess;
use bamf_events::streams::AUDIT_STREAM;
use bamf_events::Feed;
use futures::Stream;
use serde::Deserialize;
use tracing::{debug, warn};

use super::audit::{parse_action, parse_outcome, parse_text, row_item};
use super::watch::KEEP_ALIVE;
use crate::app::{Api, App};
use crate::dto;
use crate::error::ApiError;
use crate::http::{Caller, QueryArgs, RequestContext};
use crate::readmodel::audit::{resolve_resource, AuditRow, ResourceRef};
use crate::readmodel::audit_query::ActionFilter;

/// Query of `GET /audit/stream`. Empty values are as if absent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// A type (`login.failed`) or a prefix (`session.*`).
    pub action: Option<String>,
    /// The actor's id or e-mail.
    pub actor: Option<String>,
    /// `success` or `failure`.
    pub outcome: Option<String>,
    /// Resume after this sequence (as `Last-Event-ID`, which wins).
    pub after: Option<String>,
}

/// Which records a stream shows.
#[derive(Debug, Default)]
struct Filter {
    action: Option<ActionFilter>,
    actor: Option<String>,
    outcome: Option<String>,
}

impl Filter {
    fn parse(query: &StreamQuery) -> Result<Filter, ApiError> {
        let given = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        Ok(Filter {
            action: given(&query.action).map(|a| parse_action(&a)).transpose()?,
            actor: given(&query.actor)
                .map(|a| parse_text("actor", &a))
                .transpose()?,
            outcome: given(&query.outcome)
                .map(|o| parse_outcome(&o))
                .transpose()?,
        })
    }

    /// The same matching as the search: actor by id, or e-mail ignoring case.
    fn shows(&self, row: &AuditRow) -> bool {
        self.action.as_ref().is_none_or(|a| a.matches(row.action))
            && self.outcome.as_deref().is_none_or(|o| o == row.outcome)
            && self.actor.as_deref().is_none_or(|a| {
                row.actor_id == a
                    || row
                        .actor_email
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(a))
            })
    }
}

/// `GET /audit/stream` (admin, audit).
pub async fn stream(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
    headers: HeaderMap,
    query: Result<QueryArgs<StreamQuery>, ApiError>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    caller
        .require(&app, &ctx, AdminAccess::Read, "audit.stream", "")
        .await?;
    let QueryArgs(query) = query?;
    let after = query.after.as_deref().filter(|a| !a.is_empty());
    let resume = super::resume_position(&headers, after, "a record sequence")?;
    let filter = Filter::parse(&query)?;
    let unreachable = |e: &dyn std::fmt::Display| {
        warn!(error = %e, "audit stream: cannot read BAMF_AUDIT");
        ApiError::unavailable("the audit stream is unreachable; retry shortly")
    };
    let last = bamf_events::feed::last_sequence(&app.js, AUDIT_STREAM)
        .await
        .map_err(|e| unreachable(&e))?;
    let from = match resume {
        Some(seq) if seq > last => {
            return Err(ApiError::invalid_argument(format!(
                "position {seq} is past the end of the audit stream (last sequence {last}); \
                 it belongs to another deployment"
            )));
        }
        Some(seq) => seq,
        None => last,
    };
    let feed = Feed::open(&app.js, AUDIT_STREAM, None, from + 1)
        .await
        .map_err(|e| unreachable(&e))?;
    let ready = serde_json::to_string(&dto::AuditStreamReady { seq: from })
        .expect("AuditStreamReady always serializes");
    let first = SseEvent::default()
        .event("ready")
        .id(from.to_string())
        .data(ready);
    let tail = Tail { app, feed, filter };
    let records = futures::stream::unfold(tail, |mut t| async move {
        let event = t.next().await?;
        Some((Ok(event), t))
    });
    let events = futures::StreamExt::chain(futures::stream::once(async { Ok(first) }), records);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")))
}

/// One connection's state.
struct Tail {
    app: Arc<App>,
    feed: Feed,
    filter: Filter,
}

impl Tail {
    /// The next record to send; `None` ends the stream (shutdown, or the
    /// stream is unreadable: the client resumes from its last id).
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            let item = tokio::select! {
                biased;
                _ = self.app.live.cancelled() => return None,
                item = self.feed.next() => item,
            };
            let item = match item? {
                Ok(item) => item,
                Err(e) => {
                    warn!(error = %e, "audit stream: the feed failed; the client will resume");
                    return None;
                }
            };
            let envelope = match &item.decoded {
                Ok(envelope) => envelope,
                Err(poison) => {
                    debug!(
                        seq = item.seq,
                        reason = poison.reason_code(),
                        "audit stream: skipping a poison message"
                    );
                    continue;
                }
            };
            let row = AuditRow::from_record(item.seq, envelope, &item.payload);
            if !self.filter.shows(&row) {
                continue;
            }
            let resource = resource(&self.app, &row).await;
            let Some(data) = row_item(row, resource) else {
                continue;
            };
            let data = serde_json::to_string(&data).expect("an AuditRecord always serializes");
            return Some(
                SseEvent::default()
                    .event("record")
                    .id(item.seq.to_string())
                    .data(data),
            );
        }
    }
}

/// The record's resource; a session's from the read model (none when it
/// can't be read: the record is still sent). Takes the app alone: the feed is
/// not `Sync`, and this future is held across an await.
async fn resource(app: &App, row: &AuditRow) -> Option<String> {
    if let ResourceRef::Named(name) = &row.resource {
        return Some(name.clone());
    }
    if row.resource == ResourceRef::None {
        return None;
    }
    let mut conn = match app.pool.acquire().await {
        Ok(conn) => conn,
        Err(e) => {
            debug!(error = %e, "audit stream: no connection to look up a session's resource");
            return None;
        }
    };
    resolve_resource(&mut conn, row).await.unwrap_or_else(|e| {
        debug!(error = %e, "audit stream: cannot look up a session's resource");
        None
    })
}

#[cfg(test)]
mod tests {
    use bamf_domain::events::{Event, LoginFailed};
    use bamf_domain::{Actor, ActorKind, AggregateId, Envelope, Timestamp};

    use super::*;

    fn row(email: Option<&str>) -> AuditRow {
        let e = Envelope::new(
            ulid::Ulid::from_parts(1, 1),
            Timestamp::from_unix_micros(1_795_000_000_000_000),
            Actor {
                kind: ActorKind::User,
                id: "01jdu".into(),
                email: email.map(str::to_string),
                ip: None,
            },
            AggregateId::new("01jdl").unwrap(),
            Event::LoginFailed(LoginFailed {
                email: "x@corp.example".into(),
                provider: "local".into(),
                reason: "wrong_password".into(),
            }),
        );
        AuditRow::from_record(3, &e, b"{}")
    }

    fn filter(pairs: &[(&str, &str)]) -> Filter {
        let mut q = StreamQuery::default();
        for (k, v) in pairs {
            let v = Some(v.to_string());
            match *k {
                "action" => q.action = v,
                "actor" => q.actor = v,
                "outcome" => q.outcome = v,
                other => panic!("{other}"),
            }
        }
        Filter::parse(&q).unwrap()
    }

    #[test]
    fn filters_match_like_the_search() {
        let r = row(Some("Alice@corp.example"));
        assert!(filter(&[]).shows(&r));
        assert!(filter(&[("action", "login.*")]).shows(&r));
        assert!(filter(&[("action", "login.failed")]).shows(&r));
        assert!(!filter(&[("action", "login.succeeded")]).shows(&r));
        assert!(filter(&[("outcome", "failure")]).shows(&r));
        assert!(!filter(&[("outcome", "success")]).shows(&r));
        assert!(filter(&[("actor", "alice@CORP.example")]).shows(&r));
        assert!(filter(&[("actor", "01jdu")]).shows(&r));
        assert!(!filter(&[("actor", "bob@corp.example")]).shows(&r));
        assert!(!filter(&[("actor", "bob@corp.example")]).shows(&row(None)));
        assert!(Filter::parse(&StreamQuery {
            outcome: Some("maybe".into()),
            ..StreamQuery::default()
        })
        .is_err());
    }
}

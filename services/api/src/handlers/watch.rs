//! `GET /sessions/watch`: tunnel session changes as Server-Sent Events.
//!
//! Backed by an ordered consumer on `BAMF_EVENTS` filtered to
//! `bamf.evt.session.>` ([`bamf_events::Feed`]). Each live change is an SSE
//! `session` event whose `id:` is the event's stream sequence and whose
//! `data:` is a [`dto::SessionChange`]: the session *after* the change, from a
//! small per-connection fold, so a `closed` row still names its user and
//! resource.
//!
//! Without `Last-Event-ID` (or `?after=`), the open sessions are sent first as
//! a snapshot taken at a known sequence `S` (the runtime projection names the
//! open sessions; each row is read from the session's own subjects, events
//! after `S` left out), as `session` events without an `id:`, then a `ready`
//! event with `id: S`; live changes follow from `S + 1`. A client that stops
//! mid-snapshot therefore has no id and gets a fresh snapshot. With
//! `Last-Event-ID: N` the stream replays from `N + 1`: nothing is missed or
//! repeated, whatever happened while the client was away.
//!
//! A session the fold has not seen (resuming, or requested before the
//! snapshot) is loaded from its `requested` and `granted` events on first
//! sight. RBAC: admin and audit see every session, others their own (as
//! `GET /sessions`). Streams end when the API shuts down, so they never hold
//! up the graceful drain; the client resumes against the next replica.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use bamf_domain::control::rbac::{authorize_admin, AdminAccess};
use bamf_domain::events::Event;
use bamf_domain::{AggregateId, Envelope};
use bamf_events::jetstream::stream::{LastRawMessageErrorKind, Stream as JsStream};
use bamf_events::streams::EVENTS_STREAM;
use bamf_events::Feed;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use tracing::{debug, warn};

use crate::app::{Api, App};
use crate::dto::{self, SessionChange};
use crate::error::ApiError;
use crate::http::{Caller, QueryArgs};

/// The subjects of tunnel session events.
pub const SESSION_FILTER: &str = "bamf.evt.session.>";
/// Interval of SSE keep-alive comments: proxies keep the connection, and the
/// client can tell a dead one from a quiet one (bamfctl's read timeout is
/// three of these).
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Sessions one connection's fold keeps; beyond it the least recently changed
/// are dropped (and reloaded from the log if they change again).
const MAX_TRACKED: usize = 10_000;
/// Concurrent reads of session subjects while building a snapshot.
const SNAPSHOT_READS: usize = 16;
/// Event subjects a row is built from, in the order they happen.
const ROW_EVENTS: [&str; 3] = ["requested", "granted", "connected"];

/// Query of `GET /sessions/watch`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchQuery {
    /// Only this user's sessions (e-mail, case-insensitive).
    pub user: Option<String>,
    /// Only sessions to this resource.
    pub resource: Option<String>,
    /// Resume after this sequence (as `Last-Event-ID`, which wins).
    pub after: Option<String>,
}

/// Who may see which rows.
struct Visibility {
    /// Admin or audit: every session.
    all: bool,
    caller: AggregateId,
    user: Option<String>,
    resource: Option<String>,
}

impl Visibility {
    fn shows(&self, row: &SessionChange) -> bool {
        (self.all || row.user_id == self.caller.as_str())
            && self
                .user
                .as_deref()
                .is_none_or(|u| row.email.eq_ignore_ascii_case(u))
            && self.resource.as_deref().is_none_or(|r| row.resource == r)
    }
}

/// `GET /sessions/watch`.
pub async fn watch(
    Api(app): Api,
    caller: Caller,
    headers: HeaderMap,
    QueryArgs(query): QueryArgs<WatchQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let resume = super::resume_position(&headers, query.after.as_deref(), "an event sequence")?;
    let visibility = Visibility {
        all: authorize_admin(&caller.principal, AdminAccess::Read).is_ok(),
        caller: caller.user_id.clone(),
        user: query.user.filter(|u| !u.is_empty()),
        resource: query.resource.filter(|r| !r.is_empty()),
    };
    let unreachable = |e: &dyn std::fmt::Display| {
        warn!(error = %e, "sessions watch: cannot read the event log");
        ApiError::unavailable("the event log is unreachable; retry shortly")
    };
    let stream = app
        .js
        .get_stream(EVENTS_STREAM)
        .await
        .map_err(|e| unreachable(&e))?;
    // The stream's state as of this call.
    let last = stream.cached_info().state.last_sequence;
    let from = match resume {
        Some(seq) if seq > last => {
            return Err(ApiError::invalid_argument(format!(
                "Last-Event-ID {seq} is past the end of the event log (last sequence {last}); \
                 it belongs to another deployment"
            )))
        }
        Some(seq) => seq,
        None => last,
    };
    let feed = Feed::open(&app.js, EVENTS_STREAM, Some(SESSION_FILTER), from + 1)
        .await
        .map_err(|e| unreachable(&e))?;
    let mut watcher = Watcher {
        app: Arc::clone(&app),
        stream,
        visibility,
        fold: HashMap::new(),
        pending: VecDeque::new(),
        feed,
    };
    match resume {
        Some(seq) => watcher.ready(seq, 0),
        None => {
            // The runtime projection has folded everything up to `last`
            // (it may be further on: rows leave out events after `last`).
            app.runtime
                .wait_for(last, app.config.projection_wait)
                .await
                .map_err(|e| {
                    warn!(error = %e, "runtime projection is behind");
                    ApiError::unavailable(
                        "this replica is catching up with the event log; retry shortly",
                    )
                })?;
            let rows = watcher.snapshot(last).await;
            let count = rows.len();
            for row in rows {
                watcher.push(None, &row);
            }
            watcher.ready(last, count);
        }
    }
    let events = futures::stream::unfold(watcher, |mut w| async move {
        let event = w.next().await?;
        Some((Ok(event), w))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")))
}

/// One connection's state.
struct Watcher {
    app: Arc<App>,
    stream: JsStream,
    visibility: Visibility,
    /// Sessions seen on this connection, by id, as last sent (or hidden).
    fold: HashMap<AggregateId, SessionChange>,
    /// Events ready to send.
    pending: VecDeque<SseEvent>,
    /// Session events from the position the stream started at; ends at
    /// shutdown (`App::live`).
    feed: Feed,
}

impl Watcher {
    fn push(&mut self, id: Option<u64>, row: &SessionChange) {
        let data = serde_json::to_string(row).expect("a SessionChange always serializes");
        let mut event = SseEvent::default().event("session").data(data);
        if let Some(id) = id {
            event = event.id(id.to_string());
        }
        self.pending.push_back(event);
    }

    fn ready(&mut self, seq: u64, snapshot: usize) {
        let data = serde_json::to_string(&dto::WatchReady { seq, snapshot })
            .expect("WatchReady always serializes");
        self.pending.push_back(
            SseEvent::default()
                .event("ready")
                .id(seq.to_string())
                .data(data),
        );
    }

    /// The next event to send; `None` ends the stream (shutdown, or the
    /// log is unreadable: the client resumes from its last id).
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            let item = tokio::select! {
                biased;
                _ = self.app.live.cancelled() => return None,
                item = self.feed.next() => item,
            };
            let item = match item {
                Some(Ok(item)) => item,
                Some(Err(e)) => {
                    warn!(error = %e, "sessions watch: the feed failed; the client will resume");
                    return None;
                }
                None => return None,
            };
            let envelope = match item.decoded {
                Ok(envelope) => envelope,
                Err(poison) => {
                    debug!(
                        seq = item.seq,
                        reason = poison.reason_code(),
                        "sessions watch: skipping a poison message"
                    );
                    continue;
                }
            };
            if let Some(row) = self.apply(item.seq, &envelope).await {
                if self.visibility.shows(&row) {
                    self.push(Some(item.seq), &row);
                }
            }
        }
    }

    /// Folds one live event; answers the session after it.
    async fn apply(&mut self, seq: u64, envelope: &Envelope) -> Option<SessionChange> {
        let id = &envelope.aggregate_id;
        let base = match self.fold.remove(id) {
            Some(row) => Some(row),
            None if matches!(envelope.event, Event::SessionRequested(_)) => None,
            // First sight of a session requested earlier: load what it was.
            None => load(&self.app, &self.stream, id, seq.saturating_sub(1)).await,
        };
        let mut row = evolve(&self.app, base, seq, envelope)?;
        row.snapshot = false;
        if !matches!(row.state.as_str(), "closed" | "denied") {
            if self.fold.len() >= MAX_TRACKED {
                if let Some(oldest) = self
                    .fold
                    .iter()
                    .min_by_key(|(_, r)| r.seq)
                    .map(|(k, _)| k.clone())
                {
                    self.fold.remove(&oldest);
                }
            }
            self.fold.insert(id.clone(), row.clone());
        }
        Some(row)
    }

    /// The open sessions as of `at`, oldest first, that this caller sees.
    async fn snapshot(&mut self, at: u64) -> Vec<SessionChange> {
        let ids: Vec<AggregateId> = self.app.runtime.read(|view| {
            view.sessions
                .iter()
                .filter(|(_, s)| self.visibility.all || s.user_id == self.visibility.caller)
                .map(|(id, _)| id.clone())
                .collect()
        });
        let (app, stream) = (&*self.app, &self.stream);
        let loaded: Vec<Option<SessionChange>> = futures::stream::iter(ids)
            .map(|id| async move { load(app, stream, &id, at).await })
            .buffered(SNAPSHOT_READS)
            .collect()
            .await;
        let mut rows: Vec<SessionChange> = loaded.into_iter().flatten().collect();
        rows.sort_by(|a, b| (&a.started_at, a.seq).cmp(&(&b.started_at, b.seq)));
        for row in &rows {
            if let Ok(id) = AggregateId::new(row.session_id.clone()) {
                self.fold.insert(id, row.clone());
            }
        }
        rows.into_iter()
            .filter(|r| self.visibility.shows(r))
            .collect()
    }
}

/// A session as of sequence `at`, from its own subjects (`None` when it
/// was not requested by then, or the log cannot be read).
async fn load(app: &App, stream: &JsStream, id: &AggregateId, at: u64) -> Option<SessionChange> {
    let mut row = None;
    for event in ROW_EVENTS {
        let subject = format!("bamf.evt.session.{}.{event}", id.as_str());
        let message = match stream.get_last_raw_message_by_subject(&subject).await {
            Ok(m) => m,
            Err(e) if matches!(e.kind(), LastRawMessageErrorKind::NoMessageFound) => break,
            Err(e) => {
                warn!(error = %e, %subject, "sessions watch: cannot read a session event");
                break;
            }
        };
        if message.sequence > at {
            break;
        }
        let Ok(envelope) = bamf_events::feed::decode(&subject, &message.payload) else {
            break;
        };
        row = evolve(app, row, message.sequence, &envelope);
    }
    row.map(|mut r| {
        r.snapshot = true;
        r
    })
}

/// The session after `envelope`, from `base` (its state before). A change
/// to a session never requested (`base` empty) is `None`.
fn evolve(
    app: &App,
    base: Option<SessionChange>,
    seq: u64,
    envelope: &Envelope,
) -> Option<SessionChange> {
    let time = envelope.time.to_string();
    let mut row = match (&envelope.event, base) {
        (Event::SessionRequested(e), _) => {
            let email = app
                .control
                .read(|v| {
                    v.logins
                        .users
                        .by_id
                        .get(&e.user_id)
                        .map(|u| u.email.clone())
                })
                .or_else(|| envelope.actor.email.clone())
                .unwrap_or_default();
            SessionChange {
                seq,
                snapshot: false,
                event: String::new(),
                session_id: envelope.aggregate_id.as_str().to_string(),
                user_id: e.user_id.as_str().to_string(),
                email,
                resource: e.resource.clone(),
                resource_type: e.resource_type.clone(),
                agent_id: String::new(),
                agent_name: String::new(),
                bridge_id: String::new(),
                state: "requested".into(),
                started_at: time.clone(),
                changed_at: String::new(),
                bytes_up: 0,
                bytes_down: 0,
                reason: String::new(),
            }
        }
        (_, None) => return None,
        (event, Some(mut row)) => {
            match event {
                Event::SessionGranted(e) => {
                    row.state = "granted".into();
                    row.agent_id = e.agent_id.as_str().to_string();
                    row.agent_name = app
                        .runtime
                        .read(|v| v.agents.get(&e.agent_id).cloned())
                        .unwrap_or_default();
                    row.bridge_id = e.bridge_id.as_str().to_string();
                }
                Event::SessionConnected(e) => {
                    row.state = "connected".into();
                    row.bridge_id = e.bridge_id.as_str().to_string();
                }
                Event::SessionDenied(e) => {
                    row.state = "denied".into();
                    row.reason = e.reason.clone();
                }
                Event::SessionClosed(e) => {
                    row.state = "closed".into();
                    row.bytes_up = e.bytes_up;
                    row.bytes_down = e.bytes_down;
                    row.reason = e.reason.clone();
                }
                _ => return None,
            }
            row
        }
    };
    row.seq = seq;
    row.event = envelope.event.event_type().to_string();
    row.changed_at = time;
    Some(row)
}

//! The state every `/api/v1` handler works with ([`App`]), and how commands
//! are carried out: catch up with the log, decide over the control
//! projection, append with the optimistic-concurrency guard the projection
//! says, retry on conflict, then wait until this replica has folded the result
//! (read-your-writes).

use std::sync::{Arc, Mutex, OnceLock, RwLock};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use bamf_domain::control::heartbeats::HeartbeatTable;
use bamf_domain::control::throttle::LoginThrottle;
use bamf_domain::control::{ControlView, Emitted};
use bamf_domain::events::Event;
use bamf_domain::{Actor, AggregateId, Envelope, RuntimeView, Timestamp};
use bamf_events::streams::EVENTS_STREAM;
use bamf_events::{
    jetstream, AppendError, AuditLog, Credentials, EventLog, Expected, ProjectionReader,
};
use bamf_pki::Ca;
use tracing::warn;

use crate::bridges::{BridgeFollower, BridgeTable};
use crate::error::ApiError;
use crate::http::RequestContext;
use crate::ApiConfig;

/// Concurrent catch-ups for unknown tokens (see `http::auth`).
const MAX_TOKEN_CATCH_UPS: usize = 8;

/// How many times a command is decided again after a concurrency conflict.
const MAX_CONFLICT_RETRIES: usize = 8;

/// Everything a handler needs, shared by all requests.
pub struct App {
    pub config: ApiConfig,
    pub js: jetstream::Context,
    pub log: EventLog,
    pub control: ProjectionReader<ControlView>,
    pub heartbeats: Arc<RwLock<HeartbeatTable>>,
    /// Live bridges (`bamf.hb.bridge.>`).
    pub bridges: Arc<RwLock<BridgeTable>>,
    /// Open tunnel sessions and the rest of the runtime view.
    pub runtime: ProjectionReader<RuntimeView>,
    /// Core NATS, for commands to agents and bridges.
    pub nats: bamf_events::Client,
    pub credentials: Credentials,
    pub audit: AuditLog,
    /// The read models (the audit search).
    pub pool: sqlx::PgPool,
    pub ca: Arc<Ca>,
    pub throttle: Mutex<LoginThrottle>,
    /// Bounds catch-ups for tokens this replica does not know (yet).
    pub token_catch_up: tokio::sync::Semaphore,
    /// Cancelled when the API begins to stop: ends live streams
    /// (`GET /sessions/watch`), which would otherwise hold up the drain.
    pub live: tokio_util::sync::CancellationToken,
}

/// Where the router finds the [`App`]: empty until start-up is done (handlers
/// answer 503 meanwhile), filled once.
#[derive(Clone)]
pub struct AppSlot {
    app: Arc<OnceLock<Arc<App>>>,
    max_body_bytes: usize,
}

impl AppSlot {
    /// An empty slot; `max_body_bytes` is needed before the app exists.
    pub fn new(max_body_bytes: usize) -> Self {
        AppSlot {
            app: Arc::new(OnceLock::new()),
            max_body_bytes,
        }
    }

    /// Fills the slot (once; later calls are ignored).
    pub fn fill(&self, app: Arc<App>) {
        let _ = self.app.set(app);
    }

    /// The app, once started.
    pub fn get(&self) -> Option<Arc<App>> {
        self.app.get().cloned()
    }

    /// Request body limit.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }
}

/// Extracts the started [`App`] (503 while starting).
pub struct Api(pub Arc<App>);

impl FromRequestParts<AppSlot> for Api {
    type Rejection = ApiError;

    async fn from_request_parts(_: &mut Parts, slot: &AppSlot) -> Result<Self, ApiError> {
        slot.get()
            .map(Api)
            .ok_or_else(|| ApiError::unavailable("bamf-api is starting; retry shortly"))
    }
}

/// The current time as an event timestamp.
pub fn now() -> Timestamp {
    Timestamp::new(time::OffsetDateTime::now_utc())
}

/// A new lowercase ULID aggregate id.
pub fn new_id() -> AggregateId {
    AggregateId::from_ulid(ulid::Ulid::new())
}

/// What a command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// Stream sequence of its last event (or of the state it decided over,
    /// when it produced none).
    pub seq: u64,
    /// How many events it appended.
    pub events: usize,
}

impl App {
    /// Assembles the app from what start-up prepared.
    pub fn new(
        config: ApiConfig,
        backends: &crate::startup::Backends,
        projections: &crate::Projections,
        catalog: &crate::catalog::CatalogFollower,
        bridges: &BridgeFollower,
        ca: Ca,
    ) -> Self {
        let throttle = LoginThrottle::new(bamf_domain::control::throttle::ThrottleConfig {
            window: time::Duration::try_from(config.login_failure_window)
                .unwrap_or(time::Duration::minutes(15)),
            max_per_source: config.login_max_failures_per_source,
            max_per_account: config.login_max_failures_per_account,
            ..Default::default()
        });
        App {
            js: backends.js.clone(),
            log: EventLog::new(backends.js.clone(), Default::default()),
            control: projections.control(),
            heartbeats: catalog.table(),
            bridges: bridges.table(),
            runtime: projections.runtime(),
            nats: backends.js.client(),
            credentials: Credentials::new(backends.js.clone()),
            audit: AuditLog::new(backends.js.clone()),
            pool: backends.pool.clone(),
            ca: Arc::new(ca),
            throttle: Mutex::new(throttle),
            token_catch_up: tokio::sync::Semaphore::new(MAX_TOKEN_CATCH_UPS),
            live: tokio_util::sync::CancellationToken::new(),
            config,
        }
    }

    /// Waits until this replica's control projection has folded everything
    /// in `BAMF_EVENTS` as of now, so a decision never rests on stale state.
    pub async fn catch_up(&self) -> Result<u64, ApiError> {
        let last = bamf_events::feed::last_sequence(&self.js, EVENTS_STREAM)
            .await
            .map_err(|e| {
                warn!(error = %e, "cannot read the event log's position");
                ApiError::unavailable("the event log is unreachable; retry shortly")
            })?;
        self.wait_for(last).await?;
        Ok(last)
    }

    /// Read-your-writes: waits until the projection has passed `seq`.
    pub async fn wait_for(&self, seq: u64) -> Result<(), ApiError> {
        self.control
            .wait_for(seq, self.config.projection_wait)
            .await
            .map_err(|e| {
                warn!(error = %e, "control projection is behind");
                ApiError::unavailable(
                    "this replica is catching up with the event log; retry shortly",
                )
            })
    }

    /// Carries out a command: `decide` runs over the current projection (and
    /// again after a conflict); its events are appended under the guards
    /// [`expected_for`] gives, as one atomic batch when there are several.
    /// `Ok(Err(r))` is the decider's rejection.
    pub async fn execute<R>(
        &self,
        ctx: &RequestContext,
        actor: &Actor,
        decide: impl Fn(&ControlView) -> Result<Vec<Emitted>, R>,
    ) -> Result<Result<Committed, R>, ApiError> {
        self.catch_up().await?;
        self.execute_caught_up(ctx, actor, decide).await
    }

    /// [`App::execute`] for a caller that has just caught up itself (to read
    /// state before deciding), so the stream's position is not asked twice.
    pub async fn execute_caught_up<R>(
        &self,
        ctx: &RequestContext,
        actor: &Actor,
        decide: impl Fn(&ControlView) -> Result<Vec<Emitted>, R>,
    ) -> Result<Result<Committed, R>, ApiError> {
        for _ in 0..MAX_CONFLICT_RETRIES {
            let (decided, at) = self.control.read(|view| {
                let decided = decide(view).map(|emitted| {
                    emitted
                        .into_iter()
                        .map(|e| {
                            let expected = expected_for(view, &e);
                            (e, expected)
                        })
                        .collect::<Vec<_>>()
                });
                (decided, self.control.applied_seq())
            });
            let planned = match decided {
                Ok(planned) => planned,
                Err(rejection) => return Ok(Err(rejection)),
            };
            if planned.is_empty() {
                return Ok(Ok(Committed { seq: at, events: 0 }));
            }
            let time = now();
            let envelopes: Vec<(Envelope, Expected)> = planned
                .into_iter()
                .map(|(e, expected)| (self.envelope(ctx, actor, time, e), expected))
                .collect();
            let count = envelopes.len();
            match self.append(&envelopes).await {
                Ok(seq) => {
                    self.wait_for(seq).await?;
                    return Ok(Ok(Committed { seq, events: count }));
                }
                Err(AppendError::Conflict { .. }) => {
                    self.catch_up().await?;
                }
                Err(e) => {
                    return Err(ApiError::internal(
                        anyhow::Error::new(e).context("cannot append the command's events"),
                    ))
                }
            }
        }
        Err(ApiError::unavailable(
            "too much concurrent change to this object; retry",
        ))
    }

    async fn append(&self, envelopes: &[(Envelope, Expected)]) -> Result<u64, AppendError> {
        match envelopes {
            [(envelope, expected)] => Ok(self.log.append(envelope, *expected).await?.seq),
            many if many.iter().all(|(_, x)| *x == Expected::Any) => {
                // Independent, idempotent events (revocations): no batch needed.
                let mut last = 0;
                for result in self.log.append_pipelined(many).await {
                    last = last.max(result?.seq);
                }
                Ok(last)
            }
            many => Ok(self.log.append_batch(many).await?.last_seq),
        }
    }

    /// An envelope for `emitted`, caused by `actor` during request `ctx`.
    pub fn envelope(
        &self,
        ctx: &RequestContext,
        actor: &Actor,
        time: Timestamp,
        emitted: Emitted,
    ) -> Envelope {
        let mut envelope = Envelope::new(
            ulid::Ulid::new(),
            time,
            actor.clone(),
            emitted.aggregate_id,
            emitted.event,
        );
        envelope.request_id = Some(ctx.request_id.clone());
        envelope
    }

    /// Publishes an audit-only record. Failing to audit is logged loudly but
    /// does not turn the caller's answer into a 500: the refusal stands.
    pub async fn audit(
        &self,
        ctx: &RequestContext,
        actor: &Actor,
        subject: AggregateId,
        event: Event,
    ) {
        let envelope = self.envelope(ctx, actor, now(), Emitted::new(subject, event));
        if let Err(error) = self.audit.record(&envelope).await {
            tracing::error!(error = %error, event_type = envelope.event.event_type(), "cannot write audit record");
        }
    }
}

/// The optimistic-concurrency guard of one emitted event, from the projection
/// the decision was made over.
pub fn expected_for(view: &ControlView, emitted: &Emitted) -> Expected {
    let kind = emitted.event.aggregate();
    match &emitted.event {
        // Fresh ids: creation must be the aggregate's first event.
        Event::LoginSucceeded(_) | Event::AgentJoined(_) => Expected::NoEvents,
        // Idempotent: revoking twice changes nothing.
        Event::LoginRevoked(_) => Expected::Any,
        _ if bamf_domain::control::view::KIND_GUARDED.contains(&kind) => {
            Expected::KindLastSequence(view.expected_seq(kind, &emitted.aggregate_id))
        }
        _ => Expected::last(view.expected_seq(kind, &emitted.aggregate_id)),
    }
}

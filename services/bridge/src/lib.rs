//! bamf-bridge: the bridge (ARCHITECTURE §1, §4): the QUIC listener that
//! verifies session certificates against the CA, pairs client and agent by
//! session id and splices their streams. It never talks to PostgreSQL or the
//! API; it reaches NATS only for its events, heartbeats and commands, and
//! keeps relaying while NATS is away.
//!
//! [`run`] is what `main.rs` calls; tests call [`start`] (the QUIC side alone,
//! on a socket bound to port 0) and read its [`Bridge`] handle. Layout:
//! - `config.rs`: keys, defaults, validation;
//! - `tls.rs`: certificate and CA → quinn server configuration;
//! - `enroll.rs`: the certificate from the API (bootstrap token, renewal);
//! - `pairing.rs`: the pairing rules as a pure state machine;
//! - `listener.rs`: accept, claims, pairing, one task per connection;
//! - `relay.rs`: a paired session's streams (header check, splice, counts);
//! - `outbox.rs`: session events to BAMF_EVENTS, held while NATS is down;
//! - `control.rs`: heartbeats and the `drain` / `kill` commands;
//! - `metrics.rs`: in-process counters.
//!
//! Decisions where ARCHITECTURE is silent (to be copied there):
//! - every session that reached the bridge ends with one `session.closed`,
//!   also when it never paired; `reason` is one of `client_closed`,
//!   `agent_closed`, `killed`, `idle_timeout`, `shutdown`, `pairing_timeout`,
//!   `left_before_pairing`. Refused connections (duplicate side, finished id,
//!   draining, limit) emit no session event: they are counted and logged,
//!   and a duplicate side or a finished id presented again — refusals of a
//!   certificate that verified, so of a known holder — is also an
//!   `access.denied` audit record (action `bridge.connect`). Certificates
//!   that fail verification are counted by reason and logged only.
//! - when one side closes, the other is closed with the same bamf close code
//!   (Normal if it was not one of ours); QUIC idle → `IdleTimeout`.
//! - session idle = no open stream for `idle_timeout`; a quiet `ssh` with an
//!   open stream is not idle. The bridge sends QUIC keep-alives, so the
//!   transport idle timeout only catches silent (dead) peers.
//! - `drain` takes any body (or none) and answers `{"ok": null}`; `kill`
//!   answers `{"ok": null}` or the refusal `unknown_session`.
//! - heartbeats are not queued while NATS is away: the first one after it
//!   returns carries the current load, which is all a heartbeat is for.
//! - the bridge certificate comes from the API (`enroll.rs`) or from files
//!   (see `config.rs`); a renewal applies to new connections only.

pub mod config;
mod control;
pub mod enroll;
mod listener;
pub mod metrics;
mod outbox;
pub mod pairing;
mod relay;
pub mod tls;

pub use config::BridgeConfig;
pub use metrics::{Metrics, MetricsSnapshot};
pub use tls::BridgeTls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use bamf_domain::AggregateId;
use bamf_events::{jetstream, AuditLog, ConnectOptions, EventLog, LogConfig};
use bamf_pki::RejectHook;
use bamf_runtime::api_client::ApiClient;
use bamf_runtime::health::{self, Readiness};
use bamf_runtime::Shutdown;
use bamf_tunnel::TransportLimits;
use tokio::net::TcpListener;

use crate::control::{Announce, CommandSubscriptions};
use crate::listener::Shared;
use crate::outbox::Outbox;
use crate::pairing::{PairingLimits, Pairings};

/// How long start-up waits for NATS to confirm the command subscriptions
/// before going on without it (they are re-sent when NATS is reachable).
const NATS_READY_TIMEOUT: Duration = Duration::from_secs(2);
/// QUIC keep-alive upper bound (under common NAT timeouts).
const MAX_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A running bridge (its tasks belong to the [`Shutdown`] given to [`start`]).
pub struct Bridge {
    shared: Arc<Shared>,
    quic_addr: SocketAddr,
}

impl Bridge {
    /// Where the QUIC listener is bound.
    pub fn quic_addr(&self) -> SocketAddr {
        self.quic_addr
    }

    /// The counters now.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot()
    }

    /// Session events not yet stored in BAMF_EVENTS.
    pub fn outbox_len(&self) -> usize {
        self.shared.outbox.len()
    }

    /// Appends to BAMF_EVENTS that failed so far (NATS away, no ack in time).
    pub fn append_failures(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.outbox.failures()
    }

    /// Whether a `drain` command was received.
    pub fn is_draining(&self) -> bool {
        self.shared.draining.load(Ordering::Relaxed)
    }
}

/// Starts the QUIC listener on `quic`, the event outbox, heartbeats and
/// commands. Returns once they run; NATS need not be reachable.
pub async fn start(
    config: BridgeConfig,
    tls: BridgeTls,
    quic: std::net::UdpSocket,
    shutdown: Shutdown,
) -> anyhow::Result<Bridge> {
    let bridge_id =
        AggregateId::new(config.bridge_id.clone()).context("key \"bridge_id\" is not valid")?;
    let metrics = Arc::new(Metrics::default());
    let hook: RejectHook = {
        let metrics = metrics.clone();
        Arc::new(move |error| {
            metrics.rejected_certificate(error);
            tracing::info!(reason = metrics::reject_reason(error), error = %error,
                "session certificate refused");
        })
    };
    let limits = TransportLimits {
        idle_timeout: config.idle_timeout,
        keep_alive: (config.idle_timeout / 3).min(MAX_KEEP_ALIVE),
        max_streams: config.max_streams_per_session,
    };
    let server = tls.server_config(&config.bridge_id, &limits, hook)?;
    let endpoint = quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(server),
        quic,
        Arc::new(quinn::TokioRuntime),
    )
    .context("cannot start the QUIC endpoint (key \"quic_listen\")")?;
    let quic_addr = endpoint
        .local_addr()
        .context("QUIC socket has no address")?;

    let client = ConnectOptions::new()
        .name(format!("bamf-bridge {}", config.bridge_id))
        .retry_on_initial_connect()
        .connect(config.nats_url.as_str())
        .await
        .with_context(|| {
            format!(
                "cannot connect to NATS at {} (key \"nats_url\")",
                config.nats_url
            )
        })?;
    let js = jetstream::new(client.clone());
    let outbox = Outbox::new(config.max_outbox, config.event_ack_timeout, metrics.clone());
    let shared = Arc::new(Shared {
        bridge_id,
        hold: config.pairing_hold,
        idle_timeout: config.idle_timeout,
        max_streams: config.max_streams_per_session,
        pairings: Mutex::new(Pairings::new(PairingLimits {
            hold: config.pairing_hold,
            max_pending: config.max_pending,
            ..PairingLimits::default()
        })),
        active: Mutex::new(HashMap::new()),
        draining: AtomicBool::new(false),
        metrics,
        outbox: outbox.clone(),
        shutdown: shutdown.clone(),
    });
    let commands = CommandSubscriptions::subscribe(&client, &shared)
        .await
        .context("cannot subscribe to bridge commands")?;
    if !matches!(
        tokio::time::timeout(NATS_READY_TIMEOUT, client.flush()).await,
        Ok(Ok(()))
    ) {
        tracing::warn!(nats = %config.nats_url,
            "NATS not reachable yet; relaying anyway, events are held until it is");
    }
    let announce = Announce {
        address: config.advertise_address.clone(),
        server_name: config.server_name.clone(),
        interval: config.heartbeat_interval,
        ttl: config.heartbeat_ttl,
    };
    shutdown.spawn(outbox.run(
        EventLog::new(js.clone(), LogConfig::default()),
        AuditLog::new(js.clone()),
        shutdown.clone(),
    ));
    shutdown.spawn(control::heartbeats(js, announce, shared.clone()));
    shutdown.spawn(commands.serve(client, shared.clone()));
    shutdown.spawn(listener::accept_loop(endpoint, shared.clone()));
    tracing::info!(bridge = %shared.bridge_id, quic = %quic_addr, "bridge listening");
    Ok(Bridge { shared, quic_addr })
}

/// The bridge's TLS material as configured: from the certificate files, or
/// from the API (`api_url`) — loaded from `data_dir` or enrolled with the
/// bootstrap token — with a task on `shutdown` that keeps it renewed.
pub async fn tls_for(config: &BridgeConfig, shutdown: &Shutdown) -> anyhow::Result<BridgeTls> {
    if config.api_url.trim().is_empty() {
        return BridgeTls::load(config);
    }
    let api = ApiClient::new(&config.api_url, config.api_timeout)
        .context("cannot set up the API client (key \"api_url\")")?;
    let identity = enroll::obtain(config, &api, shutdown).await?;
    let tls = identity.tls()?;
    shutdown.spawn(enroll::renew_forever(
        config.clone(),
        api,
        identity,
        tls.cert.clone(),
        shutdown.clone(),
    ));
    Ok(tls)
}

/// Runs bamf-bridge: health endpoint on `health`, QUIC on `quic`, until
/// `shutdown` is triggered, then drains within the grace period.
pub async fn run(
    config: BridgeConfig,
    health: TcpListener,
    quic: std::net::UdpSocket,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let addr = health
        .local_addr()
        .context("listener has no local address")?;
    let readiness = Readiness::new();
    let router = health::routes(readiness.clone());
    let mut server = shutdown.spawn(health::serve(health, router, shutdown.clone()));
    let tls = tls_for(&config, &shutdown).await?;
    let _bridge = start(config, tls, quic, shutdown.clone()).await?;
    tracing::info!(health = %addr, "bamf-bridge ready");
    readiness.set(true);
    let outcome = health::until_stopped(&mut server, &shutdown).await;
    readiness.set(false);
    shutdown.trigger();
    shutdown.drain().await;
    tracing::info!("bamf-bridge stopped");
    outcome
}

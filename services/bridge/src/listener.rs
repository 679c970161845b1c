//! The QUIC listener: one task per connection, in a span naming its session.
//!
//! A connection's certificate was checked during the handshake (the verifier
//! counts and logs refusals). Its claims say the session and the side; the
//! pure pairing table ([`crate::pairing`], behind a mutex) decides: hold it,
//! pair it, or refuse it with a close code. The task of the second side runs
//! the session ([`crate::relay`]); the held side's task only waits for that,
//! for the hold to run out, or for its peer to leave.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bamf_domain::events::{AccessDenied, SessionClosed, SessionConnected};
use bamf_domain::{Actor, ActorKind, AggregateId, Envelope, Event, Timestamp};
use bamf_pki::{claims_from_peer, SessionClaims, SessionPeer, Side};
use bamf_runtime::Shutdown;
use bamf_tunnel::{CloseCode, StreamCredit};
use rustls_pki_types::CertificateDer;
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::pairing::{Arrival, End, Pairings};
use crate::relay::{run_session, Ended};

/// Longest QUIC handshake accepted.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first side of a session, waiting in the pairing table.
pub struct Held {
    conn: quinn::Connection,
    /// Fired when the other side pairs with it (dropped: expired or killed).
    paired: oneshot::Sender<()>,
}

/// State shared by all connection tasks.
pub struct Shared {
    pub bridge_id: AggregateId,
    pub hold: Duration,
    /// A paired session with no open stream for this long is closed.
    pub idle_timeout: Duration,
    /// Most concurrent streams a client may open in a session.
    pub max_streams: u32,
    pub pairings: Mutex<Pairings<Held>>,
    /// Kill switches of paired sessions (lock order: pairings, then this).
    pub active: Mutex<HashMap<String, oneshot::Sender<CloseCode>>>,
    pub draining: AtomicBool,
    pub metrics: Arc<Metrics>,
    pub outbox: Outbox,
    pub shutdown: Shutdown,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the tables consistent; a panic in one
    // must not stop the bridge.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn pairings(&self) -> MutexGuard<'_, Pairings<Held>> {
        lock(&self.pairings)
    }

    pub(crate) fn active(&self) -> MutexGuard<'_, HashMap<String, oneshot::Sender<CloseCode>>> {
        lock(&self.active)
    }

    /// Ends `session` with `code` wherever it is (held or paired). Whether it was found.
    pub fn kill(&self, session: &str, code: CloseCode) -> bool {
        let mut pairings = self.pairings();
        if let Some(held) = pairings.finish(session, Instant::now()) {
            drop(pairings);
            held.conn.close(code.varint(), code.reason().as_bytes());
            self.emit_closed(session, 0, 0, "killed");
            return true;
        }
        match self.active().remove(session) {
            Some(switch) => switch.send(code).is_ok(),
            None => false,
        }
    }

    /// A session event by this bridge.
    fn event(&self, session: &str, event: Event) {
        let actor = Actor {
            kind: ActorKind::Bridge,
            id: self.bridge_id.to_string(),
            email: None,
            ip: None,
        };
        self.record(session, actor, event);
    }

    /// Queues `event` about `session` by `actor` (a session event for
    /// BAMF_EVENTS or an audit-only record; the outbox routes it).
    fn record(&self, session: &str, actor: Actor, event: Event) {
        let Ok(id) = AggregateId::new(session) else {
            tracing::warn!(
                session,
                "session id is not an aggregate id; event not recorded"
            );
            return;
        };
        let now = Timestamp::new(time::OffsetDateTime::now_utc());
        self.outbox
            .push(Envelope::new(ulid::Ulid::new(), now, actor, id, event));
    }

    /// Records, as an `access.denied` audit record, the refusal of a peer
    /// whose certificate verified: a second connection for a side, or a
    /// finished session presented again. (Certificates that do not verify
    /// are counted and logged only: nothing trustworthy names their holder.)
    fn audit_refusal(&self, session: &str, holder: Actor, code: CloseCode) {
        let event = Event::AccessDenied(AccessDenied {
            action: AccessDenied::BRIDGE_CONNECT.to_string(),
            target: session.to_string(),
            reason: code.reason().to_string(),
        });
        self.record(session, holder, event);
    }

    fn emit_closed(&self, session: &str, bytes_up: u64, bytes_down: u64, reason: &str) {
        self.metrics.closed();
        self.event(
            session,
            Event::SessionClosed(SessionClosed {
                bytes_up,
                bytes_down,
                reason: reason.to_string(),
            }),
        );
    }
}

/// Accepts connections until shutdown.
pub async fn accept_loop(endpoint: quinn::Endpoint, shared: Arc<Shared>) {
    loop {
        let incoming = tokio::select! {
            _ = shared.shutdown.triggered() => break,
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => incoming,
                None => break,
            },
        };
        let shared2 = shared.clone();
        shared.shutdown.spawn(handle(incoming, shared2));
    }
    endpoint.close(CloseCode::Normal.varint(), b"bridge stopping");
}

async fn handle(incoming: quinn::Incoming, shared: Arc<Shared>) {
    let remote = incoming.remote_address();
    let conn = match tokio::time::timeout(HANDSHAKE_TIMEOUT, incoming).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(error)) => {
            shared.metrics.handshake_failed();
            tracing::debug!(%remote, error = %error, "handshake failed");
            return;
        }
        Err(_) => {
            shared.metrics.handshake_failed();
            tracing::debug!(%remote, "handshake timed out");
            return;
        }
    };
    let claims = conn
        .peer_identity()
        .and_then(|id| id.downcast::<Vec<CertificateDer<'static>>>().ok())
        .map(|certs| claims_from_peer(&certs));
    let claims = match claims {
        Some(Ok(claims)) => claims,
        // The verifier accepted these certificates: not expected.
        _ => {
            shared.metrics.refused();
            conn.close(
                CloseCode::ProtocolError.varint(),
                CloseCode::ProtocolError.reason().as_bytes(),
            );
            return;
        }
    };
    let end = match claims.side() {
        Side::Client => End::Client,
        Side::Agent => End::Agent,
    };
    let span = tracing::info_span!("connection", session = %claims.session_id,
        side = claims.side().as_str(), %remote);
    let holder = holder(&claims, remote);
    connection(conn, claims.session_id, end, holder, shared)
        .instrument(span)
        .await;
}

/// The verified holder of a session certificate, as an audit actor.
fn holder(claims: &SessionClaims, remote: SocketAddr) -> Actor {
    let (kind, id, email) = match &claims.peer {
        SessionPeer::User { email, .. } => (ActorKind::User, email.clone(), Some(email.clone())),
        SessionPeer::Agent { agent_id } => (ActorKind::Agent, agent_id.clone(), None),
    };
    Actor {
        kind,
        id,
        email,
        ip: Some(remote.ip()),
    }
}

async fn connection(
    conn: quinn::Connection,
    session: String,
    end: End,
    holder: Actor,
    shared: Arc<Shared>,
) {
    if shared.draining.load(Ordering::Relaxed) {
        refuse(&conn, &shared, CloseCode::Draining);
        return;
    }
    let (paired_tx, paired_rx) = oneshot::channel();
    let arrived = Instant::now();
    let held = Held {
        conn: conn.clone(),
        paired: paired_tx,
    };
    let other = {
        let mut pairings = shared.pairings();
        match pairings.arrive(&session, end, held, arrived) {
            Arrival::Refused(code) => {
                drop(pairings);
                refuse(&conn, &shared, code);
                if matches!(code, CloseCode::DuplicateSide | CloseCode::SessionFinished) {
                    shared.audit_refusal(&session, holder, code);
                }
                return;
            }
            Arrival::Held => None,
            Arrival::Paired { other } => {
                let (kill_tx, kill_rx) = oneshot::channel();
                shared.active().insert(session.clone(), kill_tx);
                Some((other, kill_rx))
            }
        }
    };
    let Some((other, kill_rx)) = other else {
        tracing::debug!("held for the other side");
        wait_for_pair(conn, session, paired_rx, arrived, shared).await;
        return;
    };
    // The held task only waits for this; if it is gone its connection closes below.
    let _ = other.paired.send(());
    let (client, agent) = match end {
        End::Client => (conn, other.conn),
        End::Agent => (other.conn, conn),
    };
    shared.metrics.paired();
    tracing::info!("paired");
    shared.event(
        &session,
        Event::SessionConnected(SessionConnected {
            bridge_id: shared.bridge_id.clone(),
        }),
    );
    let stopping = shared.shutdown.token().clone();
    let Ended {
        code,
        reason,
        bytes_up,
        bytes_down,
    } = run_session(
        client,
        agent,
        kill_rx,
        stopping,
        shared.idle_timeout,
        StreamCredit::new(shared.max_streams),
        shared.metrics.clone(),
    )
    .await;
    shared.active().remove(&session);
    shared.pairings().finish(&session, Instant::now());
    tracing::info!(?code, reason, bytes_up, bytes_down, "session closed");
    shared.emit_closed(&session, bytes_up, bytes_down, reason);
}

/// The held side: paired (the other task runs the session), timed out, or gone.
async fn wait_for_pair(
    conn: quinn::Connection,
    session: String,
    mut paired: oneshot::Receiver<()>,
    arrived: Instant,
    shared: Arc<Shared>,
) {
    let deadline = tokio::time::Instant::from_std(arrived + shared.hold);
    tokio::select! {
        // Ok: paired; Err: expired or killed by another task, which closed us.
        _ = &mut paired => {}
        _ = tokio::time::sleep_until(deadline) => {
            let expired = shared.pairings().expire(Instant::now());
            for (id, held) in expired {
                let code = CloseCode::PairingTimeout;
                held.conn.close(code.varint(), code.reason().as_bytes());
                shared.metrics.pairing_timeout();
                tracing::info!(session = %id, "pairing timed out");
                shared.emit_closed(&id, 0, 0, "pairing_timeout");
            }
        }
        _ = conn.closed() => {
            if paired.try_recv().is_ok() {
                return;
            }
            if shared.pairings().finish(&session, Instant::now()).is_some() {
                tracing::info!("left before the other side arrived");
                shared.emit_closed(&session, 0, 0, "left_before_pairing");
            }
        }
        _ = shared.shutdown.triggered() => {
            conn.close(CloseCode::Normal.varint(), b"bridge stopping");
        }
    }
}

fn refuse(conn: &quinn::Connection, shared: &Shared, code: CloseCode) {
    shared.metrics.refused();
    tracing::info!(?code, "refused");
    conn.close(code.varint(), code.reason().as_bytes());
}

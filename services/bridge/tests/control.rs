//! The control plane of a bridge over real NATS: heartbeats with load and the
//! draining flag, `drain` (new sessions refused with Draining) and `kill`
//! (a session closed with Killed, recorded).

mod common;

use std::time::Duration;

use bamf_domain::tunnel::{BridgeHeartbeat, KillCommand};
use bamf_domain::AggregateId;
use bamf_events::commands::{self, CommandError};
use bamf_pki::Side;
use bamf_tunnel::CloseCode;
use common::*;
use futures::StreamExt;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

async fn command<Q: serde::Serialize>(
    h: &Harness,
    name: &str,
    body: &Q,
) -> Result<(), CommandError> {
    let client = bamf_events::connect(h.nats.url()).await.unwrap();
    let subject = format!("bamf.cmd.bridge.{BRIDGE}.{name}");
    commands::request::<Q, ()>(&client, subject, body, Default::default(), REQUEST_TIMEOUT)
        .await
        .map(|_| ())
}

/// Waits for a heartbeat of this bridge that satisfies `want`.
async fn heartbeat(h: &Harness, want: impl Fn(&BridgeHeartbeat) -> bool) -> BridgeHeartbeat {
    let mut messages = h
        .messages("BAMF_HEARTBEATS", &format!("bamf.hb.bridge.{BRIDGE}"))
        .await;
    tokio::time::timeout(TIMEOUT, async {
        loop {
            let message = messages.next().await.unwrap().unwrap();
            let ttl = message
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-TTL"))
                .map(|v| v.to_string());
            assert_eq!(ttl.as_deref(), Some("2s"));
            let beat: BridgeHeartbeat = serde_json::from_slice(&message.payload).unwrap();
            if want(&beat) {
                return beat;
            }
        }
    })
    .await
    .expect("a matching heartbeat in time")
}

#[tokio::test]
async fn heartbeats_carry_address_and_load_and_drain_refuses_new_sessions() {
    let h = Harness::start().await;
    let (_session, _client, _agent) = h.pair().await;
    let _held = h
        .connect(&h.pki.session(&session_id(), Side::Client))
        .await
        .unwrap();
    let beat = heartbeat(&h, |b| b.sessions == 1 && b.pending == 1).await;
    assert_eq!(beat.bridge_id.as_str(), BRIDGE);
    assert_eq!(beat.address, "127.0.0.1:4433");
    assert_eq!(beat.server_name, "localhost");
    assert!(!beat.draining);

    command(&h, "drain", &serde_json::json!({})).await.unwrap();
    assert!(h.bridge.is_draining());
    let late = h
        .connect(&h.pki.session(&session_id(), Side::Client))
        .await
        .unwrap();
    assert_eq!(close_code(&late).await, Some(CloseCode::Draining));
    heartbeat(&h, |b| b.draining).await;
    h.stop().await;
}

#[tokio::test]
async fn kill_closes_both_sides_with_killed_and_unknown_sessions_are_refused() {
    let h = Harness::start().await;
    let (session, client, agent) = h.pair().await;
    h.event(&session, "session.connected").await;
    let kill = KillCommand {
        session_id: AggregateId::new(session.clone()).unwrap(),
    };
    command(&h, "kill", &kill).await.unwrap();
    assert_eq!(close_code(&client).await, Some(CloseCode::Killed));
    assert_eq!(close_code(&agent).await, Some(CloseCode::Killed));
    let closed = closed_data(&h.event(&session, "session.closed").await);
    assert_eq!(closed.reason, "killed");

    let unknown = KillCommand {
        session_id: AggregateId::new(session_id()).unwrap(),
    };
    match command(&h, "kill", &unknown).await {
        Err(CommandError::Refused(refusal)) => assert_eq!(refusal.code, "unknown_session"),
        other => panic!("want unknown_session, got {other:?}"),
    }
    h.stop().await;
}

//! NATS stopped during a session: relaying goes on, and the session's events
//! held by the bridge land in BAMF_EVENTS (once each) after NATS is back.

mod common;

use std::time::Duration;

use bamf_domain::Event;
use bamf_tunnel::CloseCode;
use common::*;
use futures::StreamExt;

#[tokio::test]
async fn relaying_goes_on_without_nats_and_held_events_arrive_after_it_returns() {
    let mut h = Harness::start_with(|c| c.event_ack_timeout = Duration::from_millis(300)).await;
    let mut failures = h.bridge.append_failures();
    let (session, client, agent) = h.pair().await;
    let _echo = spawn_echo_agent(agent.clone());
    assert_eq!(echo_through(&client, vec![7; 1000]).await, vec![7; 1000]);
    h.event(&session, "session.connected").await;
    let sent_before = h.bridge.metrics().events_sent;

    h.nats.stop();
    let payload: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(echo_through(&client, payload.clone()).await, payload);
    client.close(CloseCode::Normal.varint(), b"done");
    assert_eq!(close_code(&agent).await, Some(CloseCode::Normal));
    assert_eq!(
        h.bridge.metrics().events_sent,
        sent_before,
        "nothing can be stored while NATS is down"
    );

    // The bridge tried to store session.closed and could not: it is held.
    tokio::time::timeout(TIMEOUT, failures.wait_for(|n| *n >= 1))
        .await
        .expect("an append fails while NATS is down")
        .unwrap();
    assert_eq!(h.bridge.outbox_len(), 1, "session.closed is held");

    h.nats.restart().await.unwrap();
    let mut events = h.events(&session).await;
    let first = tokio::time::timeout(TIMEOUT, events.next())
        .await
        .expect("session.connected is in the log")
        .unwrap();
    assert!(
        matches!(first.event, Event::SessionConnected(_)),
        "{first:?}"
    );
    // The next one is session.closed: no duplicate of the first.
    let closed = tokio::time::timeout(TIMEOUT, events.next())
        .await
        .expect("held session.closed arrives after NATS is back")
        .unwrap();
    let data = closed_data(&closed);
    let total = 1000 + payload.len() as u64;
    assert_eq!((data.bytes_up, data.bytes_down), (total, total));
    assert_eq!(h.bridge.outbox_len(), 0);
    h.stop().await;
}

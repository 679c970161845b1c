//! What the bridge refuses: certificates for another bridge, expired, or from
//! another CA (the handshake fails and is counted by reason); garbage on a
//! stream (that stream is reset, the session goes on); a held side whose
//! other side never comes (closed with PairingTimeout, recorded).

mod common;

use std::time::{Duration, SystemTime};

use bamf_pki::Side;
use bamf_tunnel::{CloseCode, StreamHeader};
use common::*;

#[tokio::test]
async fn certificates_for_another_bridge_expired_or_from_another_ca_are_refused_and_counted() {
    let h = Harness::start().await;
    let now = SystemTime::now();

    let other_bridge = h
        .pki
        .session_for(&session_id(), Side::Client, "bridge-2", now);
    assert_refused_handshake(h.connect(&other_bridge).await).await;

    let expired = h.pki.session_for(
        &session_id(),
        Side::Agent,
        BRIDGE,
        now - Duration::from_secs(3600),
    );
    assert_refused_handshake(h.connect(&expired).await).await;

    let stranger = Pki::new();
    let foreign = stranger.session(&session_id(), Side::Client);
    assert_refused_handshake(h.connect(&foreign).await).await;

    let m = h.bridge.metrics();
    assert_eq!(m.rejected.get("wrong_bridge"), Some(&1), "{m:?}");
    assert_eq!(m.rejected.get("expired"), Some(&1), "{m:?}");
    assert_eq!(m.rejected.get("untrusted_chain"), Some(&1), "{m:?}");
    assert_eq!(m.sessions_paired, 0);
    h.stop().await;
}

#[tokio::test]
async fn garbage_on_a_stream_resets_that_stream_only() {
    let h = Harness::start().await;
    let (_session, client, agent) = h.pair().await;
    let _echo = spawn_echo_agent(agent.clone());

    let (mut send, mut recv) = client.open_bi().await.unwrap();
    send.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let reset = tokio::time::timeout(TIMEOUT, recv.read_to_end(1024))
        .await
        .unwrap()
        .unwrap_err();
    match reset {
        quinn::ReadToEndError::Read(quinn::ReadError::Reset(code)) => {
            assert_eq!(CloseCode::from_varint(code), Some(CloseCode::ProtocolError));
        }
        other => panic!("want a reset with ProtocolError, got {other:?}"),
    }
    // A wrong version in an otherwise well-formed header is garbage too.
    let (mut send, mut recv) = client.open_bi().await.unwrap();
    let mut header = StreamHeader::TCP.encode();
    header[1] = 9;
    send.write_all(&header).await.unwrap();
    assert!(tokio::time::timeout(TIMEOUT, recv.read_to_end(1024))
        .await
        .unwrap()
        .is_err());

    assert_eq!(
        echo_through(&client, b"after garbage".to_vec()).await,
        b"after garbage"
    );
    assert_eq!(h.bridge.metrics().protocol_errors, 2);
    assert!(client.close_reason().is_none(), "session goes on");
    h.stop().await;
}

#[tokio::test]
async fn a_held_side_is_closed_when_the_hold_runs_out() {
    let h = Harness::start_with(|c| c.pairing_hold = Duration::from_millis(300)).await;
    let session = session_id();
    let client = h
        .connect(&h.pki.session(&session, Side::Client))
        .await
        .unwrap();
    assert_eq!(close_code(&client).await, Some(CloseCode::PairingTimeout));
    let closed = closed_data(&h.event(&session, "session.closed").await);
    assert_eq!(closed.reason, "pairing_timeout");
    assert_eq!(h.bridge.metrics().pairing_timeouts, 1);

    // The id is finished: the late agent is refused.
    let agent = h
        .connect(&h.pki.session(&session, Side::Agent))
        .await
        .unwrap();
    assert_eq!(close_code(&agent).await, Some(CloseCode::SessionFinished));
    h.stop().await;
}

#[tokio::test]
async fn a_held_side_that_leaves_finishes_its_session() {
    let h = Harness::start().await;
    let session = session_id();
    let client = h
        .connect(&h.pki.session(&session, Side::Client))
        .await
        .unwrap();
    client.close(CloseCode::Normal.varint(), b"gave up");
    let closed = closed_data(&h.event(&session, "session.closed").await);
    assert_eq!(closed.reason, "left_before_pairing");
    let agent = h
        .connect(&h.pki.session(&session, Side::Agent))
        .await
        .unwrap();
    assert_eq!(close_code(&agent).await, Some(CloseCode::SessionFinished));
    h.stop().await;
}

#[tokio::test]
async fn sessions_beyond_max_pending_are_refused_with_limit_reached() {
    let h = Harness::start_with(|c| c.max_pending = 1).await;
    let first = session_id();
    let held = h
        .connect(&h.pki.session(&first, Side::Client))
        .await
        .unwrap();
    let second = h
        .connect(&h.pki.session(&session_id(), Side::Client))
        .await
        .unwrap();
    assert_eq!(close_code(&second).await, Some(CloseCode::LimitReached));
    // The held one still pairs.
    let agent = h
        .connect(&h.pki.session(&first, Side::Agent))
        .await
        .unwrap();
    let _echo = spawn_echo_agent(agent);
    assert_eq!(echo_through(&held, b"paired".to_vec()).await, b"paired");
    h.stop().await;
}

//! A paired session through the real bridge: bytes both ways on concurrent
//! streams, its events in BAMF_EVENTS, first-wins and finished-id refusals.

mod common;

use bamf_pki::Side;
use bamf_tunnel::{CloseCode, StreamHeader};
use common::*;

#[tokio::test]
async fn client_and_agent_pair_and_bytes_flow_both_ways_on_concurrent_streams() {
    let h = Harness::start().await;
    let (session, client, agent) = h.pair().await;
    let echo = spawn_echo_agent(agent.clone());

    let sizes = [1usize, 4096, 300_000, 1 << 20];
    let mut streams = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let client = client.clone();
        let payload: Vec<u8> = (0..*size)
            .map(|b| (b as u8).wrapping_add(i as u8))
            .collect();
        streams.push(tokio::spawn(async move {
            let echoed = echo_through(&client, payload.clone()).await;
            assert_eq!(echoed, payload, "stream {i} echoed intact");
        }));
    }
    for s in streams {
        s.await.unwrap();
    }

    let connected = h.event(&session, "session.connected").await;
    assert_eq!(connected.actor.id, BRIDGE);
    assert_eq!(connected.aggregate_id.as_str(), session);

    client.close(CloseCode::Normal.varint(), b"done");
    assert_eq!(close_code(&agent).await, Some(CloseCode::Normal));
    echo.await.unwrap();

    let closed = closed_data(&h.event(&session, "session.closed").await);
    let total: u64 = sizes.iter().map(|s| *s as u64).sum();
    assert_eq!((closed.bytes_up, closed.bytes_down), (total, total));
    assert_eq!(closed.reason, "client_closed");
    let m = h.bridge.metrics();
    assert_eq!((m.sessions_paired, m.sessions_closed), (1, 1));
    h.stop().await;
}

#[tokio::test]
async fn a_second_client_for_a_paired_session_is_refused() {
    let h = Harness::start().await;
    let (session, client, agent) = h.pair().await;
    let second = h
        .connect(&h.pki.session(&session, Side::Client))
        .await
        .unwrap();
    assert_eq!(close_code(&second).await, Some(CloseCode::DuplicateSide));
    // The holder's certificate verified: the refusal is audited, naming them.
    let record = h.audit(&session).await;
    assert_eq!(record["type"], "access.denied");
    assert_eq!(record["actor"]["kind"], "user");
    assert_eq!(record["actor"]["email"], "alice@corp.example");
    assert_eq!(record["data"]["action"], "bridge.connect");
    assert_eq!(record["data"]["target"], session.as_str());
    // The first pair is untouched.
    let _echo = spawn_echo_agent(agent.clone());
    assert_eq!(
        echo_through(&client, b"still here".to_vec()).await,
        b"still here"
    );
    assert_eq!(h.bridge.metrics().refused, 1);
    h.stop().await;
}

#[tokio::test]
async fn a_finished_session_id_is_never_paired_again() {
    let h = Harness::start().await;
    let (session, client, agent) = h.pair().await;
    agent.close(CloseCode::Normal.varint(), b"done");
    assert_eq!(close_code(&client).await, Some(CloseCode::Normal));
    let closed = closed_data(&h.event(&session, "session.closed").await);
    assert_eq!(closed.reason, "agent_closed");

    let replay = h
        .connect(&h.pki.session(&session, Side::Client))
        .await
        .unwrap();
    assert_eq!(close_code(&replay).await, Some(CloseCode::SessionFinished));
    let record = h.audit(&session).await;
    assert_eq!(record["data"]["action"], "bridge.connect");
    assert!(
        record["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("finished"),
        "{record}"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_session_with_no_open_stream_for_the_idle_timeout_is_closed() {
    let h = Harness::start_with(|c| c.idle_timeout = std::time::Duration::from_secs(1)).await;
    let (session, client, agent) = h.pair().await;
    let _echo = spawn_echo_agent(agent.clone());
    // A finished stream does not keep the session alive afterwards.
    assert_eq!(echo_through(&client, b"once".to_vec()).await, b"once");
    assert_eq!(close_code(&client).await, Some(CloseCode::IdleTimeout));
    assert_eq!(close_code(&agent).await, Some(CloseCode::IdleTimeout));
    let closed = closed_data(&h.event(&session, "session.closed").await);
    assert_eq!(closed.reason, "idle_timeout");
    assert_eq!((closed.bytes_up, closed.bytes_down), (4, 4));
    h.stop().await;
}

#[tokio::test]
async fn an_agent_stream_reset_reaches_the_client_with_its_code() {
    let h = Harness::start().await;
    let (_session, client, agent) = h.pair().await;
    // The agent cannot reach its target: it resets the stream with that code.
    let agent_side = tokio::spawn(async move {
        let (mut send, mut recv) = agent.accept_bi().await.unwrap();
        bamf_tunnel::StreamHeader::read_from(&mut recv)
            .await
            .unwrap();
        send.reset(CloseCode::TargetUnreachable.varint()).unwrap();
        let _ = recv.stop(CloseCode::TargetUnreachable.varint());
        agent
    });
    let (mut send, mut recv) = client.open_bi().await.unwrap();
    send.write_all(&bamf_tunnel::StreamHeader::TCP.encode())
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), recv.read(&mut buf))
        .await
        .expect("the client's stream ends in time");
    match read {
        Err(quinn::ReadError::Reset(code)) => {
            assert_eq!(
                CloseCode::from_varint(code),
                Some(CloseCode::TargetUnreachable)
            )
        }
        other => panic!("expected a reset with the agent's code, got {other:?}"),
    }
    let _agent = agent_side.await.unwrap();
    h.stop().await;
}

/// A client's stream limit starts at `INITIAL_STREAM_CREDIT` and grows as it
/// is used, so a session can have `max_streams_per_session` TCP connections
/// open at once, and no more; closed ones make room for new ones.
#[tokio::test]
async fn a_client_gets_streams_beyond_the_initial_credit_up_to_the_session_limit() {
    use futures::FutureExt;

    const LIMIT: u32 = 40;
    const { assert!(LIMIT > bamf_tunnel::INITIAL_STREAM_CREDIT * 2) };
    let h = Harness::start_with(|c| c.max_streams_per_session = LIMIT).await;
    let (_, client, agent) = h.pair().await;
    let _echo = spawn_echo_agent(agent.clone());

    let mut open = Vec::new();
    for i in 0..LIMIT {
        let (mut send, mut recv) = tokio::time::timeout(TIMEOUT, client.open_bi())
            .await
            .unwrap_or_else(|_| panic!("stream {i} is granted"))
            .unwrap();
        send.write_all(&StreamHeader::TCP.encode()).await.unwrap();
        send.write_all(&[i as u8]).await.unwrap();
        let mut byte = [0u8];
        tokio::time::timeout(TIMEOUT, recv.read_exact(&mut byte))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(byte[0], i as u8, "stream {i} is relayed");
        open.push((send, recv));
    }
    // Every credit the bridge granted arrived before the last streams could
    // open: one more than the limit is not granted.
    assert!(
        client.open_bi().now_or_never().is_none(),
        "a stream beyond max_streams_per_session was granted"
    );

    // quinn gives credit back in batches (an eighth of the limit): closing a
    // quarter of the streams makes room for the next.
    for _ in 0..LIMIT / 4 {
        let (mut send, mut recv) = open.pop().unwrap();
        send.finish().unwrap();
        let rest = tokio::time::timeout(TIMEOUT, recv.read_to_end(16))
            .await
            .unwrap()
            .unwrap();
        assert!(rest.is_empty());
    }
    let echoed = tokio::time::timeout(TIMEOUT, echo_through(&client, b"after".to_vec()))
        .await
        .expect("a stream is granted once some closed");
    assert_eq!(echoed, b"after");
    h.stop().await;
}

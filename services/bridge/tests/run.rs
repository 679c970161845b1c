//! bamf-bridge's `run` in-process on port 0 (health, a session through it,
//! clean stop) and the real binary's exit codes.

mod common;

use std::process::Command;
use std::time::Duration;

use bamf_pki::Side;
use bamf_runtime::{probe, Shutdown};
use bamf_testkit::NatsServer;
use common::*;

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn serves_health_and_sessions_then_stops_within_the_grace() {
    let nats = NatsServer::start().await.unwrap();
    let js = bamf_events::jetstream::new(bamf_events::connect(nats.url()).await.unwrap());
    bamf_events::ensure_streams(&js, &Default::default())
        .await
        .unwrap();
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = bridge_config(&pki, &nats.url(), dir.path());
    let grace = config.shutdown_grace;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let quic = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let quic_addr = quic.local_addr().unwrap();
    let shutdown = Shutdown::new(grace);
    let running = tokio::spawn(bamf_bridge::run(config, listener, quic, shutdown.clone()));

    // The QUIC socket is bound already: a session pairs once run has started.
    let session = session_id();
    let client = connect_with(&pki, quic_addr, &pki.session(&session, Side::Client))
        .await
        .unwrap();
    let agent = connect_with(&pki, quic_addr, &pki.session(&session, Side::Agent))
        .await
        .unwrap();
    let _echo = spawn_echo_agent(agent);
    assert_eq!(echo_through(&client, b"hello".to_vec()).await, b"hello");
    let live = probe::get(addr, "/healthz", PROBE_TIMEOUT).await.unwrap();
    assert_eq!(live.status, 200);

    shutdown.trigger();
    tokio::time::timeout(grace + Duration::from_secs(1), running)
        .await
        .expect("run returns within the grace period")
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
    assert!(
        close_code(&client).await.is_some(),
        "sessions closed on stop"
    );
}

#[test]
fn bad_config_exits_2_naming_the_key() {
    let out = Command::new(env!("CARGO_BIN_EXE_bamf-bridge"))
        .env("BAMF_BRIDGE_SHUTDOWN_GRACE", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: invalid config: key \"shutdown_grace\""),
        "{stderr}"
    );
    assert!(stderr.contains("BAMF_BRIDGE_SHUTDOWN_GRACE"), "{stderr}");
}

#[test]
fn a_missing_bridge_id_exits_2_naming_the_key() {
    let out = Command::new(env!("CARGO_BIN_EXE_bamf-bridge"))
        .env_remove("BAMF_BRIDGE_BRIDGE_ID")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: invalid config: key \"bridge_id\""),
        "{stderr}"
    );
}

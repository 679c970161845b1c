//! bamf-bridge in-process on port 0 (health, clean stop) and the real binary's
//! exit codes.

use std::process::Command;
use std::time::Duration;

use bamf_bridge::BridgeConfig;
use bamf_runtime::{probe, Shutdown};

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn serves_health_then_stops_within_the_grace() {
    let grace = Duration::from_secs(2);
    let config = BridgeConfig {
        shutdown_grace: grace,
        ..BridgeConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new(grace);
    let running = tokio::spawn(bamf_bridge::run(config, listener, shutdown.clone()));

    // Accepting is up once bind returned; readiness is set right after start.
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

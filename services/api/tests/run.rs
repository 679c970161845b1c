//! bamf-api started in-process on port 0: health, JSON errors, clean stop.

use std::net::SocketAddr;
use std::time::Duration;

use bamf_api::ApiConfig;
use bamf_runtime::{probe, Shutdown};
use bamf_testkit::{NatsServer, TestDatabase};

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between readiness probes (a probe, not a sleep in place of one).
const PROBE_INTERVAL: Duration = Duration::from_millis(10);

async fn wait_ready(addr: SocketAddr) {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(answer) = probe::get(addr, "/readyz", PROBE_TIMEOUT).await {
            if answer.status == 200 {
                return;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "bamf-api not ready in time"
        );
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

#[tokio::test]
async fn serves_health_and_json_errors_then_stops_within_the_grace() {
    let nats = NatsServer::start().await.unwrap();
    let db = TestDatabase::create().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let grace = Duration::from_secs(2);
    let config = ApiConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        nats_url: nats.url(),
        database_url: db.url().into(),
        data_dir: data.path().join("api"),
        shutdown_grace: grace,
        ..ApiConfig::default()
    };
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new(grace);
    let running = tokio::spawn(bamf_api::run(config, listener, shutdown.clone()));

    wait_ready(addr).await;
    let live = probe::get(addr, "/healthz", PROBE_TIMEOUT).await.unwrap();
    assert_eq!(live.status, 200);
    let missing = probe::get(addr, "/api/v1/nothing-here", PROBE_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(missing.status, 404);
    let body: serde_json::Value = serde_json::from_str(&missing.body).unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert!(
        data.path().join("api").is_dir(),
        "data_dir is created at start"
    );

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

#[tokio::test]
async fn a_start_up_failure_stops_run_with_an_error() {
    // data_dir under a regular file cannot be created.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let config = ApiConfig {
        database_url: "postgres://postgres@127.0.0.1:5432/unused".into(),
        data_dir: file.join("data"),
        ..ApiConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = bamf_api::run(config, listener, Shutdown::new(Duration::from_secs(1)))
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("cannot create data_dir"),
        "{error:#}"
    );
}

#[tokio::test]
async fn unreachable_nats_fails_start_up_naming_the_key() {
    // A port nobody listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = tempfile::tempdir().unwrap();
    let config = ApiConfig {
        nats_url: format!("nats://127.0.0.1:{port}"),
        database_url: "postgres://postgres@127.0.0.1:5432/unused".into(),
        data_dir: data.path().join("api"),
        ..ApiConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = bamf_api::run(config, listener, Shutdown::new(Duration::from_secs(1)))
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("cannot connect to NATS")
            && format!("{error:#}").contains("nats_url"),
        "{error:#}"
    );
}

//! bamf-agent in-process on port 0 (a start with nothing to run as) and the
//! real binary's exit codes.

use std::process::Command;
use std::time::Duration;

use bamf_agent::AgentConfig;
use bamf_runtime::{probe, Shutdown};

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn without_identity_or_token_it_stops_with_an_error_and_closes_health() {
    let grace = Duration::from_secs(2);
    let data = tempfile::tempdir().unwrap();
    let config = AgentConfig {
        platform_url: "http://127.0.0.1:9".into(),
        name: "edge-1".into(),
        data_dir: data.path().to_path_buf(),
        shutdown_grace: grace,
        ..AgentConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new(grace);
    let err = tokio::time::timeout(
        grace + PROBE_TIMEOUT,
        bamf_agent::run(config, listener, shutdown),
    )
    .await
    .expect("run returns within the grace period")
    .expect_err("nothing to run as");
    assert!(format!("{err:#}").contains("join_token"), "{err:#}");
    assert!(
        probe::get(addr, "/healthz", PROBE_TIMEOUT).await.is_err(),
        "listener closed"
    );
}

#[test]
fn an_unset_variable_in_agent_yaml_exits_2_naming_it_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yaml");
    std::fs::write(
        &path,
        "platform_url: http://127.0.0.1:8080\nname: edge\njoin_token: ${BAMF_TEST_UNSET_TOKEN}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bamf-agent"))
        .arg("--config")
        .arg(&path)
        .env_remove("BAMF_TEST_UNSET_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("key \"join_token\""), "{stderr}");
    assert!(stderr.contains("BAMF_TEST_UNSET_TOKEN"), "{stderr}");
}

#[test]
fn bad_config_exits_2_naming_the_key() {
    let out = Command::new(env!("CARGO_BIN_EXE_bamf-agent"))
        .env("BAMF_AGENT_SHUTDOWN_GRACE", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: invalid config: key \"shutdown_grace\""),
        "{stderr}"
    );
    assert!(stderr.contains("BAMF_AGENT_SHUTDOWN_GRACE"), "{stderr}");
}

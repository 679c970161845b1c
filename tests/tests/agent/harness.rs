//! The control plane and targets a real agent needs: nats-server, a fresh
//! PostgreSQL database and bamf-api in-process on 127.0.0.1:0 (the minimal
//! pieces of `cli_control/stack.rs`), an admin token over HTTP, a TCP echo
//! target, and bamf-agent itself in-process with its readiness awaited.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bamf_agent::{AgentConfig, ResourceConfig};
use bamf_api::ApiConfig;
use bamf_runtime::{probe, Shutdown};
use bamf_testkit::{NatsServer, TestDatabase};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN_EMAIL: &str = "admin@corp.example";
const ADMIN_PASSWORD: &str = "admin password 123";
/// The API's `bridge_bootstrap_token` (bridges enrol with it).
pub const BRIDGE_BOOTSTRAP_TOKEN: &str = "bridge bootstrap token of the test stack";
/// How long a program may take to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between probes of a real signal (a probe, not a sleep in place of one).
const PROBE_INTERVAL: Duration = Duration::from_millis(20);
/// Bound on the test's own requests.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Polls `check` until it answers `Some`, failing after `READY_TIMEOUT`.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {READY_TIMEOUT:?}"
        );
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

async fn wait_ready(
    addr: SocketAddr,
    task: &tokio::task::JoinHandle<anyhow::Result<()>>,
    what: &str,
) {
    eventually(what, || async {
        assert!(!task.is_finished(), "{what}: stopped during start-up");
        let answer = probe::get(addr, "/readyz", Duration::from_secs(5))
            .await
            .ok()?;
        (answer.status == 200).then_some(())
    })
    .await
}

/// bamf-api on real NATS and PostgreSQL. Fields drop in order: the API task
/// is gone before its backends.
pub struct Stack {
    pub url: String,
    pub admin_token: String,
    pub api_data: PathBuf,
    http: reqwest::Client,
    shutdown: Shutdown,
    _task: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub nats: NatsServer,
    _db: TestDatabase,
    pub dir: tempfile::TempDir,
}

impl Stack {
    pub async fn start() -> Stack {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let nats = NatsServer::start().await.expect("nats-server starts");
        let db = TestDatabase::create().await.expect("database is created");
        let dir = tempfile::tempdir().expect("temp dir");
        let api_data = dir.path().join("api");
        let config = ApiConfig {
            listen: "127.0.0.1:0".parse().expect("a valid address"),
            nats_url: nats.url(),
            database_url: db.url().into(),
            data_dir: api_data.clone(),
            shutdown_grace: Duration::from_secs(3),
            admin_email: ADMIN_EMAIL.into(),
            admin_password: ADMIN_PASSWORD.into(),
            bridge_bootstrap_token: BRIDGE_BOOTSTRAP_TOKEN.into(),
            ..ApiConfig::default()
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .expect("port 0 binds");
        let addr = listener.local_addr().expect("bound address");
        let shutdown = Shutdown::new(config.shutdown_grace);
        let task = tokio::spawn(bamf_api::run(config, listener, shutdown.clone()));
        wait_ready(addr, &task, "bamf-api ready").await;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("HTTP client");
        let mut stack = Stack {
            url: format!("http://{addr}"),
            admin_token: String::new(),
            api_data,
            http,
            shutdown,
            _task: task,
            nats,
            _db: db,
            dir,
        };
        let (status, login) = stack
            .call(
                reqwest::Method::POST,
                "/api/v1/auth/local/login",
                Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
            )
            .await;
        assert_eq!(status, 200, "{login}");
        stack.admin_token = login["token"].as_str().expect("a token").to_string();
        stack
    }

    /// One request as the admin; answers the status and the JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.admin_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A single-use join token with `labels`; answers its value.
    pub async fn join_token(&self, labels: Value) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/join-tokens",
                Some(json!({"name": "edge", "labels": labels})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().expect("the token value").to_string()
    }

    /// An agent config for this stack with its data in `data_dir`.
    pub fn agent_config(
        &self,
        token: &str,
        data_dir: &Path,
        resources: Vec<ResourceConfig>,
    ) -> AgentConfig {
        AgentConfig {
            platform_url: self.url.clone(),
            join_token: Some(token.into()),
            name: "edge-1".into(),
            resources,
            nats_url: self.nats.url(),
            data_dir: data_dir.into(),
            health_listen: "127.0.0.1:0".parse().expect("a valid address"),
            shutdown_grace: Duration::from_secs(3),
            ..AgentConfig::default()
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// bamf-agent in-process.
pub struct RunningAgent {
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningAgent {
    /// Starts the agent and returns once its `/readyz` answers 200.
    pub async fn start(config: AgentConfig) -> RunningAgent {
        config.validate().expect("the test's agent config is valid");
        let listener = tokio::net::TcpListener::bind(config.health_listen)
            .await
            .expect("port 0 binds");
        let addr = listener.local_addr().expect("bound address");
        let shutdown = Shutdown::new(config.shutdown_grace);
        let task = tokio::spawn(bamf_agent::run(config, listener, shutdown.clone()));
        wait_ready(addr, &task, "bamf-agent ready").await;
        RunningAgent { shutdown, task }
    }

    /// Stops it and checks it stopped cleanly.
    pub async fn stop(self) {
        self.shutdown.trigger();
        tokio::time::timeout(READY_TIMEOUT, self.task)
            .await
            .expect("the agent stops within the grace")
            .expect("the agent task does not panic")
            .expect("the agent stops cleanly");
    }
}

/// A TCP echo server on 127.0.0.1:0.
pub async fn echo_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("port 0 binds");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if tcp.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// A resource entry for `addr`.
pub fn resource(name: &str, addr: SocketAddr) -> ResourceConfig {
    ResourceConfig {
        name: name.into(),
        kind: "tcp".into(),
        host: addr.ip().to_string(),
        port: addr.port(),
        labels: [("team".to_string(), "core".to_string())].into(),
    }
}

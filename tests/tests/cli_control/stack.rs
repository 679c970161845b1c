//! The real control plane for bamfctl to talk to: a nats-server, a fresh
//! PostgreSQL database and bamf-api in-process on 127.0.0.1:0, plus what an
//! agent does (join with a token, heartbeat its resources), which no bamfctl
//! command does.

use std::net::SocketAddr;
use std::time::Duration;

use bamf_api::ApiConfig;
use bamf_domain::control::catalog::{AdvertisedResource, AgentHeartbeat};
use bamf_domain::{AggregateId, Timestamp};
use bamf_runtime::{probe, Shutdown};
use bamf_testkit::{NatsServer, TestDatabase};
use serde_json::{json, Value};

use super::bamfctl::Bamfctl;

pub const ADMIN_EMAIL: &str = "admin@corp.example";
pub const ADMIN_PASSWORD: &str = "admin password 123";
/// How long bamf-api may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between readiness probes (a probe, not a sleep in place of one).
const PROBE_INTERVAL: Duration = Duration::from_millis(10);
/// Bound on the test's own requests to the API.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Heartbeat lifetime: longer than any test, so an agent stays online.
const HEARTBEAT_TTL: Duration = Duration::from_secs(300);

/// A resource in a heartbeat: name, type, labels.
pub type Advertised<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

/// bamf-api on real NATS and PostgreSQL. Fields drop in order: the API task
/// is gone before its backends.
pub struct Stack {
    pub url: String,
    addr: SocketAddr,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    nats: NatsServer,
    _db: TestDatabase,
    _data: tempfile::TempDir,
}

impl Stack {
    /// Starts everything and returns once `/readyz` answers 200.
    pub async fn start() -> Stack {
        let nats = NatsServer::start().await.expect("nats-server starts");
        let db = TestDatabase::create().await.expect("database is created");
        let data = tempfile::tempdir().expect("temp dir");
        let config = ApiConfig {
            listen: "127.0.0.1:0".parse().expect("a valid address"),
            nats_url: nats.url(),
            database_url: db.url().into(),
            data_dir: data.path().join("api"),
            shutdown_grace: Duration::from_secs(3),
            admin_email: ADMIN_EMAIL.into(),
            admin_password: ADMIN_PASSWORD.into(),
            ..ApiConfig::default()
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .expect("port 0 binds");
        let addr = listener.local_addr().expect("bound address");
        let shutdown = Shutdown::new(config.shutdown_grace);
        let task = tokio::spawn(bamf_api::run(config, listener, shutdown.clone()));
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(answer) = probe::get(addr, "/readyz", Duration::from_secs(5)).await {
                if answer.status == 200 {
                    break;
                }
            }
            assert!(!task.is_finished(), "bamf-api stopped during start-up");
            assert!(
                tokio::time::Instant::now() < deadline,
                "bamf-api not ready within {READY_TIMEOUT:?}"
            );
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
        Stack {
            url: format!("http://{addr}"),
            addr,
            shutdown,
            task,
            nats,
            _db: db,
            _data: data,
        }
    }

    /// A new identity with an empty bamf home.
    pub fn bamfctl(&self) -> Bamfctl {
        Bamfctl::new(&self.url)
    }

    /// An identity logged in as the first admin.
    pub async fn admin(&self) -> Bamfctl {
        let admin = self.bamfctl();
        admin.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        admin
    }

    /// What an agent does first: `POST /api/v1/agents/join` with the join
    /// token and a CSR for a fresh key. Answers the status and the body.
    pub async fn join_agent(&self, token: &str, name: &str) -> (u16, Value) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let key = bamf_pki::KeyAndCsr::generate().expect("a key and CSR");
        let response = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("HTTP client")
            .post(format!("{}/api/v1/agents/join", self.url))
            .json(&json!({"token": token, "name": name, "csr": key.csr_pem().expect("CSR PEM")}))
            .send()
            .await
            .expect("join request is answered");
        let status = response.status().as_u16();
        let body = response.json().await.expect("the join answer is JSON");
        (status, body)
    }

    /// Publishes a heartbeat for `agent_id` advertising `resources`, as the
    /// agent would.
    pub async fn heartbeat(&self, agent_id: &str, resources: &[Advertised<'_>]) {
        let client = bamf_events::connect(self.nats.url())
            .await
            .expect("NATS connects");
        let js = bamf_events::jetstream::new(client);
        let beat = AgentHeartbeat {
            agent_id: AggregateId::new(agent_id.to_string()).expect("the API's agent id"),
            sent_at: Timestamp::new(time::OffsetDateTime::now_utc()),
            resources: resources
                .iter()
                .map(|(name, kind, labels)| AdvertisedResource {
                    name: name.to_string(),
                    kind: kind.to_string(),
                    labels: labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                })
                .collect(),
        };
        bamf_events::heartbeat::publish_heartbeat(&js, &beat, HEARTBEAT_TTL)
            .await
            .expect("the heartbeat is stored");
    }

    /// Stops the API gracefully; its port is closed afterwards.
    pub async fn stop_api(&mut self) {
        self.shutdown.trigger();
        (&mut self.task)
            .await
            .expect("the API task does not panic")
            .expect("the API stops cleanly");
        assert!(
            probe::get(self.addr, "/healthz", Duration::from_secs(1))
                .await
                .is_err(),
            "the API still answers after stopping"
        );
    }
}

//! bamf-api in-process for the HTTP benchmarks: a pinned nats-server and a
//! fresh PostgreSQL database through `bamf-testkit`, replicas on loopback
//! port 0 sharing them (and one data_dir, hence one CA), and a small JSON
//! client with keep-alive connections.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use bamf_api::ApiConfig;
use bamf_runtime::{probe, Shutdown};
use bamf_testkit::{NatsServer, TestDatabase};
use serde_json::{json, Value};

pub const ADMIN_EMAIL: &str = "admin@bench.example";
pub const ADMIN_PASSWORD: &str = "bench admin password";
/// How long a replica may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between readiness probes (a probe, not a sleep in place of one).
const PROBE_INTERVAL: Duration = Duration::from_millis(10);
/// Bound on every request the benchmarks send.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The backends every replica shares.
pub struct Stack {
    pub nats: NatsServer,
    db: TestDatabase,
    data: tempfile::TempDir,
}

impl Stack {
    pub async fn start() -> anyhow::Result<Stack> {
        Ok(Stack {
            nats: NatsServer::start().await.context("nats-server starts")?,
            db: TestDatabase::create()
                .await
                .context("a PostgreSQL database is created")?,
            data: tempfile::tempdir().context("a data_dir is created")?,
        })
    }

    /// The replicas' data_dir (the API's CA is `ca.crt` / `ca.key` in it).
    pub fn api_data_dir(&self) -> std::path::PathBuf {
        self.data.path().join("api")
    }

    fn config(&self) -> ApiConfig {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            nats_url: self.nats.url(),
            database_url: self.db.url().into(),
            data_dir: self.api_data_dir(),
            shutdown_grace: Duration::from_secs(3),
            admin_email: ADMIN_EMAIL.into(),
            admin_password: ADMIN_PASSWORD.into(),
            ..ApiConfig::default()
        }
    }

    /// Starts a replica and waits until `/readyz` says ready.
    pub async fn replica(&self) -> anyhow::Result<Replica> {
        let config = self.config();
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let shutdown = Shutdown::new(config.shutdown_grace);
        let task = tokio::spawn(bamf_api::run(config, listener, shutdown.clone()));
        let start = Instant::now();
        loop {
            if let Ok(answer) = probe::get(addr, "/readyz", Duration::from_secs(5)).await {
                if answer.status == 200 {
                    break;
                }
            }
            anyhow::ensure!(!task.is_finished(), "bamf-api stopped during start-up");
            anyhow::ensure!(
                start.elapsed() < READY_TIMEOUT,
                "bamf-api not ready in {READY_TIMEOUT:?}"
            );
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
        Ok(Replica {
            addr,
            shutdown,
            task,
        })
    }

    /// A JetStream context on the shared nats-server.
    pub async fn jetstream(&self) -> anyhow::Result<bamf_events::jetstream::Context> {
        let client = bamf_events::connect(self.nats.url()).await?;
        Ok(bamf_events::jetstream::new(client))
    }
}

/// One running bamf-api.
pub struct Replica {
    pub addr: SocketAddr,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Replica {
    /// A client of this replica (its own connection pool).
    pub fn client(&self) -> anyhow::Result<Client> {
        Client::new(self.addr)
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.trigger();
        self.task.await.context("bamf-api task")?
    }
}

/// A JSON client of one replica, optionally logged in. Cloning shares the
/// connection pool.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    pub token: Option<String>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> anyhow::Result<Client> {
        // reqwest is built without a default TLS provider; loopback is plain
        // HTTP, but building a client still wants one installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Client {
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()?,
            token: None,
        })
    }

    /// The same client with a connection pool of its own holding at most one
    /// idle connection (one load-generator client, one connection).
    pub fn with_own_connection(&self) -> anyhow::Result<Client> {
        Ok(Client {
            http: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .pool_max_idle_per_host(1)
                .build()?,
            ..self.clone()
        })
    }

    pub fn with_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    /// `path` under the server root (`/healthz`, `/api/v1/...`).
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends a JSON request to `/api/v1{path}`; answers status and body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.request(method.clone(), &format!("/api/v1{path}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Ok((status, body))
    }

    /// Sends and requires `status`; answers the body.
    pub async fn expect(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        status: u16,
    ) -> anyhow::Result<Value> {
        let (got, answer) = self.send(method.clone(), path, body).await?;
        anyhow::ensure!(
            got == status,
            "{method} {path}: wanted {status}, got {got}: {answer}"
        );
        Ok(answer)
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.expect(reqwest::Method::POST, path, Some(body), 201)
            .await
    }

    /// Logs in; answers a client holding the token.
    pub async fn login(&self, email: &str, password: &str) -> anyhow::Result<Client> {
        let body = self
            .expect(
                reqwest::Method::POST,
                "/auth/local/login",
                Some(json!({"email": email, "password": password})),
                200,
            )
            .await?;
        let token = body["token"].as_str().context("login answers a token")?;
        Ok(self.with_token(token))
    }

    pub async fn admin(&self) -> anyhow::Result<Client> {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// The status of `GET /api/v1{path}`, body read and dropped.
    pub async fn status(&self, path: &str) -> anyhow::Result<u16> {
        let response = self
            .request(reqwest::Method::GET, &format!("/api/v1{path}"))
            .send()
            .await?;
        let status = response.status().as_u16();
        response.bytes().await?;
        Ok(status)
    }
}

//! A harness for API tests: real nats-server and PostgreSQL, one or more
//! bamf-api replicas in-process on port 0 sharing them (and one data_dir, as
//! replicas share the CA), and a small JSON client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bamf_api::ApiConfig;
use bamf_runtime::{probe, Shutdown};
use bamf_testkit::{NatsServer, TestDatabase};
use serde_json::{json, Value};

pub const ADMIN_EMAIL: &str = "admin@corp.example";
pub const ADMIN_PASSWORD: &str = "admin password 123";
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between readiness probes (a probe, not a sleep in place of one).
const PROBE_INTERVAL: Duration = Duration::from_millis(10);

/// The shared backends.
pub struct Backends {
    pub nats: NatsServer,
    pub db: TestDatabase,
    pub data: tempfile::TempDir,
}

impl Backends {
    pub async fn start() -> Backends {
        Backends {
            nats: NatsServer::start().await.expect("nats-server starts"),
            db: TestDatabase::create().await.expect("database is created"),
            data: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn config(&self) -> ApiConfig {
        ApiConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            nats_url: self.nats.url(),
            database_url: self.db.url().into(),
            data_dir: self.data.path().join("api"),
            shutdown_grace: Duration::from_secs(3),
            admin_email: ADMIN_EMAIL.into(),
            admin_password: ADMIN_PASSWORD.into(),
            ..ApiConfig::default()
        }
    }

    /// Starts a replica with the default test config and waits until ready.
    pub async fn replica(&self) -> Replica {
        Replica::start(self.config()).await
    }

    /// A JetStream context on the shared nats-server (to read the log).
    pub async fn jetstream(&self) -> bamf_events::jetstream::Context {
        let client = bamf_events::connect(self.nats.url())
            .await
            .expect("the test's nats-server accepts clients");
        bamf_events::jetstream::new(client)
    }
}

/// The last sequence of `BAMF_EVENTS`: a request that appends nothing leaves
/// it where it was.
pub async fn last_event_seq(js: &bamf_events::jetstream::Context) -> u64 {
    bamf_events::feed::last_sequence(js, bamf_events::streams::EVENTS_STREAM)
        .await
        .expect("BAMF_EVENTS is readable")
}

/// One running bamf-api.
pub struct Replica {
    pub addr: SocketAddr,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Replica {
    pub async fn start(config: ApiConfig) -> Replica {
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
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
                "bamf-api not ready in time"
            );
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
        Replica {
            addr,
            shutdown,
            task,
        }
    }

    pub fn client(&self) -> Client {
        Client::new(self.addr)
    }

    pub async fn stop(self) {
        self.shutdown.trigger();
        self.task.await.unwrap().unwrap();
    }
}

/// An answer: status, headers and JSON body (Null when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub request_id: Option<String>,
    pub retry_after: Option<String>,
    /// Every response header, for checks beyond the two above.
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// The error code of a JSON error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected answer: {:?}", self.body);
        self.body
    }
}

/// A request built piece by piece, for tests that send odd ones.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(&'static str, Vec<u8>)>,
    pub body: Option<Vec<u8>>,
}

impl Req {
    /// No body, no extra headers.
    pub fn new(method: &'static str, path: impl Into<String>) -> Req {
        Req {
            method,
            path: path.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// A JSON body with `content-type: application/json`.
    pub fn json(method: &'static str, path: impl Into<String>, body: &Value) -> Req {
        Req::new(method, path).raw(Some("application/json"), body.to_string())
    }

    /// Raw body bytes, with a content type when given.
    pub fn raw(mut self, content_type: Option<&str>, body: impl Into<Vec<u8>>) -> Req {
        if let Some(ct) = content_type {
            self.headers.push(("content-type", ct.as_bytes().to_vec()));
        }
        self.body = Some(body.into());
        self
    }

    /// An extra header (replacing the client's own of that name).
    pub fn header(mut self, name: &'static str, value: impl Into<Vec<u8>>) -> Req {
        self.headers.push((name, value.into()));
        self
    }
}

/// A JSON client of one replica, optionally logged in.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    pub token: Option<String>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Client {
            base: format!("http://{addr}/api/v1"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client builds"),
            token: None,
        }
    }

    pub fn with_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.finish(request).await
    }

    /// Sends raw bytes with a content type.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        self.finish(request).await
    }

    /// Sends a request with extra headers (set after the client's own bearer
    /// token, so they may replace it) and an optional raw body.
    pub async fn custom(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &[u8])],
        body: Option<Vec<u8>>,
    ) -> Answer {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let mut extra = reqwest::header::HeaderMap::new();
        for (name, value) in headers {
            extra.insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes())
                    .expect("a test header name"),
                reqwest::header::HeaderValue::from_bytes(value).expect("a sendable header value"),
            );
        }
        request = request.headers(extra);
        if let Some(body) = body {
            request = request.body(body);
        }
        self.finish(request).await
    }

    /// Sends a [`Req`].
    pub async fn req(&self, req: &Req) -> Answer {
        let headers: Vec<(&str, &[u8])> = req
            .headers
            .iter()
            .map(|(name, value)| (*name, value.as_slice()))
            .collect();
        self.custom(req.method, &req.path, &headers, req.body.clone())
            .await
    }

    async fn finish(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("request is sent");
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (request_id, retry_after) = (header("x-request-id"), header("retry-after"));
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body is read");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Answer {
            status,
            body,
            request_id,
            retry_after,
            headers,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send("POST", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send("DELETE", path, None).await
    }

    /// Logs in and answers a client holding the token.
    pub async fn login(&self, email: &str, password: &str) -> Client {
        let body = self
            .post(
                "/auth/local/login",
                json!({"email": email, "password": password}),
            )
            .await
            .expect(200);
        self.with_token(body["token"].as_str().expect("token"))
    }

    pub async fn admin(&self) -> Client {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }
}

/// Publishes a heartbeat (60 s TTL) for `agent_id` advertising `orders-db`
/// (postgres, env=prod) and `web-1` (ssh, env=dev).
pub async fn advertise_two(js: &bamf_events::jetstream::Context, agent_id: &str) {
    use bamf_domain::control::catalog::{AdvertisedResource, AgentHeartbeat};
    let resource = |name: &str, kind: &str, env: &str| AdvertisedResource {
        name: name.into(),
        kind: kind.into(),
        labels: [("env".to_string(), env.to_string())].into(),
    };
    let beat = AgentHeartbeat {
        agent_id: bamf_domain::AggregateId::new(agent_id).expect("an agent id"),
        sent_at: bamf_domain::Timestamp::new(time::OffsetDateTime::now_utc()),
        resources: vec![
            resource("orders-db", "postgres", "prod"),
            resource("web-1", "ssh", "dev"),
        ],
    };
    bamf_events::heartbeat::publish_heartbeat(js, &beat, Duration::from_secs(60))
        .await
        .expect("the heartbeat is stored");
}

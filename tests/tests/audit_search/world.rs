//! The real control plane for the audit search tests: nats-server, a fresh
//! PostgreSQL database and bamf-api in-process (restartable on the same port
//! and data), with helpers to produce records, read `BAMF_AUDIT` as ground
//! truth, and wait — on real signals, bounded — until the search has caught up.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bamf_api::ApiConfig;
use bamf_domain::control::catalog::{AdvertisedResource, AgentHeartbeat};
use bamf_domain::{AggregateId, Envelope, Timestamp};
use bamf_events::jetstream;
use bamf_events::streams::{AUDIT_STREAM, EVENTS_STREAM};
use bamf_runtime::{probe, Shutdown};
use bamf_testkit::{NatsServer, TestDatabase};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use sqlx::PgPool;

pub const ADMIN_EMAIL: &str = "admin@corp.example";
pub const ADMIN_PASSWORD: &str = "admin password 123";
pub const PASSWORD: &str = "a good password 1";
/// Bound on every wait.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between polls (a probe, not a sleep in place of one).
const POLL: Duration = Duration::from_millis(20);
/// Bound on one request of the test's own.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Polls `check` until it answers, at most [`TIMEOUT`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {TIMEOUT:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// bamf-api in-process.
struct Api {
    config: ApiConfig,
    addr: SocketAddr,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Api {
    async fn start(config: ApiConfig) -> Api {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .expect("the API's address binds");
        let addr = listener.local_addr().expect("bound address");
        let shutdown = Shutdown::new(config.shutdown_grace);
        let task = tokio::spawn(bamf_api::run(config.clone(), listener, shutdown.clone()));
        eventually("bamf-api ready", || async {
            assert!(!task.is_finished(), "bamf-api stopped during start-up");
            let answer = probe::get(addr, "/readyz", Duration::from_secs(5))
                .await
                .ok()?;
            (answer.status == 200).then_some(())
        })
        .await;
        Api {
            config,
            addr,
            shutdown,
            task,
        }
    }

    async fn stop(self) -> ApiConfig {
        self.shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the API stops within its grace period")
            .expect("the API task does not panic")
            .expect("the API stops cleanly");
        let mut config = self.config;
        config.listen = self.addr;
        config
    }
}

/// A status and the body as text.
pub struct Answer {
    pub status: u16,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Answer {
        assert_eq!(self.status, status, "{}", self.text);
        self
    }

    /// A JSON error: its code and message.
    #[track_caller]
    pub fn error(&self, status: u16) -> (String, String) {
        assert_eq!(self.status, status, "{}", self.text);
        let body = self.json();
        (
            body["error"]["code"]
                .as_str()
                .expect("an error code")
                .into(),
            body["error"]["message"]
                .as_str()
                .expect("an error message")
                .into(),
        )
    }
}

/// One audit record of `BAMF_AUDIT`, as ground truth.
#[derive(Debug, Clone)]
pub struct Truth {
    pub seq: u64,
    pub envelope: Envelope,
    pub payload: String,
}

impl Truth {
    pub fn time(&self) -> String {
        self.envelope.time.to_string()
    }

    pub fn data(&self) -> Value {
        self.envelope
            .event
            .serialize_data(serde_json::value::Serializer)
            .expect("data serializes")
    }
}

/// NATS, PostgreSQL and the API. Fields drop in order: the API is gone
/// before its backends.
pub struct World {
    api: Option<Api>,
    pub url: String,
    pub admin_token: String,
    pub js: jetstream::Context,
    pub pool: PgPool,
    pub nats: NatsServer,
    _db: TestDatabase,
    _dir: tempfile::TempDir,
}

impl World {
    pub async fn start() -> World {
        World::start_with(|_| {}).await
    }

    /// Starts with the config `tweak` leaves.
    pub async fn start_with(tweak: impl FnOnce(&mut ApiConfig)) -> World {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let nats = NatsServer::start().await.expect("nats-server starts");
        let db = TestDatabase::create().await.expect("database is created");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = ApiConfig {
            listen: "127.0.0.1:0".parse().expect("a valid address"),
            nats_url: nats.url(),
            database_url: db.url().into(),
            data_dir: dir.path().join("api"),
            shutdown_grace: Duration::from_secs(3),
            admin_email: ADMIN_EMAIL.into(),
            admin_password: ADMIN_PASSWORD.into(),
            // No seal during a test: the ground truth stays put.
            audit_seal_interval: Duration::from_secs(24 * 3600),
            ..ApiConfig::default()
        };
        tweak(&mut config);
        let api = Api::start(config).await;
        let js = jetstream::new(bamf_events::connect(nats.url()).await.expect("NATS"));
        let pool = PgPool::connect(db.url()).await.expect("PostgreSQL");
        let mut world = World {
            url: format!("http://{}", api.addr),
            api: Some(api),
            admin_token: String::new(),
            js,
            pool,
            nats,
            _db: db,
            _dir: dir,
        };
        world.admin_token = world.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        world
    }

    /// Stops the API and starts it again on the same port and data, with the
    /// config `tweak` leaves.
    pub async fn restart_api(&mut self, tweak: impl FnOnce(&mut ApiConfig)) {
        let api = self.api.take().expect("the API runs");
        let mut config = api.stop().await;
        tweak(&mut config);
        self.api = Some(Api::start(config).await);
    }

    /// Stops the API and runs `bamf-api projections rebuild` with its config.
    pub async fn rebuild(&mut self) -> Vec<bamf_api::readmodel::RebuildReport> {
        let api = self.api.take().expect("the API runs");
        let config = api.stop().await;
        let backends = bamf_api::startup::connect(&config)
            .await
            .expect("the backends connect");
        bamf_api::projections::rebuild(&backends, config.audit_search_retention)
            .await
            .expect("the read models rebuild")
    }

    pub async fn stop(mut self) {
        if let Some(api) = self.api.take() {
            api.stop().await;
        }
    }

    /// `method /api/v1<path>` as `token`, with extra headers.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}/api/v1{path}", self.url))
            .timeout(REQUEST_TIMEOUT);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        Answer {
            status: response.status().as_u16(),
            text: response.text().await.expect("a body"),
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    /// `GET /audit` with `query` (already encoded) as `token`.
    pub async fn search(&self, query: &str, token: &str) -> Answer {
        self.get(&format!("/audit?{query}"), token).await
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let answer = self
            .call(
                reqwest::Method::POST,
                "/auth/local/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await
            .expect(200);
        answer.json()["token"]
            .as_str()
            .expect("a token")
            .to_string()
    }

    /// A failed login (`login.failed`).
    pub async fn failed_login(&self, email: &str) {
        let answer = self
            .call(
                reqwest::Method::POST,
                "/auth/local/login",
                None,
                Some(json!({"email": email, "password": "not the password"})),
            )
            .await;
        assert_eq!(answer.status, 401, "{}", answer.text);
    }

    /// Creates a user with `roles`; answers its id.
    pub async fn create_user(&self, email: &str, roles: &[&str]) -> String {
        let answer = self
            .call(
                reqwest::Method::POST,
                "/users",
                Some(&self.admin_token),
                Some(json!({"email": email, "password": PASSWORD, "roles": roles})),
            )
            .await
            .expect(201);
        answer.json()["id"].as_str().expect("an id").to_string()
    }

    /// What an agent does: joins with a token, then advertises `resource`
    /// in a heartbeat.
    pub async fn agent_with(&self, resource: &str) {
        let token = self
            .call(
                reqwest::Method::POST,
                "/join-tokens",
                Some(&self.admin_token),
                Some(json!({"name": "edge"})),
            )
            .await
            .expect(201)
            .json()["token"]
            .as_str()
            .expect("a join token")
            .to_string();
        let key = bamf_pki::KeyAndCsr::generate().expect("a key and CSR");
        let joined = self
            .call(
                reqwest::Method::POST,
                "/agents/join",
                None,
                Some(json!({"token": token, "name": "edge-1", "csr": key.csr_pem().expect("CSR PEM")})),
            )
            .await
            .expect(201)
            .json();
        let agent_id = joined["agent_id"].as_str().expect("an agent id");
        let beat = AgentHeartbeat {
            agent_id: AggregateId::new(agent_id.to_string()).expect("the API's agent id"),
            sent_at: Timestamp::new(time::OffsetDateTime::now_utc()),
            resources: vec![AdvertisedResource {
                name: resource.into(),
                kind: "tcp".into(),
                labels: BTreeMap::new(),
            }],
        };
        bamf_events::heartbeat::publish_heartbeat(&self.js, &beat, Duration::from_secs(300))
            .await
            .expect("the heartbeat is stored");
    }

    /// Every record of `BAMF_AUDIT` now.
    pub async fn truth(&self) -> Vec<Truth> {
        let stream = self.js.get_stream(AUDIT_STREAM).await.expect("BAMF_AUDIT");
        let last = bamf_events::feed::last_sequence(&self.js, AUDIT_STREAM)
            .await
            .expect("its position");
        let mut records = Vec::new();
        for seq in 1..=last {
            let m = stream.get_raw_message(seq).await.expect("a record");
            let envelope = bamf_events::feed::decode_audit(m.subject.as_str(), &m.payload)
                .expect("every record decodes");
            records.push(Truth {
                seq,
                envelope,
                payload: String::from_utf8(m.payload.to_vec()).expect("UTF-8 JSON"),
            });
        }
        records
    }

    /// Waits until every domain event so far is in `BAMF_AUDIT` (sourcing is
    /// asynchronous) and the search read model has applied all of
    /// `BAMF_AUDIT`; answers that sequence.
    pub async fn settle(&self) -> u64 {
        let events = self
            .js
            .get_stream(EVENTS_STREAM)
            .await
            .expect("BAMF_EVENTS");
        let audit = self.js.get_stream(AUDIT_STREAM).await.expect("BAMF_AUDIT");
        eventually("the audit search caught up", || async {
            let last_event = bamf_events::feed::last_sequence(&self.js, EVENTS_STREAM)
                .await
                .ok()?;
            if last_event > 0 {
                // Sourcing keeps the order: once the last event is in, all are.
                let m = events.get_raw_message(last_event).await.ok()?;
                let sourced = audit
                    .get_last_raw_message_by_subject(m.subject.as_str())
                    .await
                    .ok()?;
                if sourced.payload != m.payload {
                    return None;
                }
            }
            let last = bamf_events::feed::last_sequence(&self.js, AUDIT_STREAM)
                .await
                .ok()?;
            let applied = bamf_api::readmodel::checkpoint(&self.pool, "audit_records")
                .await
                .ok()?;
            (applied >= last).then_some(last)
        })
        .await
    }
}

/// The records of a `GET /audit` answer, each kept verbatim: `(seq, item)`.
pub fn items(answer: &Answer) -> (Vec<(u64, Box<RawValue>)>, Option<String>) {
    let page: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(&answer.text).unwrap_or_else(|e| panic!("{e}: {}", answer.text));
    let records: Vec<Box<RawValue>> =
        serde_json::from_str(page["records"].get()).expect("records is an array");
    let next: Option<String> =
        serde_json::from_str(page["next_cursor"].get()).expect("next_cursor");
    let items = records
        .into_iter()
        .map(|r| {
            let seq = serde_json::from_str::<Value>(r.get()).expect("an item")["seq"]
                .as_u64()
                .expect("a seq");
            (seq, r)
        })
        .collect();
    (items, next)
}

/// The `record` of an item, verbatim.
pub fn record_of(item: &RawValue) -> String {
    let fields: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(item.get()).expect("an item is an object");
    fields["record"].get().to_string()
}

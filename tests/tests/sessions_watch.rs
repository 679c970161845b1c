//! `bamfctl sessions watch` against the whole real path: nats-server,
//! PostgreSQL, bamf-api (in-process, restartable on the same port and data),
//! the real bridge and agent, and the real bamfctl binary reading the API's
//! `GET /sessions/watch` stream.
//!
//! Shown: the open and close of real tunnels arrive in order, each line
//! within 200 ms of its event's envelope time; after the API is stopped and
//! started again mid-watch the watch resumes from the last sequence it
//! printed, and its lines are exactly the session events of the log (none
//! missed, none repeated); a user who is not admin sees only their own
//! sessions, and an admin's `--user` filter works; a bad `Last-Event-ID` is a
//! 400 with the usual JSON error; Ctrl-C ends the watch with status 0.

#[allow(dead_code)]
#[path = "cli_control/bamfctl.rs"]
mod bamfctl_bin;
#[allow(dead_code)]
#[path = "agent/harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bamf_api::ApiConfig;
use bamf_bridge::{Bridge, BridgeConfig};
use bamf_events::feed::Feed;
use bamf_events::streams::EVENTS_STREAM;
use bamf_runtime::{probe, Shutdown};
use bamf_testkit::{NatsServer, TestDatabase};
use bamfctl::tunnel::Tunnel;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

const ADMIN_EMAIL: &str = "admin@corp.example";
const ADMIN_PASSWORD: &str = "admin password 123";
const DEV_EMAIL: &str = "dev@corp.example";
const DEV_PASSWORD: &str = "developer pass 1";
const RESOURCE: &str = "echo";
/// The bound from an event's append to bamfctl's line.
const LATENCY_BOUND: Duration = Duration::from_millis(200);
/// Bound on waiting for one watch line.
const LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// bamf-api in-process, restartable on the same address and data.
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
        harness::eventually("bamf-api ready", || async {
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

    /// Stops it (its watch streams end at once, so the drain is quick).
    /// Stops it; answers its config, bound to the same address for a restart.
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

    /// Stops it and starts a new one on the same port and data.
    async fn restart(self) -> Api {
        let config = self.stop().await;
        Api::start(config).await
    }
}

/// NATS, PostgreSQL, the API, the real bridge and agent, one echo resource.
struct World {
    api: Option<Api>,
    url: String,
    admin_token: String,
    agent: Option<harness::RunningAgent>,
    bridge: Option<(Bridge, Shutdown)>,
    nats: NatsServer,
    _db: TestDatabase,
    dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let nats = NatsServer::start().await.expect("nats-server starts");
        let db = TestDatabase::create().await.expect("database is created");
        let dir = tempfile::tempdir().expect("temp dir");
        let api = Api::start(ApiConfig {
            listen: "127.0.0.1:0".parse().expect("a valid address"),
            nats_url: nats.url(),
            database_url: db.url().into(),
            data_dir: dir.path().join("api"),
            shutdown_grace: Duration::from_secs(3),
            admin_email: ADMIN_EMAIL.into(),
            admin_password: ADMIN_PASSWORD.into(),
            bridge_bootstrap_token: harness::BRIDGE_BOOTSTRAP_TOKEN.into(),
            ..ApiConfig::default()
        })
        .await;
        let url = format!("http://{}", api.addr);
        let mut world = World {
            api: Some(api),
            url,
            admin_token: String::new(),
            agent: None,
            bridge: None,
            nats,
            _db: db,
            dir,
        };
        world.admin_token = world.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        world
    }

    /// The bridge (enrolled with the API's bootstrap token) and the agent
    /// with the echo resource.
    async fn with_tunnels(mut self) -> World {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("UDP port 0 binds");
        let addr = socket.local_addr().expect("bound address");
        let config = BridgeConfig {
            bridge_id: "bridge-1".into(),
            quic_listen: addr,
            advertise_address: addr.to_string(),
            server_name: "localhost".into(),
            api_url: self.url.clone(),
            bootstrap_token: harness::BRIDGE_BOOTSTRAP_TOKEN.into(),
            data_dir: self.dir.path().join("bridge"),
            nats_url: self.nats.url(),
            shutdown_grace: Duration::from_secs(2),
            heartbeat_interval: Duration::from_millis(200),
            ..BridgeConfig::default()
        };
        config.validate().expect("the bridge config is valid");
        let shutdown = Shutdown::new(config.shutdown_grace);
        let tls = bamf_bridge::tls_for(&config, &shutdown)
            .await
            .expect("the bridge enrols with the API");
        let bridge = bamf_bridge::start(config, tls, socket, shutdown.clone())
            .await
            .expect("the bridge starts");
        self.bridge = Some((bridge, shutdown));

        let token = self
            .admin(
                reqwest::Method::POST,
                "/join-tokens",
                Some(json!({"name": "edge"})),
            )
            .await
            .expect_status(201)["token"]
            .as_str()
            .expect("a join token")
            .to_string();
        let echo = harness::echo_server().await;
        let agent = harness::RunningAgent::start(bamf_agent::AgentConfig {
            platform_url: self.url.clone(),
            join_token: Some(token),
            name: "edge-1".into(),
            resources: vec![harness::resource(RESOURCE, echo)],
            nats_url: self.nats.url(),
            data_dir: self.dir.path().join("agent"),
            health_listen: "127.0.0.1:0".parse().expect("a valid address"),
            shutdown_grace: Duration::from_secs(3),
            ..bamf_agent::AgentConfig::default()
        })
        .await;
        self.agent = Some(agent);
        self
    }

    async fn login(&self, email: &str, password: &str) -> String {
        let answer = self
            .request(
                reqwest::Method::POST,
                "/auth/local/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await
            .expect_status(200);
        answer["token"].as_str().expect("a token").to_string()
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}/api/v1{path}", self.url))
            .timeout(harness::REQUEST_TIMEOUT);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        self.request(method, path, Some(&self.admin_token.clone()), body)
            .await
    }

    fn client(&self, token: &str) -> bamfctl::client::ApiClient {
        bamfctl::client::ApiClient::new(&self.url, Some(token.to_string())).expect("an API client")
    }

    /// A tunnel to the echo resource as `token`'s user, once `/connect` can
    /// succeed (the API has the agent's catalog and a live bridge; until then
    /// it answers 404 or 503, and a denied session may be recorded).
    async fn tunnel(&self, token: &str) -> (String, Arc<Tunnel>) {
        use bamfctl::cmd::connect::{open, ConnectError};
        let client = self.client(token);
        harness::eventually("a tunnel session", || async {
            match open(&client, RESOURCE).await {
                Ok((answer, tunnel)) => Some((answer.session_id, Arc::new(tunnel))),
                Err(e) => match e.downcast_ref::<ConnectError>() {
                    Some(ConnectError::NotFound { .. } | ConnectError::Unavailable { .. }) => None,
                    _ => panic!("connect failed: {}", bamfctl::error_report(&e)),
                },
            }
        })
        .await
    }

    /// The session events of `BAMF_EVENTS` now: `(seq, session id, type)`.
    async fn session_events(&self) -> Vec<(u64, String, String)> {
        let js = bamf_events::jetstream::new(
            bamf_events::connect(self.nats.url())
                .await
                .expect("NATS connects"),
        );
        let last = bamf_events::feed::last_sequence(&js, EVENTS_STREAM)
            .await
            .expect("the stream's position");
        let mut feed = Feed::open(&js, EVENTS_STREAM, Some("bamf.evt.session.>"), 1)
            .await
            .expect("a feed");
        let mut events = Vec::new();
        loop {
            let item = tokio::time::timeout(Duration::from_millis(500), feed.next()).await;
            let Ok(Some(item)) = item else { break };
            let item = item.expect("the feed reads");
            let envelope = item.decoded.expect("session events decode");
            events.push((
                item.seq,
                envelope.aggregate_id.as_str().to_string(),
                envelope.event.event_type().to_string(),
            ));
            if item.pending == 0 && item.seq >= last {
                break;
            }
        }
        events.retain(|(seq, _, _)| *seq <= last);
        events
    }

    /// Polls the log until `session` has a `closed` event (bounded).
    async fn until_closed_in_log(&self, session: &str) {
        harness::eventually("session.closed in the log", || async {
            let events = self.session_events().await;
            events
                .iter()
                .any(|(_, id, t)| id == session && t == "session.closed")
                .then_some(())
        })
        .await
    }

    async fn stop(mut self) {
        if let Some(agent) = self.agent.take() {
            agent.stop().await;
        }
        if let Some((_bridge, shutdown)) = self.bridge.take() {
            shutdown.trigger();
            shutdown.drain().await;
        }
        if let Some(api) = self.api.take() {
            api.stop().await;
        }
    }
}

/// A status and a JSON body.
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    #[track_caller]
    fn expect_status(self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        self.body
    }
}

/// One line of `sessions watch --json`, with the moment it was read.
struct Line {
    row: Value,
    read_at: OffsetDateTime,
}

impl Line {
    fn session(&self) -> &str {
        self.row["session_id"].as_str().expect("a session id")
    }
    fn event(&self) -> &str {
        self.row["event"].as_str().expect("an event type")
    }
    fn live(&self) -> bool {
        self.row["snapshot"] == false
    }
    /// From the event's envelope time to the line being read.
    fn latency(&self) -> Duration {
        let changed = OffsetDateTime::parse(
            self.row["changed_at"].as_str().expect("changed_at"),
            &Rfc3339,
        )
        .expect("changed_at is RFC 3339");
        (self.read_at - changed)
            .try_into()
            .unwrap_or(Duration::ZERO)
    }
}

/// A running `bamfctl sessions watch --json …`, its stdout read line by line.
struct Watch {
    child: tokio::process::Child,
    lines: mpsc::Receiver<Line>,
    /// What bamfctl said on stderr (connection lost, resumed).
    notes: mpsc::Receiver<String>,
    seen: Vec<Line>,
}

impl Watch {
    fn spawn(home: PathBuf, url: &str, args: &[&str]) -> Watch {
        let mut child = tokio::process::Command::new(bamfctl_bin::binary())
            .env("BAMF_HOME", home)
            .env_remove("BAMF_API_URL")
            .args(["--api-url", url, "sessions", "watch", "--json"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("bamfctl starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel(1024);
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(text)) = reader.next_line().await {
                let read_at = OffsetDateTime::now_utc();
                let row: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("watch printed a non-JSON line ({e}): {text}"));
                if tx.send(Line { row, read_at }).await.is_err() {
                    break;
                }
            }
        });
        let stderr = child.stderr.take().expect("stderr is piped");
        let (notes_tx, notes) = mpsc::channel(1024);
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(text)) = reader.next_line().await {
                let _ = notes_tx.send(text).await;
            }
        });
        Watch {
            child,
            lines,
            notes,
            seen: Vec::new(),
        }
    }

    /// Waits until bamfctl says it resumed the stream (on stderr).
    async fn until_resumed(&mut self) -> String {
        loop {
            let note = tokio::time::timeout(LINE_TIMEOUT, self.notes.recv())
                .await
                .expect("bamfctl resumes in time")
                .expect("bamfctl is still running");
            if note.contains("resumed") {
                return note;
            }
        }
    }

    /// Reads lines until one is `event` of `session`; answers its index.
    async fn until(&mut self, session: &str, event: &str) -> usize {
        self.until_any(session, &[event]).await
    }

    /// Reads lines until one is any of `events` of `session`.
    async fn until_any(&mut self, session: &str, events: &[&str]) -> usize {
        let event = events.join(" or ");
        loop {
            let line = tokio::time::timeout(LINE_TIMEOUT, self.lines.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no {event} of {session} within {LINE_TIMEOUT:?}; seen: {:#?}",
                        self.rows()
                    )
                })
                .expect("bamfctl is still running");
            let found = line.session() == session && events.contains(&line.event());
            self.seen.push(line);
            if found {
                return self.seen.len() - 1;
            }
        }
    }

    fn rows(&self) -> Vec<&Value> {
        self.seen.iter().map(|l| &l.row).collect()
    }

    /// Ctrl-C: bamfctl exits 0.
    async fn interrupt(mut self) -> Vec<Line> {
        let pid = self.child.id().expect("bamfctl is running");
        let status = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("bamfctl exits on Ctrl-C")
            .expect("bamfctl is waited for");
        let mut stderr = Vec::new();
        while let Ok(note) = self.notes.try_recv() {
            stderr.push(note);
        }
        assert_eq!(
            exit.code(),
            Some(0),
            "Ctrl-C ends the watch with 0; stderr: {stderr:?}"
        );
        // The reader ends with bamfctl's stdout.
        while let Ok(Some(line)) = tokio::time::timeout(LINE_TIMEOUT, self.lines.recv()).await {
            self.seen.push(line);
        }
        self.seen
    }
}

/// Sends `payload` through `tunnel` to the echo target and reads it back.
async fn echo_through(tunnel: &Arc<Tunnel>, payload: &[u8]) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("port 0 binds");
    let port = listener.local_addr().expect("bound address").port();
    let serving = tokio::spawn({
        let tunnel = Arc::clone(tunnel);
        async move { tunnel.serve(listener).await }
    });
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the tunnel's local port accepts");
    tcp.write_all(payload).await.expect("write");
    tcp.shutdown().await.expect("half-close");
    let mut echoed = Vec::new();
    tokio::time::timeout(LINE_TIMEOUT, tcp.read_to_end(&mut echoed))
        .await
        .expect("the echo in time")
        .expect("read");
    assert_eq!(echoed, payload);
    serving.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_reports_tunnels_in_order_promptly_and_resumes_after_an_api_restart() {
    let mut world = World::start().await.with_tunnels().await;
    let admin_token = world.admin_token.clone();
    // An open tunnel before the watch starts: it is in the snapshot, and
    // seeing it is the signal that the watch is live.
    let (t0, tunnel0) = world.tunnel(&admin_token).await;
    let cli = bamfctl_bin::Bamfctl::new(&world.url);
    cli.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let home = cli.credentials().parent().expect("a home").to_path_buf();
    let mut watch = Watch::spawn(home, &world.url, &[]);
    let first = watch
        .until_any(&t0, &["session.granted", "session.connected"])
        .await;
    let first = &watch.seen[first];
    assert!(
        !first.live(),
        "an open session is in the snapshot: {}",
        first.row
    );
    assert_eq!(first.row["email"], ADMIN_EMAIL);
    assert_eq!(first.row["resource"], RESOURCE);
    assert_eq!(first.row["resource_type"], "tcp");
    assert_eq!(first.row["agent_name"], "edge-1");
    assert_eq!(first.row["bridge_id"], "bridge-1");

    // Live: t0 closes, t1 opens, carries bytes.
    tunnel0.close().await;
    watch.until(&t0, "session.closed").await;
    let (t1, tunnel1) = world.tunnel(&admin_token).await;
    echo_through(&tunnel1, b"through the tunnel").await;
    watch.until(&t1, "session.connected").await;

    // The API restarts while t1 closes: the close happens with no API up.
    let api = world.api.take().expect("the API runs");
    let config = api.stop().await;
    tunnel1.close().await;
    world.until_closed_in_log(&t1).await;
    world.api = Some(Api::start(config).await);
    let replayed = watch.until(&t1, "session.closed").await;
    let closed = &watch.seen[replayed].row;
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["email"], ADMIN_EMAIL, "a closed row keeps its user");
    assert_eq!(closed["resource"], RESOURCE);
    assert!(closed["bytes_up"].as_u64().unwrap() >= 18, "{closed}");
    assert!(closed["bytes_down"].as_u64().unwrap() >= 18, "{closed}");

    // And after the restart, live again.
    let (t2, tunnel2) = world.tunnel(&admin_token).await;
    watch.until(&t2, "session.connected").await;
    tunnel2.close().await;
    watch.until(&t2, "session.closed").await;
    // A second restart, this time with nothing happening meanwhile.
    world.api = Some(world.api.take().expect("the API runs").restart().await);
    let note = watch.until_resumed().await;
    eprintln!("bamfctl: {note}");
    let (t3, tunnel3) = world.tunnel(&admin_token).await;
    tunnel3.close().await;
    watch.until(&t3, "session.closed").await;

    let lines = watch.interrupt().await;
    let log = world.session_events().await;

    // Exactly the log's session events from t0's close on: in order, none
    // missed, none repeated, across both restarts.
    let live: Vec<&Line> = lines.iter().filter(|l| l.live()).collect();
    let printed: Vec<(u64, &str, &str)> = live
        .iter()
        .map(|l| {
            (
                l.row["seq"].as_u64().expect("a seq"),
                l.session(),
                l.event(),
            )
        })
        .collect();
    let from = log
        .iter()
        .find(|(_, id, t)| id == &t0 && t == "session.closed")
        .expect("t0's close is in the log")
        .0;
    let expected: Vec<(u64, &str, &str)> = log
        .iter()
        .filter(|(seq, _, _)| *seq >= from)
        .map(|(seq, id, t)| (*seq, id.as_str(), t.as_str()))
        .collect();
    assert_eq!(
        printed, expected,
        "the watch's live lines are the log's session events"
    );
    for (session, want) in [
        (
            &t1,
            &[
                "session.requested",
                "session.granted",
                "session.connected",
                "session.closed",
            ][..],
        ),
        (
            &t2,
            &[
                "session.requested",
                "session.granted",
                "session.connected",
                "session.closed",
            ],
        ),
    ] {
        let got: Vec<&str> = printed
            .iter()
            .filter(|(_, id, _)| id == session)
            .map(|(_, _, t)| *t)
            .collect();
        assert_eq!(got, want, "{session}");
    }

    // Each line within 200 ms of its event, but the close that happened
    // while no API was up (replayed on resume).
    let mut latencies: Vec<Duration> = live
        .iter()
        .filter(|l| !(l.session() == t1 && l.event() == "session.closed"))
        .map(|l| l.latency())
        .collect();
    latencies.sort();
    eprintln!(
        "sessions watch latency over {} lines: min {:?}, median {:?}, max {:?}",
        latencies.len(),
        latencies[0],
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    for l in &live {
        if l.session() == t1 && l.event() == "session.closed" {
            continue;
        }
        assert!(
            l.latency() <= LATENCY_BOUND,
            "{} of {} read {:?} after its event",
            l.event(),
            l.session(),
            l.latency()
        );
    }
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_watches_only_their_own_sessions() {
    let world = World::start().await.with_tunnels().await;
    world
        .admin(
            reqwest::Method::POST,
            "/roles",
            Some(json!({"name": "echo-users", "allow": {"names": [RESOURCE]}})),
        )
        .await
        .expect_status(201);
    world
        .admin(
            reqwest::Method::POST,
            "/users",
            Some(json!({"email": DEV_EMAIL, "password": DEV_PASSWORD, "roles": ["echo-users"]})),
        )
        .await
        .expect_status(201);
    let dev_token = world.login(DEV_EMAIL, DEV_PASSWORD).await;
    let admin_token = world.admin_token.clone();

    // Both open before the watches start: each watch's snapshot is its
    // first output, then the closes follow live.
    let (mine, my_tunnel) = world.tunnel(&dev_token).await;
    let (theirs, their_tunnel) = world.tunnel(&admin_token).await;
    let dev_cli = bamfctl_bin::Bamfctl::new(&world.url);
    dev_cli.login(DEV_EMAIL, DEV_PASSWORD).await;
    let admin_cli = bamfctl_bin::Bamfctl::new(&world.url);
    admin_cli.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let home = |cli: &bamfctl_bin::Bamfctl| cli.credentials().parent().unwrap().to_path_buf();
    let mut dev_watch = Watch::spawn(home(&dev_cli), &world.url, &[]);
    let mut filtered = Watch::spawn(home(&admin_cli), &world.url, &["--user", DEV_EMAIL]);
    let mut by_resource = Watch::spawn(home(&admin_cli), &world.url, &["--resource", RESOURCE]);
    let open = ["session.granted", "session.connected"];
    for w in [&mut dev_watch, &mut filtered] {
        w.until_any(&mine, &open).await;
    }
    by_resource.until_any(&theirs, &open).await;

    // The admin's session closes first: by the time dev's close is printed,
    // the admin's has been read and left out.
    their_tunnel.close().await;
    by_resource.until(&theirs, "session.closed").await;
    my_tunnel.close().await;
    for w in [&mut dev_watch, &mut filtered] {
        w.until(&mine, "session.closed").await;
    }
    for w in [dev_watch, filtered] {
        let lines = w.interrupt().await;
        let sessions: Vec<&str> = lines.iter().map(Line::session).collect();
        assert!(
            sessions.iter().all(|s| *s == mine),
            "only dev's session: {sessions:?}"
        );
        assert!(lines.iter().all(|l| l.row["email"] == DEV_EMAIL));
    }
    let lines = by_resource.interrupt().await;
    assert!(
        lines.iter().any(|l| l.session() == mine),
        "an admin sees every user's sessions"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_last_event_id_is_a_400() {
    let world = World::start().await;
    let token = world.admin_token.clone();
    let get = |header: Option<&'static str>, query: &'static str| {
        let url = format!("{}/api/v1/sessions/watch{query}", world.url);
        let token = token.clone();
        async move {
            let mut request = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .timeout(harness::REQUEST_TIMEOUT);
            if let Some(h) = header {
                request = request.header("last-event-id", h);
            }
            let response = request.send().await.expect("the API answers");
            let status = response.status().as_u16();
            let kind = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            (status, kind, response)
        }
    };
    for (header, query, says) in [
        (
            Some("nope"),
            "",
            "Last-Event-ID \"nope\" is not an event sequence",
        ),
        (
            Some("-3"),
            "",
            "Last-Event-ID \"-3\" is not an event sequence",
        ),
        (None, "?after=1.5", "after \"1.5\" is not an event sequence"),
        (
            Some("999999999"),
            "",
            "Last-Event-ID 999999999 is past the end of the event log",
        ),
    ] {
        let (status, kind, response) = get(header, query).await;
        assert_eq!(status, 400, "{header:?} {query}");
        assert_eq!(kind, "application/json");
        let body: Value = response.json().await.expect("a JSON error");
        assert_eq!(body["error"]["code"], "invalid_argument", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(says), "{message}");
    }
    // A good one is a stream; its first event is `ready` with that id.
    let (status, kind, mut response) = get(Some("1"), "").await;
    assert_eq!(status, 200);
    assert_eq!(kind, "text/event-stream");
    let chunk = tokio::time::timeout(LINE_TIMEOUT, response.chunk())
        .await
        .expect("the first event in time")
        .expect("a chunk")
        .expect("not the end");
    let text = String::from_utf8_lossy(&chunk);
    assert!(
        text.contains("event: ready") && text.contains("id: 1\n"),
        "{text}"
    );
    drop(response);
    // And without a token: 401, as every other route.
    let answer = world
        .request(reqwest::Method::GET, "/sessions/watch", None, None)
        .await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    world.stop().await;
}

//! bamf's real data path, in-process as the end-to-end tests set it up
//! (`tests/tests/tunnel_client/e2e.rs`): bamf-api on the benchmark's stack,
//! the bridge (`bamf_bridge::start`) with a certificate from the API's own CA
//! and heartbeating to the stack's NATS so the API picks it, and the agent
//! (`bamf_agent::run`) joined with a join token, advertising a sink and an
//! echo target. A session is what bamfctl does: a fresh key, `POST
//! /api/v1/connect` with its CSR, and bamfctl's own `Tunnel::open`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bamf_agent::{AgentConfig, ResourceConfig};
use bamf_bridge::{Bridge, BridgeConfig, BridgeTls};
use bamf_pki::{Ca, KeyAndCsr};
use bamf_runtime::{probe, Shutdown};
use bamfctl::tunnel::{ConnectAnswer, Tunnel, CONNECT_TIMEOUT};
use serde_json::json;

use super::pki::{Pki, SERVER_NAME};
use super::targets::Target;
use crate::stack::{Client, Replica, Stack};

/// The in-process bridge's id.
pub const BRIDGE_ID: &str = "bench-1";
/// How long the bridge and the agent may take to be ready, and the API to
/// know both (the agent's catalog, the bridge's heartbeat).
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between readiness probes (a probe, not a sleep in place of one).
const PROBE_INTERVAL: Duration = Duration::from_millis(20);

/// The resources the agent advertises.
pub const SINK: &str = "sink";
pub const ECHO: &str = "echo";

/// API, bridge, agent and targets, all on loopback.
pub struct DataPath {
    /// The stack's admin (may connect to every resource).
    pub admin: Client,
    /// The API's CA, for the in-process bridge's id.
    pub pki: Pki,
    pub sink: Target,
    pub echo: Target,
    bridge: Bridge,
    bridge_shutdown: Shutdown,
    agent_shutdown: Shutdown,
    agent: tokio::task::JoinHandle<anyhow::Result<()>>,
    _files: tempfile::TempDir,
}

/// A session opened as bamfctl opens one, with how long each step took.
pub struct Opened {
    pub tunnel: Tunnel,
    /// When `POST /connect` was sent.
    pub started: Instant,
    /// `POST /connect` sent → answered (RBAC, bridge pick, both certificates,
    /// the agent's dial over NATS, the session events).
    pub answered: Duration,
    /// `POST /connect` sent → QUIC connection to the bridge established.
    pub opened: Duration,
}

impl DataPath {
    pub async fn start(stack: &Stack, api: &Replica) -> anyhow::Result<DataPath> {
        let files = tempfile::tempdir()?;
        let data = stack.api_data_dir();
        let ca = Ca::load(&data.join("ca.crt"), &data.join("ca.key")).context("the API's CA")?;
        let pki = Pki::new(Arc::new(ca), BRIDGE_ID);

        // The bridge, announcing its real address.
        let bridge_files = pki.write_bridge_files(files.path())?;
        let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let quic = socket.local_addr()?;
        let config = BridgeConfig {
            bridge_id: BRIDGE_ID.into(),
            quic_listen: quic,
            advertise_address: quic.to_string(),
            server_name: SERVER_NAME.into(),
            cert_file: bridge_files.cert_file,
            key_file: bridge_files.key_file,
            ca_file: bridge_files.ca_file,
            nats_url: stack.nats.url(),
            shutdown_grace: Duration::from_secs(2),
            heartbeat_interval: Duration::from_millis(500),
            ..BridgeConfig::default()
        };
        config.validate().context("the bridge config")?;
        let tls = BridgeTls::load(&config)?;
        let bridge_shutdown = Shutdown::new(config.shutdown_grace);
        let bridge = bamf_bridge::start(config, tls, socket, bridge_shutdown.clone()).await?;

        // The targets and the agent advertising them.
        let sink = Target::sink().await?;
        let echo = Target::echo().await?;
        let admin = api.client()?.admin().await?;
        let token = admin.post("/join-tokens", json!({"name": "bench"})).await?;
        let token = token["token"].as_str().context("a join token")?;
        let resource = |name: &str, target: &Target| ResourceConfig {
            name: name.into(),
            kind: "tcp".into(),
            host: target.addr.ip().to_string(),
            port: target.addr.port(),
            labels: Default::default(),
        };
        let config = AgentConfig {
            platform_url: format!("http://{}", api.addr),
            join_token: Some(token.into()),
            name: "bench-agent".into(),
            resources: vec![resource(SINK, &sink), resource(ECHO, &echo)],
            nats_url: stack.nats.url(),
            data_dir: files.path().join("agent"),
            health_listen: "127.0.0.1:0".parse()?,
            shutdown_grace: Duration::from_secs(3),
            ..AgentConfig::default()
        };
        config.validate().context("the agent config")?;
        let health = tokio::net::TcpListener::bind(config.health_listen).await?;
        let health_addr = health.local_addr()?;
        let agent_shutdown = Shutdown::new(config.shutdown_grace);
        let agent = tokio::spawn(bamf_agent::run(config, health, agent_shutdown.clone()));
        let deadline = Instant::now() + READY_TIMEOUT;
        while !probe::get(health_addr, "/readyz", Duration::from_secs(5))
            .await
            .is_ok_and(|answer| answer.status == 200)
        {
            anyhow::ensure!(!agent.is_finished(), "bamf-agent stopped during start-up");
            anyhow::ensure!(
                Instant::now() < deadline,
                "bamf-agent not ready in {READY_TIMEOUT:?}"
            );
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
        let path = DataPath {
            admin,
            pki,
            sink,
            echo,
            bridge,
            bridge_shutdown,
            agent_shutdown,
            agent,
            _files: files,
        };
        for resource in [SINK, ECHO] {
            path.wait_connectable(resource).await?;
        }
        Ok(path)
    }

    /// Waits until `/connect` to `resource` succeeds (until the API has the
    /// agent's catalog and a live bridge it answers 404 or 503).
    async fn wait_connectable(&self, resource: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.connect(&self.admin, resource).await {
                Ok(opened) => {
                    opened.tunnel.close().await;
                    return Ok(());
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(e.context(format!("{resource} not connectable in time")))
                }
                Err(_) => tokio::time::sleep(PROBE_INTERVAL).await,
            }
        }
    }

    /// A session to `resource` as bamfctl opens one: a fresh key (made
    /// before the clock starts, as bamfctl makes it before it asks), `POST
    /// /connect` with its CSR, then `Tunnel::open` to the answer's bridge.
    pub async fn connect(&self, client: &Client, resource: &str) -> anyhow::Result<Opened> {
        let key = KeyAndCsr::generate()?;
        let csr = key.csr_pem()?;
        let start = Instant::now();
        let (status, body) = client
            .send(
                reqwest::Method::POST,
                "/connect",
                Some(json!({"resource": resource, "csr": csr})),
            )
            .await?;
        anyhow::ensure!(status == 200, "POST /connect answered {status}: {body}");
        let answered = start.elapsed();
        let answer: ConnectAnswer = serde_json::from_value(body).context("a /connect answer")?;
        let tunnel = Tunnel::open(&answer, key.private_key_der(), CONNECT_TIMEOUT)
            .await
            .context("the tunnel opens")?;
        Ok(Opened {
            tunnel,
            started: start,
            answered,
            opened: start.elapsed(),
        })
    }

    /// Sessions the bridge has paired so far.
    pub fn sessions_paired(&self) -> u64 {
        self.bridge.metrics().sessions_paired
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.agent_shutdown.trigger();
        let stopped = tokio::time::timeout(READY_TIMEOUT, self.agent).await;
        self.bridge_shutdown.trigger();
        self.bridge_shutdown.drain().await;
        stopped
            .context("bamf-agent stops within its grace")?
            .context("bamf-agent task")?
    }
}

//! A real nats-server per test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::repo_root;

/// How long a server may take to become ready before the test fails.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between readiness probes (a probe, not a sleep in place of one).
const PROBE_INTERVAL: Duration = Duration::from_millis(10);

/// A nats-server with JetStream, owned by one test.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    monitor_port: u16,
    store: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl NatsServer {
    /// Starts a server on free loopback ports with a temporary JetStream store and
    /// returns once it accepts clients and JetStream is ready.
    pub async fn start() -> Result<Self> {
        let store = tempfile::Builder::new()
            .prefix("bamf-nats-store-")
            .tempdir()?;
        let work = tempfile::Builder::new().prefix("bamf-nats-").tempdir()?;
        let mut server = NatsServer {
            child: None,
            port: 0,
            monitor_port: 0,
            store,
            work,
        };
        server.spawn(None).await?;
        Ok(server)
    }

    /// The client URL, e.g. `nats://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The JetStream store directory.
    pub fn store_dir(&self) -> &Path {
        self.store.path()
    }

    /// Whether the server process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Stops the server (SIGKILL, as a crash or a network cut would look to
    /// clients); the store is kept for [`NatsServer::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same ports and store.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop();
        let ports = (self.port, self.monitor_port);
        self.spawn(Some(ports)).await
    }

    async fn spawn(&mut self, ports: Option<(u16, u16)>) -> Result<()> {
        let bin = nats_server_binary()?;
        let ports_dir = self.work.path().join("ports");
        let _ = std::fs::remove_dir_all(&ports_dir);
        std::fs::create_dir_all(&ports_dir)?;
        // -1 asks the server for a random free port; the ports file tells us which.
        let (client, monitor) = match ports {
            Some((c, m)) => (c.to_string(), m.to_string()),
            None => ("-1".into(), "-1".into()),
        };
        let log = self.work.path().join("nats-server.log");
        let child = Command::new(&bin)
            .args(["-a", "127.0.0.1", "-p", &client, "-m", &monitor, "-js"])
            .arg("-sd")
            .arg(self.store.path())
            .arg("--ports_file_dir")
            .arg(&ports_dir)
            .arg("-l")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let pid = child.id();
        self.child = Some(child);
        let ports_file = ports_dir.join(format!("nats-server_{pid}.ports"));
        let deadline = Instant::now() + READY_TIMEOUT;
        let (port, monitor_port) = loop {
            if let Ok(text) = std::fs::read_to_string(&ports_file) {
                if let Some(ports) = parse_ports(&text) {
                    break ports;
                }
            }
            self.check_alive(&log, deadline)?;
            tokio::time::sleep(PROBE_INTERVAL).await;
        };
        self.port = port;
        self.monitor_port = monitor_port;
        // JetStream may still be starting after the listeners are up: wait for
        // the monitoring endpoint to report it healthy.
        loop {
            if healthz(monitor_port).unwrap_or(false) {
                return Ok(());
            }
            self.check_alive(&log, deadline)?;
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }

    fn check_alive(&mut self, log: &Path, deadline: Instant) -> Result<()> {
        let exited = match self.child.as_mut() {
            Some(child) => child.try_wait()?,
            None => bail!("nats-server is not running"),
        };
        if let Some(status) = exited {
            self.child = None;
            let log = std::fs::read_to_string(log).unwrap_or_default();
            bail!("nats-server exited with {status} before it was ready:\n{log}");
        }
        if Instant::now() > deadline {
            bail!("nats-server not ready after {READY_TIMEOUT:?}");
        }
        Ok(())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Parses the ports file: `{"nats":["nats://127.0.0.1:4222"],"monitoring":["http://127.0.0.1:8222"]}`.
fn parse_ports(text: &str) -> Option<(u16, u16)> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let port_of = |key: &str| -> Option<u16> {
        let url = value.get(key)?.as_array()?.first()?.as_str()?;
        url.rsplit(':').next()?.parse().ok()
    };
    Some((port_of("nats")?, port_of("monitoring")?))
}

/// `GET /healthz` on the monitoring port: true when the server and JetStream are ok.
fn healthz(port: u16) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response.starts_with("HTTP/1.") && response.contains(" 200 ") && response.contains("ok"))
}

/// The pinned nats-server: `BAMF_NATS_SERVER` when set, else the project-local
/// install made by `tools/install-nats` (run here when it is missing).
pub fn nats_server_binary() -> Result<PathBuf> {
    static BIN: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| find_or_install().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn find_or_install() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("BAMF_NATS_SERVER") {
        return Ok(PathBuf::from(path));
    }
    let root = repo_root();
    let version = pinned_version()?;
    let bin = root
        .join(".tools")
        .join(format!("nats-server-{version}"))
        .join("bin/nats-server");
    if bin.is_file() {
        return Ok(bin);
    }
    let out = Command::new(root.join("tools/install-nats"))
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run tools/install-nats")?;
    if !out.status.success() {
        bail!("tools/install-nats failed ({})", out.status);
    }
    Ok(PathBuf::from(String::from_utf8(out.stdout)?.trim()))
}

/// The pinned nats-server version: `NATS_VERSION` in `deploy/.env`, the file
/// docker compose reads for the image tag.
pub fn pinned_version() -> Result<String> {
    let path = repo_root().join("deploy/.env");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .find_map(|line| line.trim().strip_prefix("NATS_VERSION="))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .with_context(|| format!("no NATS_VERSION=<x.y.z> line in {}", path.display()))
}

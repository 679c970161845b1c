//! nats-server with JetStream, configured from deploy/nats/nats-server.conf.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use tokio::process::Command;

use crate::child::Managed;

/// How long nats-server (with JetStream recovering its store) may take to be ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Where and how nats-server runs.
pub struct Settings<'a> {
    pub bin: &'a Path,
    pub config: &'a Path,
    pub store: &'a Path,
    pub pid_file: PathBuf,
    pub log: &'a Path,
    pub port: u16,
    pub monitor_port: u16,
}

/// Starts nats-server and waits until its `/healthz` (which includes JetStream)
/// answers 200.
pub async fn start(s: &Settings<'_>) -> Result<Managed> {
    refuse_stale(&s.pid_file, s.store)?;
    let mut command = Command::new(s.bin);
    // Flags override the config file: loopback only, our ports, our store.
    command
        .arg("-c")
        .arg(s.config)
        .args(["-a", "127.0.0.1"])
        .args(["-p", &s.port.to_string()])
        .args(["-m", &s.monitor_port.to_string()])
        .arg("-sd")
        .arg(s.store)
        .arg("-P")
        .arg(&s.pid_file);
    let mut child = Managed::spawn("nats-server", command, s.log)?;
    let monitor = SocketAddr::from(([127, 0, 0, 1], s.monitor_port));
    child
        .wait_http_ok(monitor, "/healthz", READY_TIMEOUT)
        .await?;
    Ok(child)
}

/// Two servers on one JetStream store would corrupt it: refuse to start while a
/// nats-server from an earlier run (killed without stopping its children) is
/// still alive.
fn refuse_stale(pid_file: &Path, store: &Path) -> Result<()> {
    let Ok(pid) = std::fs::read_to_string(pid_file) else {
        return Ok(());
    };
    let pid = pid.trim();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if String::from_utf8_lossy(&cmdline).contains("nats-server") {
        bail!(
            "a nats-server from an earlier run (pid {pid}) is still using {}; stop it with `kill {pid}` and run again",
            store.display()
        );
    }
    Ok(())
}

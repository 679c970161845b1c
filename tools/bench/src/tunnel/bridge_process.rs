//! The `bamf-bridge` binary as a child process, configured from files
//! (`cert_file`, `key_file`, `ca_file`) so its memory can be read from
//! `/proc/<pid>/status` apart from the benchmark's own.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use bamf_runtime::probe;
use tokio::process::{Child, Command};

use super::pki::{Pki, SERVER_NAME};
use crate::mem::pid_status_kib;

/// How long the bridge may take to be ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between readiness probes (a probe, not a sleep in place of one).
const PROBE_INTERVAL: Duration = Duration::from_millis(20);
/// How long the bridge gets to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A running `bamf-bridge`; killed if dropped without [`BridgeProcess::stop`].
pub struct BridgeProcess {
    child: Child,
    pub pid: u32,
    pub quic: SocketAddr,
    pub log: PathBuf,
}

/// `bamf-bridge` of this build (built on request).
pub fn binary() -> anyhow::Result<PathBuf> {
    crate::bins::binary("bamf-bridge", "bamf-bridge")
}

/// A loopback port nothing listens on now (the OS's choice for port 0).
fn free_port(udp: bool) -> anyhow::Result<u16> {
    Ok(if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
    })
}

/// A TOML basic string; the benchmark's values never need escapes.
fn toml_string(value: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        !value.contains(['"', '\\']) && !value.chars().any(char::is_control),
        "config value {value:?} would need escaping"
    );
    Ok(format!("\"{value}\""))
}

impl BridgeProcess {
    /// Writes the bridge's files and config (plus `extra` TOML lines) into
    /// `dir`, starts `binary` on them and waits until its `/readyz` answers 200.
    pub async fn start(
        binary: &Path,
        pki: &Pki,
        nats_url: &str,
        extra: &[String],
        dir: &Path,
    ) -> anyhow::Result<BridgeProcess> {
        let files = pki.write_bridge_files(dir)?;
        let health = SocketAddr::from(([127, 0, 0, 1], free_port(false)?));
        let quic = SocketAddr::from(([127, 0, 0, 1], free_port(true)?));
        let path = |p: &Path| toml_string(&p.display().to_string());
        let config = [
            ("bridge_id", toml_string(&pki.bridge_id)?),
            ("health_listen", toml_string(&health.to_string())?),
            ("quic_listen", toml_string(&quic.to_string())?),
            ("advertise_address", toml_string(&quic.to_string())?),
            ("server_name", toml_string(SERVER_NAME)?),
            ("cert_file", path(&files.cert_file)?),
            ("key_file", path(&files.key_file)?),
            ("ca_file", path(&files.ca_file)?),
            ("nats_url", toml_string(nats_url)?),
            ("shutdown_grace", toml_string("2s")?),
        ]
        .iter()
        .map(|(key, value)| format!("{key} = {value}\n"))
        .chain(extra.iter().map(|line| format!("{line}\n")))
        .collect::<String>();
        let config_file = dir.join("bridge.toml");
        std::fs::write(&config_file, config)?;

        let log = dir.join("bridge.log");
        let out = std::fs::File::create(&log)?;
        let mut command = Command::new(binary);
        command
            .arg("--config")
            .arg(&config_file)
            .args(["--log-format", "text"])
            // The production default, whatever the caller's shell says.
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true);
        for (key, _) in std::env::vars_os() {
            if key
                .to_string_lossy()
                .starts_with(bamf_bridge::config::ENV_PREFIX)
            {
                command.env_remove(key);
            }
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let pid = child.id().context("a child not yet awaited has a pid")?;
        let deadline = Instant::now() + READY_TIMEOUT;
        while !probe::get(health, "/readyz", Duration::from_secs(2))
            .await
            .is_ok_and(|answer| answer.status == 200)
        {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("bamf-bridge exited with {status}; see {}", log.display());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "bamf-bridge not ready in {READY_TIMEOUT:?}; see {}",
                log.display()
            );
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
        Ok(BridgeProcess {
            child,
            pid,
            quic,
            log,
        })
    }

    /// Resident set now, in KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        pid_status_kib(self.pid, "VmRSS").context("VmRSS of bamf-bridge")
    }

    /// Peak resident set, in KiB.
    pub fn peak_kib(&self) -> anyhow::Result<u64> {
        pid_status_kib(self.pid, "VmHWM").context("VmHWM of bamf-bridge")
    }

    /// SIGTERM (with kill(1): the workspace forbids `unsafe`), then SIGKILL
    /// if it has not exited within the grace.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let term = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("cannot run kill")?;
        anyhow::ensure!(term.success(), "kill -TERM {} failed", self.pid);
        match tokio::time::timeout(STOP_GRACE, self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                anyhow::ensure!(status.success(), "bamf-bridge exited with {status}");
            }
            Err(_) => {
                println!("bamf-bridge did not stop within {STOP_GRACE:?}; killing it");
                self.child.kill().await?;
            }
        }
        Ok(())
    }
}

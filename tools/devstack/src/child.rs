//! A child process of the stack: its log file, readiness wait and orderly stop.

use std::fs::OpenOptions;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bamf_runtime::probe;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

/// Pause between readiness probes (a probe, not a sleep in place of one).
const PROBE_INTERVAL: Duration = Duration::from_millis(20);
/// Bound on one readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Lines of a child's log shown when it fails.
const LOG_TAIL_LINES: usize = 20;

/// A running child with its output going to a log file.
pub struct Managed {
    name: &'static str,
    child: Child,
    log: PathBuf,
    pid: u32,
}

impl Managed {
    /// Starts `command` with stdout and stderr appended to `log`, in its own
    /// process group so a Ctrl-C on the terminal reaches only the stack, which
    /// then stops the children in order.
    pub fn spawn(name: &'static str, mut command: Command, log: &Path) -> Result<Self> {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let err = out.try_clone()?;
        command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            // If the stack itself fails, no child is left behind.
            .kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let pid = child
            .id()
            .context("a just-spawned child that was not awaited has a pid")?;
        Ok(Managed {
            name,
            child,
            log: log.to_path_buf(),
            pid,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The name it is reported by (`bamf-api`, `nats-server`, …).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Completes when the child exits on its own.
    pub async fn exited(&mut self) -> ExitStatus {
        match self.child.wait().await {
            Ok(status) => status,
            // wait() fails only if the child was already reaped; report it as gone.
            Err(_) => std::os::unix::process::ExitStatusExt::from_raw(0),
        }
    }

    /// Fails, quoting the log, if the child has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited with {status}; last lines of {}:\n{}",
                self.name,
                self.log.display(),
                log_tail(&self.log)
            );
        }
        Ok(())
    }

    /// Waits until `GET path` on `addr` answers 200, failing if the child exits
    /// or `timeout` passes.
    pub async fn wait_http_ok(
        &mut self,
        addr: SocketAddr,
        path: &str,
        timeout: Duration,
    ) -> Result<()> {
        let what = format!("http://{addr}{path}");
        self.wait_until(&what, timeout, || async move {
            let answer = probe::get(addr, path, PROBE_TIMEOUT).await;
            Ok(answer.is_ok_and(|answer| answer.status == 200))
        })
        .await
    }

    /// Waits until a TCP connection to `addr` gets a first line starting with
    /// `prefix` (an SSH server's `SSH-2.0-…` banner), failing if the child
    /// exits or `timeout` passes.
    pub async fn wait_banner(
        &mut self,
        addr: SocketAddr,
        prefix: &str,
        timeout: Duration,
    ) -> Result<()> {
        let what = format!("a {prefix}… banner on {addr}");
        self.wait_until(&what, timeout, || async move {
            let first = tokio::time::timeout(PROBE_TIMEOUT, first_bytes(addr, prefix.len())).await;
            Ok(matches!(first, Ok(Ok(bytes)) if bytes == prefix.as_bytes()))
        })
        .await
    }

    /// Polls `ready` (every [`PROBE_INTERVAL`]) until it answers true, failing
    /// if it fails, if the child exits, or when `timeout` passes; `what`
    /// names the signal in the error.
    pub async fn wait_until<F, Fut>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut ready: F,
    ) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<bool>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if ready().await? {
                return Ok(());
            }
            self.check_running()?;
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "{} not ready after {timeout:?} (waited for {what}); see {}",
                    self.name,
                    self.log.display()
                );
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub async fn stop(&mut self, grace: Duration) -> Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        signal(self.pid, "TERM")?;
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                println!("  {} did not stop within {grace:?}; killing it", self.name);
                self.child.kill().await?;
            }
        }
        Ok(())
    }
}

/// Sends a signal with kill(1): the workspace forbids `unsafe`, so no libc call.
pub fn signal(pid: u32, name: &str) -> Result<()> {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .context("cannot run kill")?;
    if !status.success() {
        bail!("kill -{name} {pid} failed");
    }
    Ok(())
}

/// The first `n` bytes a server sends on a fresh connection.
async fn first_bytes(addr: SocketAddr, n: usize) -> std::io::Result<Vec<u8>> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut bytes = vec![0u8; n];
    stream.read_exact(&mut bytes).await?;
    Ok(bytes)
}

/// The last lines of a log file, for error messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

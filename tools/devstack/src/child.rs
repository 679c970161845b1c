//! A child process of the stack: its log file, readiness wait and orderly stop.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bamf_runtime::probe;
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
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok(answer) = probe::get(addr, path, PROBE_TIMEOUT).await {
                if answer.status == 200 {
                    return Ok(());
                }
            }
            self.check_running()?;
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "{} not ready after {timeout:?} (http://{addr}{path}); see {}",
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

/// The last lines of a log file, for error messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

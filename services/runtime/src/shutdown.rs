//! Graceful shutdown: one cancellation token per process, its tasks tracked,
//! and a bounded grace period.
//!
//! The sequence every program follows:
//!
//! 1. `main` creates a [`Shutdown`] with the configured grace period and calls
//!    [`Shutdown::on_signals`]; tests create one and call [`Shutdown::trigger`].
//! 2. The program spawns its long-lived tasks with [`Shutdown::spawn`] and has
//!    them watch [`Shutdown::triggered`] (servers stop accepting, loops exit).
//! 3. When triggered, the program calls [`Shutdown::drain`], which waits for the
//!    tracked tasks for at most the grace period and warns if some are still
//!    running; the process then exits and those tasks are dropped.
//!
//! A second SIGINT/SIGTERM during the grace period exits at once (code 130), the
//! way an impatient operator expects Ctrl-C twice to behave.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The default grace period for programs that do not configure one.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// The process's shutdown signal and the tasks that must finish before exit.
#[derive(Debug, Clone)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
    grace: Duration,
}

/// How [`Shutdown::drain`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every tracked task finished within the grace period.
    Clean,
    /// The grace period ran out with this many tasks still running.
    GraceExpired { still_running: usize },
}

impl Shutdown {
    /// A shutdown not yet triggered, with the given grace period.
    pub fn new(grace: Duration) -> Self {
        Shutdown {
            token: CancellationToken::new(),
            tracker: TaskTracker::new(),
            grace,
        }
    }

    /// How long [`Shutdown::drain`] waits for tasks.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// The cancellation token, for code that wants a child token or a
    /// `run_until_cancelled`.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Starts the shutdown. Idempotent.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether shutdown has started.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes when shutdown has started.
    pub async fn triggered(&self) {
        self.token.cancelled().await
    }

    /// Spawns a task that [`Shutdown::drain`] waits for.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// Triggers this shutdown on SIGINT or SIGTERM (a second one exits at once).
    /// Must be called inside a Tokio runtime.
    pub fn on_signals(&self) {
        let token = self.token.clone();
        tokio::spawn(async move {
            let first = signal().await;
            tracing::info!(signal = first, "shutting down");
            token.cancel();
            let second = signal().await;
            tracing::warn!(signal = second, "second signal: exiting without waiting");
            std::process::exit(130);
        });
    }

    /// Closes the tracker and waits for its tasks, at most the grace period.
    pub async fn drain(&self) -> Drained {
        self.tracker.close();
        match tokio::time::timeout(self.grace, self.tracker.wait()).await {
            Ok(()) => Drained::Clean,
            Err(_) => {
                let still_running = self.tracker.len();
                tracing::warn!(
                    grace = ?self.grace,
                    still_running,
                    "grace period ran out; abandoning tasks still running"
                );
                Drained::GraceExpired { still_running }
            }
        }
    }
}

/// Waits for SIGINT or SIGTERM and names it. If a handler cannot be installed
/// (not possible on Linux outside exotic sandboxes) that signal is just never seen.
#[cfg(unix)]
async fn signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    tokio::select! {
        Some(_) = async { term.as_mut()?.recv().await } => "SIGTERM",
        Some(_) = async { int.as_mut()?.recv().await } => "SIGINT",
        else => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "ctrl-c"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn drain_is_clean_when_tasks_stop_on_trigger() {
        let shutdown = Shutdown::new(Duration::from_secs(10));
        let s = shutdown.clone();
        shutdown.spawn(async move { s.triggered().await });
        shutdown.trigger();
        assert_eq!(shutdown.drain().await, Drained::Clean);
    }

    #[tokio::test(start_paused = true)]
    async fn drain_gives_up_after_the_grace_period() {
        let grace = Duration::from_secs(10);
        let shutdown = Shutdown::new(grace);
        shutdown.spawn(std::future::pending::<()>());
        shutdown.trigger();
        let started = tokio::time::Instant::now();
        assert_eq!(
            shutdown.drain().await,
            Drained::GraceExpired { still_running: 1 }
        );
        // Paused time jumps straight to the deadline: exactly the grace, no more.
        assert_eq!(started.elapsed(), grace);
    }
}

//! What runs: the children and clusters started so far, how the stack
//! notices one dying, and the stop order (the reverse of the start order).

use std::path::Path;
use std::time::Duration;

use anyhow::anyhow;

use crate::child::{log_tail, Managed};
use crate::postgres::Postgres;

/// What has been started so far, stopped in reverse order.
#[derive(Default)]
pub struct Running {
    pub postgres: Option<Postgres>,
    pub nats: Option<Managed>,
    pub api: Option<Managed>,
    pub sshd: Option<Managed>,
    pub demo_db: Option<Postgres>,
    pub bridge: Option<Managed>,
    pub agent: Option<Managed>,
}

impl Running {
    /// Completes with an error naming the first component to die.
    pub async fn first_death(&mut self, logs: &Logs<'_>) -> anyhow::Error {
        let Running {
            postgres,
            nats,
            api,
            sshd,
            demo_db,
            bridge,
            agent,
        } = self;
        tokio::select! {
            error = exited(agent) => error,
            error = exited(bridge) => error,
            error = exited(sshd) => error,
            error = gone(demo_db.as_ref(), "the demo PostgreSQL", logs.demo_db) => error,
            error = exited(api) => error,
            error = exited(nats) => error,
            error = gone(postgres.as_ref(), "PostgreSQL", logs.postgres) => error,
        }
    }

    /// Stops what runs: agent, bridge, demo targets, api, nats, postgres;
    /// reports but goes on past failures so nothing is left running.
    pub async fn stop(&mut self, grace: Duration) {
        for child in [&mut self.agent, &mut self.bridge, &mut self.sshd] {
            stop_child(child.as_mut(), grace).await;
        }
        stop_cluster(self.demo_db.as_ref(), "the demo PostgreSQL", grace).await;
        for child in [&mut self.api, &mut self.nats] {
            stop_child(child.as_mut(), grace).await;
        }
        stop_cluster(self.postgres.as_ref(), "PostgreSQL", grace).await;
    }

    /// Kills every program at once (dropping a child kills it); the
    /// clusters are left for [`Running::stop`].
    pub fn kill_programs(&mut self) {
        self.agent = None;
        self.bridge = None;
        self.sshd = None;
        self.api = None;
        self.nats = None;
    }
}

/// The log files of the clusters, which pg_ctl runs detached.
pub struct Logs<'a> {
    pub postgres: &'a Path,
    pub demo_db: &'a Path,
}

/// The error of a child exiting on its own; never, without a child.
async fn exited(child: &mut Option<Managed>) -> anyhow::Error {
    let Some(child) = child else {
        return std::future::pending().await;
    };
    let status = child.exited().await;
    anyhow!(
        "{} exited with {status}; last lines of {}:\n{}",
        child.name(),
        child.log().display(),
        log_tail(child.log())
    )
}

/// The error of our cluster's postmaster going away; never, for a server we
/// don't run.
async fn gone(cluster: Option<&Postgres>, name: &str, log: &Path) -> anyhow::Error {
    let Some(cluster) = cluster else {
        return std::future::pending().await;
    };
    cluster.gone().await;
    anyhow!(
        "{name} exited; last lines of {}:\n{}",
        log.display(),
        log_tail(log)
    )
}

async fn stop_child(child: Option<&mut Managed>, grace: Duration) {
    let Some(child) = child else { return };
    println!("  stopping {} (pid {})", child.name(), child.pid());
    if let Err(error) = child.stop(grace).await {
        eprintln!("warning: {}: {error:#}", child.name());
    }
}

async fn stop_cluster(cluster: Option<&Postgres>, name: &str, grace: Duration) {
    let Some(cluster @ Postgres::Local(_)) = cluster else {
        return;
    };
    if cluster.pid().is_some() && !cluster.is_alive() {
        // Already gone (the reason the stack stops); nothing for pg_ctl to do.
        return;
    }
    println!("  stopping {name}");
    if let Err(error) = cluster.stop(grace).await {
        eprintln!("warning: {name}: {error:#}");
    }
}

//! bamf-agent: the agent (ARCHITECTURE §1, §4): it runs next to the targets,
//! joins with a token, heartbeats its catalog, dials out to bridges on command
//! and proxies to the targets in its own configuration, and nothing else.
//!
//! [`run`] is what both `main.rs` and the tests call, the latter on a listener
//! bound to port 0. Layout:
//! - `config.rs` keys, defaults, validation; `expand.rs` `${ENV}` in values;
//! - `identity.rs` the files in the data dir; `api.rs` join and renew calls;
//!   `enroll.rs` join-or-load and the renewal loop;
//! - `heartbeat.rs` the catalog heartbeat;
//! - `dial.rs` the dial command; `session.rs` the QUIC session and its streams.

pub mod api;
pub mod config;
pub mod dial;
pub mod enroll;
pub mod expand;
pub mod heartbeat;
pub mod identity;
pub mod session;

pub use config::{AgentConfig, ResourceConfig};

use std::sync::Arc;

use anyhow::Context;
use bamf_domain::tunnel::DialCommand;
use bamf_events::commands::{agent_command_subject, Commands};
use bamf_runtime::health::{self, Readiness};
use bamf_runtime::Shutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{info, warn};

/// Runs bamf-agent with its health endpoint on `health` until `shutdown` is
/// triggered (or the agent is deleted), then drains within the grace period.
pub async fn run(
    config: AgentConfig,
    health: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let addr = health
        .local_addr()
        .context("listener has no local address")?;
    let readiness = Readiness::new();
    let mut server = shutdown.spawn(health::serve(
        health,
        health::routes(readiness.clone()),
        shutdown.clone(),
    ));
    info!(health = %addr, "bamf-agent listening");

    let outcome = tokio::select! {
        biased;
        _ = shutdown.triggered() => Ok(()),
        outcome = agent(&config, &readiness, &shutdown) => outcome,
        served = health::until_stopped(&mut server, &shutdown) => served,
    };
    readiness.set(false);
    shutdown.trigger();
    shutdown.drain().await;
    info!("bamf-agent stopped");
    outcome
}

/// Joins (or loads the identity), connects to NATS, and serves until a fatal
/// error; returns `Ok` only if shutdown came first.
async fn agent(
    config: &AgentConfig,
    readiness: &Readiness,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let api = api::ApiClient::new(&config.platform_url, config.request_timeout)
        .context("cannot set up the API client (key \"platform_url\")")?;
    let identity = enroll::load_or_join(config, &api).await?;
    let agent_id = identity.agent_id.clone();

    let client = tokio::time::timeout(
        config.request_timeout,
        bamf_events::connect(&config.nats_url),
    )
    .await
    .map_err(|_| {
        anyhow::anyhow!(
            "NATS at {} did not answer within {:?}",
            config.nats_url,
            config.request_timeout
        )
    })?
    .with_context(|| {
        format!(
            "cannot connect to NATS at {} (key \"nats_url\")",
            config.nats_url
        )
    })?;
    let subject = agent_command_subject(&agent_id, "dial");
    let inbox: Commands<DialCommand> = Commands::subscribe(&client, subject.clone())
        .await
        .with_context(|| format!("cannot subscribe to {subject}"))?;
    // Once flushed, the server has the subscription: a dial now reaches us.
    tokio::time::timeout(config.request_timeout, client.flush())
        .await
        .map_err(|_| anyhow::anyhow!("NATS flush timed out"))?
        .context("cannot flush the dial subscription")?;

    let dialer = Arc::new(dial::Dialer {
        client: client.clone(),
        agent_id: agent_id.clone(),
        resources: config
            .resources
            .iter()
            .map(|r| (r.name.clone(), r.clone()))
            .collect(),
        sessions: Arc::new(Semaphore::new(config.max_sessions)),
        timeout: config.request_timeout,
        shutdown: shutdown.clone(),
        endpoints: Default::default(),
    });
    shutdown.spawn(dialer.serve(inbox));

    let data_dir = config.data_dir.clone();
    let renewal_api = api.clone();
    // Aborted when dropped (this future is dropped at shutdown), never left running.
    let mut renewal = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
        enroll::renew_forever(&data_dir, &renewal_api, identity).await
    }));

    let js = bamf_events::jetstream::new(client);
    let catalog = heartbeat::advertised(config);
    let mut ticks = tokio::time::interval(config.heartbeat_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.triggered() => return Ok(()),
            fatal = &mut renewal => {
                return Err(fatal.unwrap_or_else(|e| anyhow::anyhow!("renewal task failed: {e}")));
            }
            _ = ticks.tick() => match heartbeat::beat(&js, &agent_id, &catalog, config).await {
                Ok(_) => {
                    if !readiness.is_ready() {
                        info!(agent = %agent_id, resources = catalog.len(), "ready");
                    }
                    readiness.set(true);
                }
                Err(e) => {
                    warn!(error = %e, "heartbeat not stored");
                    readiness.set(false);
                }
            },
        }
    }
}

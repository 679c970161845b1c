//! The bridge's side of the control plane on NATS: heartbeats on
//! `bamf.hb.bridge.<id>` and the `drain` and `kill` commands on
//! `bamf.cmd.bridge.<id>.<command>`. Neither ever blocks relaying: a
//! heartbeat that cannot be published is skipped (the next one replaces it),
//! and commands simply do not arrive while NATS is away.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bamf_domain::tunnel::{BridgeHeartbeat, KillCommand};
use bamf_domain::Timestamp;
use bamf_events::bridge_heartbeat::publish_bridge_heartbeat;
use bamf_events::commands::{self, bridge_command_subject, Commands, Inbound, Refusal, Reply};
use bamf_events::{jetstream, Client};
use bamf_tunnel::CloseCode;

use crate::listener::Shared;

/// What a heartbeat announces besides the load.
#[derive(Debug, Clone)]
pub struct Announce {
    pub address: String,
    pub server_name: String,
    pub interval: Duration,
    pub ttl: Duration,
}

/// Publishes a heartbeat every `interval` until shutdown.
pub async fn heartbeats(js: jetstream::Context, announce: Announce, shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(announce.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shared.shutdown.triggered() => return,
        }
        let (sessions, pending) = {
            let pairings = shared.pairings();
            (pairings.paired(), pairings.pending())
        };
        let heartbeat = BridgeHeartbeat {
            bridge_id: shared.bridge_id.clone(),
            sent_at: Timestamp::new(time::OffsetDateTime::now_utc()),
            address: announce.address.clone(),
            server_name: announce.server_name.clone(),
            sessions: u32::try_from(sessions).unwrap_or(u32::MAX),
            pending: u32::try_from(pending).unwrap_or(u32::MAX),
            draining: shared.draining.load(Ordering::Relaxed),
        };
        let sent = publish_bridge_heartbeat(&js, &heartbeat, announce.ttl);
        match tokio::time::timeout(announce.interval, sent).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::debug!(error = %error, "heartbeat not published"),
            Err(_) => tracing::debug!("heartbeat not acked in time"),
        }
    }
}

/// The command subscriptions, made before the bridge reports ready.
pub struct CommandSubscriptions {
    drain: Commands<serde_json::Value>,
    kill: Commands<KillCommand>,
}

impl CommandSubscriptions {
    /// Subscribes to this bridge's `drain` and `kill` subjects.
    pub async fn subscribe(
        client: &Client,
        shared: &Shared,
    ) -> Result<Self, commands::CommandError> {
        let id = &shared.bridge_id;
        Ok(CommandSubscriptions {
            drain: Commands::subscribe(client, bridge_command_subject(id, "drain")).await?,
            kill: Commands::subscribe(client, bridge_command_subject(id, "kill")).await?,
        })
    }

    /// Answers commands until shutdown.
    pub async fn serve(mut self, client: Client, shared: Arc<Shared>) {
        loop {
            tokio::select! {
                _ = shared.shutdown.triggered() => return,
                Some(inbound) = self.drain.next() => {
                    // `drain` needs no body: whatever was sent (even nothing) is fine.
                    shared.draining.store(true, Ordering::Relaxed);
                    tracing::info!("draining: new sessions are refused");
                    reply(&client, inbound, Reply::Ok(())).await;
                }
                Some(inbound) = self.kill.next() => {
                    let answer = match &inbound.command {
                        Err(reason) => Reply::Error(Refusal {
                            code: "bad_command".into(),
                            message: format!("kill command is not valid: {reason}"),
                        }),
                        Ok(kill) if shared.kill(kill.session_id.as_str(), CloseCode::Killed) => {
                            tracing::info!(session = %kill.session_id, "session killed");
                            Reply::Ok(())
                        }
                        Ok(kill) => Reply::Error(Refusal {
                            code: "unknown_session".into(),
                            message: format!("no session {} on this bridge", kill.session_id),
                        }),
                    };
                    reply(&client, inbound, answer).await;
                }
                else => return,
            }
        }
    }
}

async fn reply<Q>(client: &Client, inbound: Inbound<Q>, answer: Reply<()>) {
    if let Some(reply_to) = inbound.reply_to {
        if let Err(error) = commands::answer(client, reply_to, &answer).await {
            tracing::debug!(error = %error, subject = %inbound.subject, "cannot answer command");
        }
    }
}

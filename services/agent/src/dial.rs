//! The `dial` command on `bamf.cmd.agent.<id>.dial` (ARCHITECTURE §4 step 2):
//! a resource not in this agent's configuration is refused
//! (`unknown_resource`); otherwise the agent makes a fresh key, answers with
//! its CSR *as a request* to the API's reply subject, receives the signed
//! session certificate (`DialCert`) and hands over to `session.rs`, which
//! connects to the bridge.
//!
//! Auditing a refusal is the API's job (it sees the typed refusal as the
//! answer to its request); the agent logs it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bamf_domain::tunnel::{DialCert, DialCommand, DialCsr};
use bamf_domain::AggregateId;
use bamf_events::commands::{self, Commands, Refusal, Reply};
use bamf_events::Client;
use bamf_runtime::Shutdown;
use tokio::sync::Semaphore;
use tracing::{info, warn, Instrument};

use crate::config::ResourceConfig;
use crate::session::{self, SessionTarget};

/// Refusal codes the agent answers with.
pub mod codes {
    /// The command did not decode.
    pub const BAD_COMMAND: &str = "bad_command";
    /// The resource is not in this agent's configuration.
    pub const UNKNOWN_RESOURCE: &str = "unknown_resource";
    /// `max_sessions` sessions are running.
    pub const BUSY: &str = "busy";
    /// The agent could not make its key or CSR.
    pub const INTERNAL: &str = "internal";
}

/// What every dial handler shares.
pub struct Dialer {
    pub client: Client,
    pub agent_id: AggregateId,
    pub resources: BTreeMap<String, ResourceConfig>,
    pub sessions: Arc<Semaphore>,
    pub timeout: Duration,
    pub shutdown: Shutdown,
    /// QUIC endpoints every session connects through.
    pub endpoints: session::Endpoints,
}

impl Dialer {
    /// Answers dial commands until shutdown or the subscription ends.
    pub async fn serve(self: Arc<Self>, mut inbox: Commands<DialCommand>) {
        loop {
            let inbound = tokio::select! {
                biased;
                _ = self.shutdown.triggered() => return,
                inbound = inbox.next() => match inbound {
                    Some(inbound) => inbound,
                    None => {
                        warn!("dial subscription ended");
                        return;
                    }
                },
            };
            let Some(reply_to) = inbound.reply_to.map(|s| s.to_string()) else {
                warn!("dial command without a reply subject ignored");
                continue;
            };
            let dialer = self.clone();
            match inbound.command {
                Err(reason) => {
                    warn!(%reason, "dial command does not decode");
                    dialer.refuse(reply_to, codes::BAD_COMMAND, reason).await;
                }
                Ok(command) => {
                    let span = tracing::info_span!(
                        "dial",
                        session = %command.session_id,
                        resource = %command.resource,
                        bridge = %command.bridge_id,
                    );
                    self.shutdown.spawn(
                        async move { dialer.dial(command, reply_to).await }.instrument(span),
                    );
                }
            }
        }
    }

    async fn refuse(&self, reply_to: String, code: &str, message: String) {
        let refusal = Reply::<DialCsr>::Error(Refusal {
            code: code.into(),
            message,
        });
        if let Err(e) = commands::answer(&self.client, reply_to.into(), &refusal).await {
            warn!(error = %e, "cannot send the refusal");
        }
    }

    async fn dial(self: Arc<Self>, command: DialCommand, reply_to: String) {
        let Some(resource) = self.resources.get(&command.resource).cloned() else {
            warn!(
                code = codes::UNKNOWN_RESOURCE,
                "dial refused: resource is not in this agent's configuration"
            );
            let message = format!(
                "resource {:?} is not configured on agent {}",
                command.resource, self.agent_id
            );
            return self
                .refuse(reply_to, codes::UNKNOWN_RESOURCE, message)
                .await;
        };
        let Ok(permit) = self.sessions.clone().try_acquire_owned() else {
            warn!(code = codes::BUSY, "dial refused: max_sessions reached");
            let message = format!("agent {} is at its session limit", self.agent_id);
            return self.refuse(reply_to, codes::BUSY, message).await;
        };
        let key = match bamf_pki::KeyAndCsr::generate() {
            Ok(key) => key,
            Err(e) => {
                warn!(error = %e, "cannot make a session key");
                return self
                    .refuse(reply_to, codes::INTERNAL, "cannot make a key".into())
                    .await;
            }
        };
        let csr = match key.csr_pem() {
            Ok(csr) => csr,
            Err(e) => {
                warn!(error = %e, "cannot encode the session CSR");
                return self
                    .refuse(reply_to, codes::INTERNAL, "cannot make a CSR".into())
                    .await;
            }
        };
        let signed = commands::request::<_, DialCert>(
            &self.client,
            reply_to,
            &Reply::Ok(DialCsr { csr }),
            Default::default(),
            self.timeout,
        )
        .await;
        let cert = match signed {
            Ok(answered) => answered.answer,
            Err(e) => {
                warn!(error = %e, "no session certificate for the dial");
                return;
            }
        };
        let target = SessionTarget {
            host: resource.host,
            port: resource.port,
        };
        let outcome = session::run(
            &self.endpoints,
            &command,
            &cert,
            key.private_key_der(),
            target,
            self.timeout,
            &self.shutdown,
        )
        .await;
        match outcome {
            Ok(streams) => info!(streams, "session ended"),
            Err(e) => warn!(error = format!("{e:#}"), "session failed"),
        }
        drop(permit);
    }
}

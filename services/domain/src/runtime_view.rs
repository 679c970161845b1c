//! The runtime projection every API replica keeps in memory: who is logged in,
//! which users, agents and join tokens exist, which tunnel sessions are open.
//!
//! It keeps only live things (closed sessions and revoked logins are dropped),
//! so its size tracks what is happening now, not the length of the log.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::events::{Event, Sha256Hex};
use crate::{AggregateId, Envelope, Projection};

/// A user as the runtime needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub email: String,
    pub disabled: bool,
}

/// A join token's remaining budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinTokenView {
    pub digest: Sha256Hex,
    pub max_uses: u32,
    pub uses: u32,
    pub revoked: bool,
}

/// Where a tunnel session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionState {
    Requested,
    Granted,
    Connected,
}

/// An open tunnel session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    pub user_id: AggregateId,
    pub resource: String,
    pub state: SessionState,
}

/// The runtime state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeView {
    pub users: BTreeMap<AggregateId, UserView>,
    /// Active login tokens (by digest) → user.
    pub logins: BTreeMap<Sha256Hex, AggregateId>,
    pub agents: BTreeMap<AggregateId, String>,
    pub join_tokens: BTreeMap<AggregateId, JoinTokenView>,
    pub sessions: BTreeMap<AggregateId, SessionView>,
    /// Totals, for metrics.
    pub events: u64,
    pub sessions_closed: u64,
    pub sessions_denied: u64,
    pub bytes_relayed: u64,
    pub certs_issued: u64,
}

impl Projection for RuntimeView {
    const NAME: &'static str = "runtime";

    fn apply(&mut self, _seq: u64, envelope: &Envelope) {
        self.events += 1;
        let id = &envelope.aggregate_id;
        match &envelope.event {
            Event::UserCreated(e) => {
                self.users.insert(
                    id.clone(),
                    UserView {
                        email: e.email.clone(),
                        disabled: false,
                    },
                );
            }
            Event::UserUpdated(e) => {
                if let (Some(u), Some(email)) = (self.users.get_mut(id), &e.email) {
                    u.email = email.clone();
                }
            }
            Event::UserDisabled(_) => {
                if let Some(u) = self.users.get_mut(id) {
                    u.disabled = true;
                }
                self.logins.retain(|_, user| user != id);
            }
            Event::UserDeleted(_) => {
                self.users.remove(id);
                self.logins.retain(|_, user| user != id);
            }
            Event::LoginSucceeded(e) => {
                self.logins
                    .insert(e.token_digest.clone(), e.user_id.clone());
            }
            Event::LoginRevoked(e) => {
                self.logins.remove(&e.token_digest);
            }
            Event::JoinTokenCreated(e) => {
                self.join_tokens.insert(
                    id.clone(),
                    JoinTokenView {
                        digest: e.token_digest.clone(),
                        max_uses: e.max_uses,
                        uses: 0,
                        revoked: false,
                    },
                );
            }
            Event::JoinTokenUsed(_) => {
                if let Some(t) = self.join_tokens.get_mut(id) {
                    t.uses += 1;
                }
            }
            Event::JoinTokenRevoked(_) => {
                if let Some(t) = self.join_tokens.get_mut(id) {
                    t.revoked = true;
                }
            }
            Event::AgentJoined(e) => {
                self.agents.insert(id.clone(), e.name.clone());
            }
            Event::AgentDeleted(_) => {
                self.agents.remove(id);
            }
            Event::SessionRequested(e) => {
                self.sessions.insert(
                    id.clone(),
                    SessionView {
                        user_id: e.user_id.clone(),
                        resource: e.resource.clone(),
                        state: SessionState::Requested,
                    },
                );
            }
            Event::SessionGranted(_) => self.set_session_state(id, SessionState::Granted),
            Event::SessionConnected(_) => self.set_session_state(id, SessionState::Connected),
            Event::SessionDenied(_) => {
                self.sessions.remove(id);
                self.sessions_denied += 1;
            }
            Event::SessionClosed(e) => {
                self.sessions.remove(id);
                self.sessions_closed += 1;
                self.bytes_relayed += e.bytes_up + e.bytes_down;
            }
            Event::CertIssued(_) => self.certs_issued += 1,
            // Audit-only records never reach BAMF_EVENTS.
            Event::LoginFailed(_)
            | Event::AccessDenied(_)
            | Event::PasswordChanged(_)
            | Event::SessionKilled(_)
            | Event::AuditSealed(_) => {}
            Event::RoleCreated(_)
            | Event::RoleUpdated(_)
            | Event::RoleDeleted(_)
            | Event::RoleBindingCreated(_)
            | Event::RoleBindingDeleted(_) => {}
        }
    }
}

impl RuntimeView {
    fn set_session_state(&mut self, id: &AggregateId, state: SessionState) {
        if let Some(s) = self.sessions.get_mut(id) {
            s.state = state;
        }
    }
}

//! Join tokens: create, use, revoke. Aggregate `join_token`, id = ULID.
//!
//! A use is decided over the token's own events only, and appended (with the
//! `agent.joined` it produces) guarded by the token aggregate's last sequence:
//! a replica that loses the race reloads and decides again, so a single-use
//! token admits exactly one agent and an N-use token exactly N.

use serde::{Deserialize, Serialize};

use super::decider::{Decider, Emitted};
use super::labels::{
    validate_label_key, validate_label_value, validate_resource_name, SyntaxError,
};
use crate::events::{
    AgentJoined, Event, JoinTokenCreated, JoinTokenRevoked, JoinTokenUsed, Label, Sha256Hex,
};
use crate::{AggregateId, Timestamp};

/// Most joins one token may allow.
pub const MAX_USES: u32 = 10_000;
/// Most labels a token may carry.
pub const MAX_TOKEN_LABELS: usize = 64;

/// A join token's state, folded from its own events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinToken {
    #[default]
    Absent,
    Live {
        name: String,
        digest: Sha256Hex,
        max_uses: u32,
        uses: u32,
        expires_at: Timestamp,
        labels: Vec<Label>,
        revoked: bool,
    },
}

/// A command on one join token (the aggregate id is the token's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinTokenCommand {
    /// The value was generated and shown once by the API; only its digest is here.
    Create {
        token_id: AggregateId,
        name: String,
        digest: Sha256Hex,
        max_uses: u32,
        expires_at: Timestamp,
        labels: Vec<Label>,
        now: Timestamp,
    },
    /// An agent presents the token (the API found the token id by digest).
    Use {
        token_id: AggregateId,
        presented: Sha256Hex,
        agent_id: AggregateId,
        agent_name: String,
        now: Timestamp,
    },
    Revoke {
        token_id: AggregateId,
        reason: String,
    },
}

/// Why a join-token command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinTokenRejection {
    #[error("join token already exists")]
    TokenExists,
    #[error("invalid token name {name:?}: {source}")]
    InvalidName {
        name: String,
        #[source]
        source: SyntaxError,
    },
    #[error("invalid label {key:?}={value:?}: {source}")]
    InvalidLabel {
        key: String,
        value: String,
        #[source]
        source: SyntaxError,
    },
    #[error("{0} labels (at most {MAX_TOKEN_LABELS})")]
    TooManyLabels(usize),
    #[error("max uses must be between 1 and {MAX_USES}, not {0}")]
    InvalidMaxUses(u32),
    #[error("expiry {expires_at} is not after now")]
    ExpiryInPast { expires_at: Timestamp },
    #[error("unknown join token")]
    Unknown,
    /// The presented value's digest is not this token's (the API reports it as unknown).
    #[error("join token does not match")]
    DigestMismatch,
    #[error("join token expired at {at}")]
    Expired { at: Timestamp },
    #[error("join token was revoked")]
    Revoked,
    #[error("join token has been used {uses} of {max_uses} times")]
    Exhausted { uses: u32, max_uses: u32 },
    #[error("invalid agent name {name:?}: {source}")]
    InvalidAgentName {
        name: String,
        #[source]
        source: SyntaxError,
    },
    #[error("invalid reason: too long or holds control characters")]
    InvalidReason,
}

/// The join-token decider.
pub struct JoinTokenDecider;

impl Decider for JoinTokenDecider {
    type State = JoinToken;
    type Command = JoinTokenCommand;
    type Rejection = JoinTokenRejection;

    fn decide(
        token: &JoinToken,
        command: &JoinTokenCommand,
    ) -> Result<Vec<Emitted>, JoinTokenRejection> {
        match command {
            JoinTokenCommand::Create {
                token_id,
                name,
                digest,
                max_uses,
                expires_at,
                labels,
                now,
            } => {
                if *token != JoinToken::Absent {
                    return Err(JoinTokenRejection::TokenExists);
                }
                validate_resource_name(name).map_err(|source| JoinTokenRejection::InvalidName {
                    name: name.clone(),
                    source,
                })?;
                if !(1..=MAX_USES).contains(max_uses) {
                    return Err(JoinTokenRejection::InvalidMaxUses(*max_uses));
                }
                if expires_at <= now {
                    return Err(JoinTokenRejection::ExpiryInPast {
                        expires_at: *expires_at,
                    });
                }
                if labels.len() > MAX_TOKEN_LABELS {
                    return Err(JoinTokenRejection::TooManyLabels(labels.len()));
                }
                for l in labels {
                    validate_label_key(&l.key)
                        .and_then(|()| validate_label_value(&l.value))
                        .map_err(|source| JoinTokenRejection::InvalidLabel {
                            key: l.key.clone(),
                            value: l.value.clone(),
                            source,
                        })?;
                }
                let event = Event::JoinTokenCreated(JoinTokenCreated {
                    name: name.clone(),
                    token_digest: digest.clone(),
                    max_uses: *max_uses,
                    expires_at: *expires_at,
                    labels: labels.clone(),
                });
                Ok(vec![Emitted::new(token_id.clone(), event)])
            }
            JoinTokenCommand::Use {
                token_id,
                presented,
                agent_id,
                agent_name,
                now,
            } => {
                let JoinToken::Live {
                    digest,
                    max_uses,
                    uses,
                    expires_at,
                    labels,
                    revoked,
                    ..
                } = token
                else {
                    return Err(JoinTokenRejection::Unknown);
                };
                if !digest.same_as(presented) {
                    return Err(JoinTokenRejection::DigestMismatch);
                }
                if *revoked {
                    return Err(JoinTokenRejection::Revoked);
                }
                if now >= expires_at {
                    return Err(JoinTokenRejection::Expired { at: *expires_at });
                }
                if uses >= max_uses {
                    return Err(JoinTokenRejection::Exhausted {
                        uses: *uses,
                        max_uses: *max_uses,
                    });
                }
                validate_resource_name(agent_name).map_err(|source| {
                    JoinTokenRejection::InvalidAgentName {
                        name: agent_name.clone(),
                        source,
                    }
                })?;
                let used = Event::JoinTokenUsed(JoinTokenUsed {
                    agent_id: agent_id.clone(),
                    use_number: uses + 1,
                });
                // The agent's labels are the token's: set by an admin, not by the agent.
                let joined = Event::AgentJoined(AgentJoined {
                    name: agent_name.clone(),
                    join_token_id: token_id.clone(),
                    labels: labels.clone(),
                });
                Ok(vec![
                    Emitted::new(token_id.clone(), used),
                    Emitted::new(agent_id.clone(), joined),
                ])
            }
            JoinTokenCommand::Revoke { token_id, reason } => {
                let JoinToken::Live { revoked, .. } = token else {
                    return Err(JoinTokenRejection::Unknown);
                };
                if *revoked {
                    return Err(JoinTokenRejection::Revoked);
                }
                let reason = reason.trim();
                if reason.chars().count() > 256
                    || reason.chars().any(super::identity::is_hostile_char)
                {
                    return Err(JoinTokenRejection::InvalidReason);
                }
                let event = Event::JoinTokenRevoked(JoinTokenRevoked {
                    reason: reason.to_string(),
                });
                Ok(vec![Emitted::new(token_id.clone(), event)])
            }
        }
    }

    /// Only the token's own events change it; `agent.joined` (another
    /// aggregate, appended in the same batch) is ignored.
    fn evolve(token: &mut JoinToken, _id: &AggregateId, event: &Event) {
        match event {
            Event::JoinTokenCreated(e) => {
                *token = JoinToken::Live {
                    name: e.name.clone(),
                    digest: e.token_digest.clone(),
                    max_uses: e.max_uses,
                    uses: 0,
                    expires_at: e.expires_at,
                    labels: e.labels.clone(),
                    revoked: false,
                };
            }
            Event::JoinTokenUsed(e) => {
                if let JoinToken::Live { uses, .. } = token {
                    *uses = (*uses).max(e.use_number);
                }
            }
            Event::JoinTokenRevoked(_) => {
                if let JoinToken::Live { revoked, .. } = token {
                    *revoked = true;
                }
            }
            _ => {}
        }
    }
}

//! Join tokens (aggregate `join_token`, id = lowercase ULID) and agents
//! (aggregate `agent`, id = lowercase ULID). Join tokens appear only as digests.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Label, Sha256Hex};
use crate::{AggregateId, Timestamp};

/// A join token was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinTokenCreated {
    pub name: String,
    pub token_digest: Sha256Hex,
    /// How many joins it allows (1 = single use).
    pub max_uses: u32,
    pub expires_at: Timestamp,
    /// Labels given to agents that join with it.
    pub labels: Vec<Label>,
}

/// A join token was consumed by an agent (an optimistic-concurrency append, so
/// it can't be double-spent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinTokenUsed {
    pub agent_id: AggregateId,
    /// 1 for the first use.
    pub use_number: u32,
}

/// A join token was revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinTokenRevoked {
    pub reason: String,
}

/// An agent joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentJoined {
    pub name: String,
    pub join_token_id: AggregateId,
    pub labels: Vec<Label>,
}

/// An agent was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentDeleted {}

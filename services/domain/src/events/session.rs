//! Tunnel sessions (aggregate `session`, id = lowercase ULID) and certificate
//! issuance records (aggregate `cert`, id = serial in lowercase hex).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{AggregateId, Timestamp};

/// A user asked to connect to a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequested {
    pub user_id: AggregateId,
    pub resource: String,
    pub resource_type: String,
}

/// RBAC allowed the session; a bridge and an agent were chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionGranted {
    pub bridge_id: AggregateId,
    pub agent_id: AggregateId,
    /// Roles that allowed it.
    pub roles: Vec<String>,
    pub expires_at: Timestamp,
}

/// RBAC denied the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionDenied {
    pub reason: String,
}

/// Both sides reached the bridge and were paired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionConnected {
    pub bridge_id: AggregateId,
}

/// The session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionClosed {
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub reason: String,
}

/// Kind of certificate issued (ARCHITECTURE §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertKind {
    SessionClient,
    SessionAgent,
    Agent,
    Bridge,
}

/// A certificate was signed by the CA (never the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertIssued {
    /// Serial number, lowercase hex (also the aggregate id).
    pub serial: String,
    pub kind: CertKind,
    /// Subject common name.
    pub subject: String,
    /// Subject alternative names, e.g. `bamf://session/<id>`, DNS names.
    pub sans: Vec<String>,
    pub not_after: Timestamp,
    /// Who asked: a user id, agent id or bridge id, with its kind.
    pub requester: String,
}

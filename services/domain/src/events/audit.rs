//! Audit-only records (ARCHITECTURE §2, stream `BAMF_AUDIT`): things a SIEM
//! must see that change no state — failed logins, refused requests, password
//! changes. They use the same envelope as domain events but are published on
//! `bamf.audit.<category>.<action>` (never `BAMF_EVENTS`), so no projection
//! folds them; see [`super::Event::is_audit_only`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A login attempt failed (subject: a fresh id per attempt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginFailed {
    /// The e-mail that was presented (normalised when it parses, else as typed,
    /// cut to 254 characters).
    pub email: String,
    /// Identity provider, e.g. `local`.
    pub provider: String,
    /// `unknown_user`, `wrong_password`, `user_disabled` or `throttled`.
    pub reason: String,
}

/// A request was refused by RBAC or authentication (subject: a fresh id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessDenied {
    /// What was attempted, e.g. `users.create`, `agents.renew`.
    pub action: String,
    /// What it was attempted on (a user id, role name, resource…), may be empty.
    pub target: String,
    /// The rule or check that decided, e.g. `needs the admin role`.
    pub reason: String,
}

/// An administrator killed an open tunnel session, and its bridge closed
/// it (subject: the session; actor: the administrator). The bridge's own
/// `session.closed` follows in `BAMF_EVENTS` with reason `killed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionKilled {
    /// The bridge that closed the session.
    pub bridge_id: crate::AggregateId,
}

/// A user's password was set or changed (never the hash; subject: the user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChanged {}

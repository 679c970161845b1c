//! Login sessions (aggregate `login`, id = lowercase ULID). The opaque token is
//! only ever recorded as its SHA-256 digest.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::Sha256Hex;
use crate::{AggregateId, Timestamp};

/// A user logged in and was given an opaque token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginSucceeded {
    pub user_id: AggregateId,
    /// Lowercase, trimmed e-mail of the user (revoke-all is by e-mail).
    pub email: String,
    /// Identity provider, e.g. `local`; with `email` it keys role bindings.
    pub provider: String,
    pub token_digest: Sha256Hex,
    /// How the user authenticated, e.g. `password`, `sso`.
    pub method: String,
    pub expires_at: Timestamp,
}

/// A login session was revoked (logout, admin revoke, user disabled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRevoked {
    pub token_digest: Sha256Hex,
    pub reason: String,
}

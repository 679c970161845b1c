//! Users (aggregate `user`, id = lowercase ULID). Password hashes are not here:
//! they go to `bamf.cred.>` (stream BAMF_CREDENTIALS).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A user was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreated {
    pub email: String,
    pub display_name: String,
    /// Built-in or custom role names bound at creation.
    pub roles: Vec<String>,
}

/// A user's profile changed; absent fields are unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdated {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// A user may no longer log in; existing logins are revoked by the projection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserDisabled {
    pub reason: String,
}

/// A user was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserDeleted {}

//! Roles (aggregate `role`, id = role name token) and role bindings
//! (aggregate `role_binding`, id = SHA-256 hex of `provider \n email \n role`,
//! so one binding is one aggregate and a duplicate is an optimistic-concurrency
//! conflict). Bindings are keyed by (identity provider, e-mail) so SSO users
//! can hold roles before their first login.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::Label;

/// What a role allows or denies: resources by name or label, Kubernetes groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRules {
    #[serde(default)]
    pub resource_names: Vec<String>,
    #[serde(default)]
    pub labels: Vec<Label>,
    #[serde(default)]
    pub kubernetes_groups: Vec<String>,
}

/// A custom role was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleCreated {
    pub name: String,
    pub description: String,
    pub allow: RoleRules,
    pub deny: RoleRules,
}

/// A role's rules changed (the whole new definition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleUpdated {
    pub description: String,
    pub allow: RoleRules,
    pub deny: RoleRules,
}

/// A role was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleDeleted {}

/// A role was bound to a user, identified by provider and normalised e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBindingCreated {
    /// Identity provider, e.g. `local` (password users) or an SSO provider name.
    pub provider: String,
    /// Lowercase, trimmed e-mail.
    pub email: String,
    pub role: String,
}

/// A role binding was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBindingDeleted {
    pub provider: String,
    pub email: String,
    pub role: String,
}

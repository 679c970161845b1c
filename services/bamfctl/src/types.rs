//! The objects of docs/api.md as bamfctl reads them for tables. Lenient on
//! purpose: unknown fields are ignored and optional ones default, so a newer
//! server does not break an older client. `--json` bypasses these entirely.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// `user`: `{id, email, display_name, roles, disabled, created_at?}`.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub created_at: Option<String>,
}

/// `POST /auth/local/login` → `{token, expires_at, user}`.
#[derive(Debug, Clone, Deserialize)]
pub struct LoginAnswer {
    pub token: String,
    pub expires_at: String,
    pub user: User,
}

/// `GET /auth/whoami` → `{user, login_id, expires_at}`.
#[derive(Debug, Clone, Deserialize)]
pub struct WhoAmI {
    pub user: User,
    #[serde(default)]
    pub login_id: Option<String>,
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// A login session: `{id, user_id, email, provider, expires_at, current}`.
#[derive(Debug, Clone, Deserialize)]
pub struct LoginSession {
    pub id: String,
    #[serde(default)]
    pub user_id: Option<String>,
    pub email: String,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub current: bool,
}

/// A role: `{name, description, built_in, allow, deny}`; the rules are kept as
/// JSON so `roles get` can print them back as a role document.
#[derive(Debug, Clone, Deserialize)]
pub struct Role {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub built_in: bool,
}

/// A role binding: `{provider, email, role}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Binding {
    #[serde(default)]
    pub provider: Option<String>,
    pub email: String,
    pub role: String,
}

/// A join token: `{id, name, expires_at, max_uses, uses, labels, revoked}`;
/// `token` only in the answer to its creation.
#[derive(Debug, Clone, Deserialize)]
pub struct JoinToken {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub max_uses: Option<u64>,
    #[serde(default)]
    pub uses: u64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub revoked: bool,
    #[serde(default)]
    pub token: Option<String>,
}

/// An agent: `{id, name, labels, online, last_heartbeat?, resources}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Agent {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub online: bool,
    #[serde(default)]
    pub last_heartbeat: Option<String>,
    /// The resource count (a list is counted too, should a server send one).
    #[serde(default)]
    pub resources: Value,
}

impl Agent {
    pub fn resource_count(&self) -> String {
        match &self.resources {
            Value::Number(n) => n.to_string(),
            Value::Array(a) => a.len().to_string(),
            _ => String::new(),
        }
    }
}

/// A resource: `{name, type, labels, agent_id, agent_name}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Resource {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub agent_name: Option<String>,
}

/// The array under `key` of a listing answer (`{"users": [...]}`); a missing
/// key or a non-array is an answer outside the contract.
pub fn list_field(answer: &Value, key: &str) -> Result<Vec<Value>> {
    answer
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .with_context(|| format!("the server's answer has no {key:?} list"))
}

/// Deserializes one object, naming what it was meant to be.
pub fn parse<T: DeserializeOwned>(value: &Value, what: &str) -> Result<T> {
    T::deserialize(value).with_context(|| format!("the server's answer is not a valid {what}"))
}

/// Deserializes every element of a list.
pub fn parse_all<T: DeserializeOwned>(values: &[Value], what: &str) -> Result<Vec<T>> {
    values.iter().map(|v| parse(v, what)).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_fields_are_ignored_and_optional_ones_default() {
        let u: User = parse(
            &json!({"id": "u1", "email": "a@x", "roles": ["admin"], "disabled": false, "mfa": true}),
            "user",
        )
        .unwrap();
        assert_eq!(u.roles, ["admin"]);
        assert_eq!(u.display_name, None);
        let a: Agent = parse(&json!({"id": "a", "name": "n", "resources": 3}), "agent").unwrap();
        assert_eq!(a.resource_count(), "3");
        let r: Resource = parse(
            &json!({"name": "db", "type": "postgres", "labels": {"env": "dev"}}),
            "resource",
        )
        .unwrap();
        assert_eq!(r.kind, "postgres");
    }

    #[test]
    fn a_listing_without_its_list_is_an_error() {
        assert_eq!(
            list_field(&json!({"users": [1, 2]}), "users")
                .unwrap()
                .len(),
            2
        );
        assert!(list_field(&json!({"items": []}), "users").is_err());
        assert!(list_field(&json!({"users": {}}), "users").is_err());
    }
}

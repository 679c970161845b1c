//! The role document `bamfctl roles` reads from YAML or JSON, and its
//! validation into the event form ([`RoleRules`]):
//!
//! ```yaml
//! name: dba
//! description: database admins
//! allow:
//!   labels: {env: [dev, staging], team: "*"}
//!   names: [orders-db, "web-*"]
//!   kubernetes_groups: [viewers]
//! deny:
//!   labels: {env: prod}
//! ```
//!
//! Unknown fields are refused at parse time; everything else gets a specific error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::labels::{
    validate_label_key, validate_label_value, validate_name_pattern, SyntaxError, WILDCARD,
};
use super::roles::{validate_role_name, RoleNameError};
use crate::events::{Label, RoleRules};

/// Most name patterns, label keys, values per key or Kubernetes groups in one rule set.
pub const MAX_RULE_ENTRIES: usize = 64;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 256;

/// A role as written by an administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleDocument {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub allow: RuleDocument,
    #[serde(default)]
    pub deny: RuleDocument,
}

/// One side (allow or deny) of a role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleDocument {
    /// Label selector: every key must match; a key matches one of its values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, LabelValues>,
    /// Resource names, exact or glob (`web-*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kubernetes_groups: Vec<String>,
}

/// `env: prod` or `env: [dev, staging]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum LabelValues {
    One(String),
    Many(Vec<String>),
}

impl LabelValues {
    fn as_slice(&self) -> &[String] {
        match self {
            LabelValues::One(v) => std::slice::from_ref(v),
            LabelValues::Many(v) => v,
        }
    }
}

/// Which side of a role an error is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Allow,
    Deny,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Allow => "allow",
            Side::Deny => "deny",
        })
    }
}

/// Why a role document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleDocError {
    #[error("role name {name:?} {source}")]
    InvalidName {
        name: String,
        #[source]
        source: RoleNameError,
    },
    #[error(
        "description is longer than {MAX_DESCRIPTION_CHARS} characters or holds control characters"
    )]
    InvalidDescription,
    #[error("in {side}: {source}")]
    Rules {
        side: Side,
        #[source]
        source: RuleError,
    },
}

/// Why one side of a role was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("label key {key:?} {source}")]
    InvalidLabelKey {
        key: String,
        #[source]
        source: SyntaxError,
    },
    #[error("label {key:?} value {value:?} {source}")]
    InvalidLabelValue {
        key: String,
        value: String,
        #[source]
        source: SyntaxError,
    },
    #[error("label {key:?} has no values")]
    EmptyLabelValues { key: String },
    #[error("the wildcard label key '*' only takes the value '*'")]
    WildcardKey,
    #[error("name pattern {pattern:?} {source}")]
    InvalidNamePattern {
        pattern: String,
        #[source]
        source: SyntaxError,
    },
    #[error("kubernetes group {group:?} is invalid: {reason}")]
    InvalidKubernetesGroup { group: String, reason: &'static str },
    #[error("{count} {what} (at most {MAX_RULE_ENTRIES})")]
    TooMany { what: &'static str, count: usize },
}

/// A validated role, ready for a `role.created` / `role.updated` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRole {
    pub name: String,
    pub description: String,
    pub allow: RoleRules,
    pub deny: RoleRules,
}

impl RoleDocument {
    /// Checks every part and converts to the event form (labels flattened to
    /// sorted `key=value` pairs, duplicates dropped).
    pub fn validate(&self) -> Result<ValidRole, RoleDocError> {
        validate_role_name(&self.name).map_err(|source| RoleDocError::InvalidName {
            name: self.name.clone(),
            source,
        })?;
        let description = self.description.trim();
        if description.chars().count() > MAX_DESCRIPTION_CHARS
            || description.chars().any(super::identity::is_hostile_char)
        {
            return Err(RoleDocError::InvalidDescription);
        }
        let side = |side, doc: &RuleDocument| {
            doc.to_rules()
                .map_err(|source| RoleDocError::Rules { side, source })
        };
        Ok(ValidRole {
            name: self.name.clone(),
            description: description.to_string(),
            allow: side(Side::Allow, &self.allow)?,
            deny: side(Side::Deny, &self.deny)?,
        })
    }

    /// The document form of a stored role (for `bamfctl roles get`).
    pub fn from_rules(name: &str, description: &str, allow: &RoleRules, deny: &RoleRules) -> Self {
        RoleDocument {
            name: name.to_string(),
            description: description.to_string(),
            allow: RuleDocument::from_rules(allow),
            deny: RuleDocument::from_rules(deny),
        }
    }
}

impl RuleDocument {
    /// Validates and converts one side.
    pub fn to_rules(&self) -> Result<RoleRules, RuleError> {
        let too_many = |what, count| {
            if count > MAX_RULE_ENTRIES {
                Err(RuleError::TooMany { what, count })
            } else {
                Ok(())
            }
        };
        too_many("label keys", self.labels.len())?;
        too_many("name patterns", self.names.len())?;
        too_many("kubernetes groups", self.kubernetes_groups.len())?;
        let mut labels = Vec::new();
        for (key, values) in &self.labels {
            let values = values.as_slice();
            too_many("label values", values.len())?;
            if values.is_empty() {
                return Err(RuleError::EmptyLabelValues { key: key.clone() });
            }
            if key == WILDCARD {
                if values.iter().any(|v| v != WILDCARD) {
                    return Err(RuleError::WildcardKey);
                }
            } else {
                validate_label_key(key).map_err(|source| RuleError::InvalidLabelKey {
                    key: key.clone(),
                    source,
                })?;
            }
            for value in values {
                if value != WILDCARD {
                    validate_label_value(value).map_err(|source| RuleError::InvalidLabelValue {
                        key: key.clone(),
                        value: value.clone(),
                        source,
                    })?;
                }
                let label = Label {
                    key: key.clone(),
                    value: value.clone(),
                };
                if !labels.contains(&label) {
                    labels.push(label);
                }
            }
        }
        let mut resource_names = Vec::new();
        for pattern in &self.names {
            validate_name_pattern(pattern).map_err(|source| RuleError::InvalidNamePattern {
                pattern: pattern.clone(),
                source,
            })?;
            if !resource_names.contains(pattern) {
                resource_names.push(pattern.clone());
            }
        }
        let mut kubernetes_groups = Vec::new();
        for group in &self.kubernetes_groups {
            check_kubernetes_group(group)?;
            if !kubernetes_groups.contains(group) {
                kubernetes_groups.push(group.clone());
            }
        }
        Ok(RoleRules {
            resource_names,
            labels,
            kubernetes_groups,
        })
    }

    /// The document form of stored rules.
    pub fn from_rules(rules: &RoleRules) -> Self {
        let mut labels: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for l in &rules.labels {
            labels
                .entry(l.key.clone())
                .or_default()
                .push(l.value.clone());
        }
        RuleDocument {
            labels: labels
                .into_iter()
                .map(|(k, mut v)| {
                    let one = if v.len() == 1 { v.pop() } else { None };
                    (k, one.map_or(LabelValues::Many(v), LabelValues::One))
                })
                .collect(),
            names: rules.resource_names.clone(),
            kubernetes_groups: rules.kubernetes_groups.clone(),
        }
    }
}

/// Kubernetes group names (`system:masters`, `oidc:devs`): 1–253 bytes of
/// letters, digits and `:._@/-`.
fn check_kubernetes_group(group: &str) -> Result<(), RuleError> {
    let reason = if group.is_empty() {
        Some("empty")
    } else if group.len() > 253 {
        Some("longer than 253 bytes")
    } else if !group
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b":._@/-".contains(&b))
    {
        Some("only letters, digits and ':._@/-' are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(RuleError::InvalidKubernetesGroup {
            group: group.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

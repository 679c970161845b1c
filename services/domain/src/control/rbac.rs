//! RBAC evaluation: which roles let a principal reach a resource, and which
//! admin operations it may perform. Deny always wins: one matching deny rule in
//! any role refuses access, whatever the allow rules and their order.
//!
//! A rule set matches a resource when one of its name patterns matches the
//! name, or when it has a label selector and every selector key matches (the
//! resource has the key with one of the listed values, or `*`). `'*': '*'`
//! matches every resource.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::labels::{glob_matches, WILDCARD};
use super::roles::{Roles, ADMIN, AUDIT, EVERYONE};
use crate::events::RoleRules;

/// Who is asking: an e-mail and the roles bound to it (always with `everyone`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub email: String,
    pub roles: BTreeSet<String>,
}

impl Principal {
    /// A principal with these roles plus `everyone`.
    pub fn new(email: impl Into<String>, roles: impl IntoIterator<Item = String>) -> Self {
        let mut roles: BTreeSet<String> = roles.into_iter().collect();
        roles.insert(EVERYONE.to_string());
        Principal {
            email: email.into(),
            roles,
        }
    }

    /// Holds the built-in `admin` role.
    pub fn is_admin(&self) -> bool {
        self.roles.contains(ADMIN)
    }
}

/// The parts of a resource RBAC looks at.
#[derive(Debug, Clone, Copy)]
pub struct ResourceRef<'a> {
    pub name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
}

/// Which rule of a role matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedRule {
    /// The built-in `admin` role allows everything.
    BuiltIn,
    /// A name pattern, e.g. `web-*`.
    Name(String),
    /// A label selector, e.g. `env=dev|staging, team=*`.
    Labels(String),
}

/// Why access was allowed or refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionReason {
    Allowed { role: String, rule: MatchedRule },
    Denied { role: String, rule: MatchedRule },
    NoRuleAllowed,
}

/// The outcome of [`evaluate`]; every one is worth an audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    pub reason: DecisionReason,
    /// Kubernetes groups to impersonate: from the allowing roles, minus denied ones.
    pub kubernetes_groups: Vec<String>,
}

impl fmt::Display for MatchedRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchedRule::BuiltIn => f.write_str("built-in"),
            MatchedRule::Name(p) => write!(f, "name {p}"),
            MatchedRule::Labels(s) => write!(f, "labels {s}"),
        }
    }
}

impl fmt::Display for DecisionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecisionReason::Allowed { role, rule } => write!(f, "allowed by role {role} ({rule})"),
            DecisionReason::Denied { role, rule } => write!(f, "denied by role {role} ({rule})"),
            DecisionReason::NoRuleAllowed => f.write_str("no rule allowed it"),
        }
    }
}

/// The rules that match, if any: names first, then the label selector.
pub fn rules_match(rules: &RoleRules, resource: ResourceRef<'_>) -> Option<MatchedRule> {
    if let Some(p) = rules
        .resource_names
        .iter()
        .find(|p| glob_matches(p, resource.name))
    {
        return Some(MatchedRule::Name(p.clone()));
    }
    if rules.labels.is_empty() {
        return None;
    }
    let mut selector: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for l in &rules.labels {
        selector.entry(&l.key).or_default().push(&l.value);
    }
    let all = selector.iter().all(|(key, values)| {
        if *key == WILDCARD {
            return true;
        }
        resource
            .labels
            .get(*key)
            .is_some_and(|v| values.iter().any(|want| *want == WILDCARD || want == v))
    });
    all.then(|| {
        let text: Vec<String> = selector
            .iter()
            .map(|(k, v)| format!("{k}={}", v.join("|")))
            .collect();
        MatchedRule::Labels(text.join(", "))
    })
}

/// The rules of one of the principal's roles; `None` for undefined roles.
fn definition<'r>(roles: &'r Roles, name: &str) -> Option<(&'r RoleRules, &'r RoleRules)> {
    roles.defs.get(name).map(|d| (&d.allow, &d.deny))
}

/// Decides whether `principal` may connect to `resource`. Roles are visited in
/// name order, so the reason is deterministic; the outcome doesn't depend on it.
pub fn evaluate(roles: &Roles, principal: &Principal, resource: ResourceRef<'_>) -> Decision {
    // Deny first: a matching deny in any role wins over every allow.
    let mut denied_groups = BTreeSet::new();
    for name in &principal.roles {
        let Some((_, deny)) = definition(roles, name) else {
            continue;
        };
        denied_groups.extend(deny.kubernetes_groups.iter().cloned());
        if let Some(rule) = rules_match(deny, resource) {
            return Decision {
                allowed: false,
                reason: DecisionReason::Denied {
                    role: name.clone(),
                    rule,
                },
                kubernetes_groups: vec![],
            };
        }
    }
    let mut reason = None;
    let mut groups = BTreeSet::new();
    for name in &principal.roles {
        let matched = if name == ADMIN {
            Some(MatchedRule::BuiltIn)
        } else if name == AUDIT {
            None // read-only: sees everything, connects to nothing
        } else {
            definition(roles, name).and_then(|(allow, _)| {
                let m = rules_match(allow, resource);
                if m.is_some() {
                    groups.extend(allow.kubernetes_groups.iter().cloned());
                }
                m
            })
        };
        if let (None, Some(rule)) = (&reason, matched) {
            reason = Some(DecisionReason::Allowed {
                role: name.clone(),
                rule,
            });
        }
    }
    match reason {
        Some(reason) => Decision {
            allowed: true,
            reason,
            kubernetes_groups: groups.difference(&denied_groups).cloned().collect(),
        },
        None => Decision {
            allowed: false,
            reason: DecisionReason::NoRuleAllowed,
            kubernetes_groups: vec![],
        },
    }
}

/// Whether `principal` may see `resource` in listings: what it may connect to,
/// and for `admin` and `audit` everything not hidden by a deny rule.
///
/// The same answer as [`evaluate`] (a test checks it on generated roles), but
/// a listing asks it once per resource, so it neither allocates nor explains:
/// deny rules first, then `admin`/`audit`, then any allow rule.
pub fn can_view(roles: &Roles, principal: &Principal, resource: ResourceRef<'_>) -> bool {
    let defs = || principal.roles.iter().filter_map(|n| roles.defs.get(n));
    if defs().any(|d| rules_hold(&d.deny, resource)) {
        return false;
    }
    principal.roles.contains(ADMIN)
        || principal.roles.contains(AUDIT)
        || defs().any(|d| rules_hold(&d.allow, resource))
}

/// Whether `rules` match `resource` — [`rules_match`] without building the
/// explanation: any name glob, or every selector key satisfied by one of its
/// values (`*` as a key or value matches anything present).
pub fn rules_hold(rules: &RoleRules, resource: ResourceRef<'_>) -> bool {
    if rules
        .resource_names
        .iter()
        .any(|p| glob_matches(p, resource.name))
    {
        return true;
    }
    if rules.labels.is_empty() {
        return false;
    }
    rules.labels.iter().all(|l| {
        l.key == WILDCARD
            || resource.labels.get(&l.key).is_some_and(|have| {
                rules
                    .labels
                    .iter()
                    .any(|alt| alt.key == l.key && (alt.value == WILDCARD || alt.value == *have))
            })
    })
}

/// What an admin operation does to control-plane state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAccess {
    /// Listing users, roles, tokens, agents, sessions; reading the audit log.
    Read,
    /// Creating, changing, deleting, revoking, killing sessions.
    Write,
}

/// Why an admin operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Forbidden {
    #[error("{email} needs the admin role")]
    NeedsAdmin { email: String },
    #[error("{email} needs the admin or audit role")]
    NeedsAdminOrAudit { email: String },
}

/// `admin` may do anything; `audit` may read; everyone else neither.
pub fn authorize_admin(principal: &Principal, access: AdminAccess) -> Result<(), Forbidden> {
    let email = principal.email.clone();
    match access {
        _ if principal.is_admin() => Ok(()),
        AdminAccess::Read if principal.roles.contains(AUDIT) => Ok(()),
        AdminAccess::Read => Err(Forbidden::NeedsAdminOrAudit { email }),
        AdminAccess::Write => Err(Forbidden::NeedsAdmin { email }),
    }
}

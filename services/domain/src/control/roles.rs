//! Roles: the built-in ones (`admin`, `audit`, `everyone`), role-name syntax,
//! the role store (fold of `role.*` events; aggregate id = role name) and the
//! create / update / delete decisions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::decider::{Decider, Emitted};
use super::role_doc::{RoleDocError, RoleDocument};
use crate::events::{Event, RoleCreated, RoleDeleted, RoleRules, RoleUpdated};
use crate::AggregateId;

/// Full access: every resource, every admin operation.
pub const ADMIN: &str = "admin";
/// Read-only everywhere: every listing and the audit log; connects to nothing.
pub const AUDIT: &str = "audit";
/// Held by every principal; grants what its stored definition (if any) allows.
pub const EVERYONE: &str = "everyone";
/// Longest role name.
pub const MAX_ROLE_NAME: usize = 63;

/// Why a role name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleNameError {
    #[error("is empty")]
    Empty,
    #[error("is {len} bytes long (at most {MAX_ROLE_NAME})")]
    TooLong { len: usize },
    #[error("holds {found:?}; only lowercase a-z, 0-9, '_' and '-' are allowed")]
    InvalidChar { found: char },
    #[error("must start with a letter or digit")]
    BadStart,
}

/// `[a-z0-9][a-z0-9_-]{0,62}`: also a valid subject token (the aggregate id).
pub fn validate_role_name(name: &str) -> Result<(), RoleNameError> {
    if name.is_empty() {
        return Err(RoleNameError::Empty);
    }
    if name.len() > MAX_ROLE_NAME {
        return Err(RoleNameError::TooLong { len: name.len() });
    }
    if let Some(found) = name
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
    {
        return Err(RoleNameError::InvalidChar { found });
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(RoleNameError::BadStart);
    }
    Ok(())
}

/// `admin` and `audit` are defined by bamf and can't be stored or changed.
pub fn is_fixed_builtin(name: &str) -> bool {
    name == ADMIN || name == AUDIT
}

/// A stored role definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDef {
    pub description: String,
    pub allow: RoleRules,
    pub deny: RoleRules,
}

/// Every stored (custom, or customised `everyone`) role by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roles {
    pub defs: BTreeMap<String, RoleDef>,
}

impl Roles {
    /// Whether a role name can be bound: a built-in or a stored role.
    pub fn exists(&self, name: &str) -> bool {
        is_fixed_builtin(name) || name == EVERYONE || self.defs.contains_key(name)
    }

    /// Folds one event in (shared by every decider whose state includes roles).
    pub fn apply(&mut self, id: &AggregateId, event: &Event) {
        match event {
            Event::RoleCreated(e) => {
                let def = RoleDef {
                    description: e.description.clone(),
                    allow: e.allow.clone(),
                    deny: e.deny.clone(),
                };
                self.defs.insert(e.name.clone(), def);
            }
            Event::RoleUpdated(e) => {
                if let Some(def) = self.defs.get_mut(id.as_str()) {
                    def.description = e.description.clone();
                    def.allow = e.allow.clone();
                    def.deny = e.deny.clone();
                }
            }
            Event::RoleDeleted(_) => {
                self.defs.remove(id.as_str());
            }
            _ => {}
        }
    }
}

/// A command on roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleCommand {
    Create(RoleDocument),
    /// Replaces the whole definition.
    Update(RoleDocument),
    Delete {
        name: String,
    },
}

/// Why a role command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleRejection {
    #[error("invalid role: {0}")]
    Invalid(#[from] RoleDocError),
    #[error("role {0:?} is built in and can't be changed")]
    BuiltIn(String),
    #[error("role {0:?} already exists")]
    RoleExists(String),
    #[error("no such role {0:?}")]
    NoSuchRole(String),
}

/// The role decider.
pub struct RoleDecider;

/// The aggregate id of a role: its (validated) name.
fn role_id(name: &str) -> AggregateId {
    // Only called with a validated name (or one already in the store, which was
    // validated when created), and every valid role name is a subject token.
    AggregateId::new(name).expect("a valid role name is a subject token")
}

impl Decider for RoleDecider {
    type State = Roles;
    type Command = RoleCommand;
    type Rejection = RoleRejection;

    fn decide(roles: &Roles, command: &RoleCommand) -> Result<Vec<Emitted>, RoleRejection> {
        match command {
            RoleCommand::Create(doc) => {
                let role = doc.validate()?;
                if is_fixed_builtin(&role.name) {
                    return Err(RoleRejection::BuiltIn(role.name));
                }
                if roles.defs.contains_key(&role.name) {
                    return Err(RoleRejection::RoleExists(role.name));
                }
                let id = role_id(&role.name);
                let event = Event::RoleCreated(RoleCreated {
                    name: role.name,
                    description: role.description,
                    allow: role.allow,
                    deny: role.deny,
                });
                Ok(vec![Emitted::new(id, event)])
            }
            RoleCommand::Update(doc) => {
                let role = doc.validate()?;
                if is_fixed_builtin(&role.name) {
                    return Err(RoleRejection::BuiltIn(role.name));
                }
                let current = roles
                    .defs
                    .get(&role.name)
                    .ok_or_else(|| RoleRejection::NoSuchRole(role.name.clone()))?;
                if current.description == role.description
                    && current.allow == role.allow
                    && current.deny == role.deny
                {
                    return Ok(vec![]);
                }
                let event = Event::RoleUpdated(RoleUpdated {
                    description: role.description,
                    allow: role.allow,
                    deny: role.deny,
                });
                Ok(vec![Emitted::new(role_id(&role.name), event)])
            }
            RoleCommand::Delete { name } => {
                if is_fixed_builtin(name) {
                    return Err(RoleRejection::BuiltIn(name.clone()));
                }
                if !roles.defs.contains_key(name) {
                    return Err(RoleRejection::NoSuchRole(name.clone()));
                }
                Ok(vec![Emitted::new(
                    role_id(name),
                    Event::RoleDeleted(RoleDeleted {}),
                )])
            }
        }
    }

    fn evolve(roles: &mut Roles, id: &AggregateId, event: &Event) {
        roles.apply(id, event);
    }
}

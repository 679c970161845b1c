//! Role assignments keyed by (identity provider, normalised e-mail): the fold
//! of `role_binding.*` events plus the roles given to local users at creation,
//! and the bind / unbind decisions. Resolves a login into a [`Principal`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::decider::{Decider, Emitted};
use super::identity::{normalize_email, EmailError};
use super::rbac::Principal;
use super::roles::{validate_role_name, RoleNameError, Roles};
use crate::events::{Event, RoleBindingCreated, RoleBindingDeleted};
use crate::subject::validate_token;
use crate::AggregateId;

/// The provider of password users created in bamf itself.
pub const LOCAL_PROVIDER: &str = "local";

/// Roles by (provider, e-mail), plus the role store to check names against.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignments {
    pub roles: Roles,
    #[serde(with = "pairs")]
    pub bound: BTreeMap<(String, String), BTreeSet<String>>,
    /// Local users' e-mails by id, to move their bindings when the e-mail changes.
    local_emails: BTreeMap<AggregateId, String>,
}

impl Assignments {
    /// The roles bound to an identity (without the implicit `everyone`).
    pub fn roles_of(&self, provider: &str, email: &str) -> BTreeSet<String> {
        let email = normalize_email(email).unwrap_or_default();
        self.bound
            .get(&(provider.to_string(), email))
            .cloned()
            .unwrap_or_default()
    }

    /// The principal a login acts as: its bound roles plus `everyone`.
    pub fn principal(&self, provider: &str, email: &str) -> Principal {
        Principal::new(email, self.roles_of(provider, email))
    }

    fn key(provider: &str, email: &str) -> (String, String) {
        (provider.to_string(), email.to_string())
    }

    /// Folds one event in.
    pub fn apply(&mut self, id: &AggregateId, event: &Event) {
        self.roles.apply(id, event);
        match event {
            Event::UserCreated(e) => {
                self.local_emails.insert(id.clone(), e.email.clone());
                let set = self
                    .bound
                    .entry(Self::key(LOCAL_PROVIDER, &e.email))
                    .or_default();
                set.extend(e.roles.iter().cloned());
            }
            Event::UserUpdated(e) => {
                let (Some(new), Some(old)) = (&e.email, self.local_emails.get(id).cloned()) else {
                    return;
                };
                if let Some(set) = self.bound.remove(&Self::key(LOCAL_PROVIDER, &old)) {
                    self.bound.insert(Self::key(LOCAL_PROVIDER, new), set);
                }
                self.local_emails.insert(id.clone(), new.clone());
            }
            Event::UserDeleted(_) => {
                if let Some(old) = self.local_emails.remove(id) {
                    self.bound.remove(&Self::key(LOCAL_PROVIDER, &old));
                }
            }
            Event::RoleBindingCreated(e) => {
                self.bound
                    .entry(Self::key(&e.provider, &e.email))
                    .or_default()
                    .insert(e.role.clone());
            }
            Event::RoleBindingDeleted(e) => {
                let key = Self::key(&e.provider, &e.email);
                if let Some(set) = self.bound.get_mut(&key) {
                    set.remove(&e.role);
                    if set.is_empty() {
                        self.bound.remove(&key);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The aggregate id of one binding: SHA-256 hex of `provider \n email \n role`.
pub fn binding_id(provider: &str, email: &str, role: &str) -> AggregateId {
    let digest = Sha256::digest(format!("{provider}\n{email}\n{role}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    // 64 lowercase hex characters are always a valid subject token.
    AggregateId::new(hex).expect("hex digest is a subject token")
}

/// Bind or unbind a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingCommand {
    Bind {
        provider: String,
        email: String,
        role: String,
    },
    Unbind {
        provider: String,
        email: String,
        role: String,
    },
}

/// Why a binding command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingRejection {
    #[error("invalid e-mail: {0}")]
    InvalidEmail(#[from] EmailError),
    #[error("invalid provider {0:?}: lowercase a-z, 0-9, '_' and '-' only")]
    InvalidProvider(String),
    #[error("role name {role:?} {source}")]
    InvalidRole {
        role: String,
        #[source]
        source: RoleNameError,
    },
    #[error("no such role {0:?}")]
    NoSuchRole(String),
    #[error("role {role:?} is already bound to {email}")]
    AlreadyBound { email: String, role: String },
    #[error("role {role:?} is not bound to {email}")]
    NotBound { email: String, role: String },
}

/// The binding decider.
pub struct BindingDecider;

impl Decider for BindingDecider {
    type State = Assignments;
    type Command = BindingCommand;
    type Rejection = BindingRejection;

    fn decide(
        state: &Assignments,
        command: &BindingCommand,
    ) -> Result<Vec<Emitted>, BindingRejection> {
        let (BindingCommand::Bind {
            provider,
            email,
            role,
        }
        | BindingCommand::Unbind {
            provider,
            email,
            role,
        }) = command;
        let email = normalize_email(email)?;
        validate_token(provider)
            .map_err(|_| BindingRejection::InvalidProvider(provider.clone()))?;
        validate_role_name(role).map_err(|source| BindingRejection::InvalidRole {
            role: role.clone(),
            source,
        })?;
        let bound = state
            .bound
            .get(&(provider.clone(), email.clone()))
            .is_some_and(|s| s.contains(role));
        let id = binding_id(provider, &email, role);
        let (provider, role) = (provider.clone(), role.clone());
        match command {
            BindingCommand::Bind { .. } => {
                if !state.roles.exists(&role) {
                    return Err(BindingRejection::NoSuchRole(role));
                }
                if bound {
                    return Err(BindingRejection::AlreadyBound { email, role });
                }
                let event = Event::RoleBindingCreated(RoleBindingCreated {
                    provider,
                    email,
                    role,
                });
                Ok(vec![Emitted::new(id, event)])
            }
            BindingCommand::Unbind { .. } => {
                if !bound {
                    return Err(BindingRejection::NotBound { email, role });
                }
                let event = Event::RoleBindingDeleted(RoleBindingDeleted {
                    provider,
                    email,
                    role,
                });
                Ok(vec![Emitted::new(id, event)])
            }
        }
    }

    fn evolve(state: &mut Assignments, id: &AggregateId, event: &Event) {
        state.apply(id, event);
    }
}

/// (De)serializes a map with tuple keys as a list of `[key, value]` pairs:
/// JSON object keys must be strings, and snapshots and digests are JSON.
mod pairs {
    use std::collections::{BTreeMap, BTreeSet};

    use serde::{Deserialize, Deserializer, Serializer};

    type Bound = BTreeMap<(String, String), BTreeSet<String>>;

    pub fn serialize<S: Serializer>(map: &Bound, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bound, D::Error> {
        let pairs: Vec<((String, String), BTreeSet<String>)> = Vec::deserialize(d)?;
        Ok(pairs.into_iter().collect())
    }
}

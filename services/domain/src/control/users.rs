//! Users: create, update, disable, delete, decided over the user directory (the
//! fold of every `user.*` event). E-mail uniqueness spans all users, so the
//! append is guarded on the `bamf.evt.user.>` filter, not one user's subjects.
//! Password hashes never appear here (they go to `bamf.cred.>`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::decider::{Decider, Emitted};
use super::identity::{normalize_display_name, normalize_email, DisplayNameError, EmailError};
use super::roles::{validate_role_name, RoleNameError};
use crate::events::{Event, UserCreated, UserDeleted, UserDisabled, UserUpdated};
use crate::AggregateId;

/// Longest reason text kept in a `user.disabled` event.
pub const MAX_REASON_CHARS: usize = 256;

/// One user as decisions need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Normalised e-mail.
    pub email: String,
    pub display_name: String,
    pub disabled: bool,
    pub deleted: bool,
}

/// Every user ever created (deleted ones kept as tombstones so an id is never reused).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Users {
    pub by_id: BTreeMap<AggregateId, UserRecord>,
    /// Live (not deleted) users by normalised e-mail.
    pub by_email: BTreeMap<String, AggregateId>,
}

impl Users {
    /// The live user with this e-mail (normalised before the lookup).
    pub fn find_by_email(&self, email: &str) -> Option<(&AggregateId, &UserRecord)> {
        let email = normalize_email(email).ok()?;
        let id = self.by_email.get(&email)?;
        self.by_id.get(id).map(|u| (id, u))
    }

    /// A live (not deleted) user.
    pub fn live(&self, id: &AggregateId) -> Option<&UserRecord> {
        self.by_id.get(id).filter(|u| !u.deleted)
    }
}

/// A command on users. Ids are ULIDs minted by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCommand {
    Create {
        user_id: AggregateId,
        email: String,
        display_name: String,
        /// Roles bound for provider `local` at creation.
        roles: Vec<String>,
    },
    Update {
        user_id: AggregateId,
        email: Option<String>,
        display_name: Option<String>,
    },
    Disable {
        user_id: AggregateId,
        reason: String,
    },
    Delete {
        user_id: AggregateId,
    },
}

/// Why a user command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserRejection {
    #[error("a user with e-mail {email:?} already exists")]
    UserExists { email: String },
    #[error("user id {0} is already taken")]
    IdTaken(AggregateId),
    #[error("no such user")]
    NoSuchUser,
    #[error("user is disabled")]
    Disabled,
    #[error("invalid e-mail: {0}")]
    InvalidEmail(#[from] EmailError),
    #[error("invalid display name: {0}")]
    InvalidDisplayName(#[from] DisplayNameError),
    #[error("invalid role {role:?}: {source}")]
    InvalidRole {
        role: String,
        #[source]
        source: RoleNameError,
    },
    #[error("reason is {chars} characters long (at most {MAX_REASON_CHARS}) or holds control characters")]
    InvalidReason { chars: usize },
}

/// The user decider.
pub struct UserDecider;

impl Decider for UserDecider {
    type State = Users;
    type Command = UserCommand;
    type Rejection = UserRejection;

    fn decide(users: &Users, command: &UserCommand) -> Result<Vec<Emitted>, UserRejection> {
        match command {
            UserCommand::Create {
                user_id,
                email,
                display_name,
                roles,
            } => {
                let email = normalize_email(email)?;
                let display_name = normalize_display_name(display_name)?;
                let mut bound: Vec<String> = Vec::with_capacity(roles.len());
                for role in roles {
                    validate_role_name(role).map_err(|source| UserRejection::InvalidRole {
                        role: role.clone(),
                        source,
                    })?;
                    if !bound.contains(role) {
                        bound.push(role.clone());
                    }
                }
                if users.by_email.contains_key(&email) {
                    return Err(UserRejection::UserExists { email });
                }
                if users.by_id.contains_key(user_id) {
                    return Err(UserRejection::IdTaken(user_id.clone()));
                }
                let event = Event::UserCreated(UserCreated {
                    email,
                    display_name,
                    roles: bound,
                });
                Ok(vec![Emitted::new(user_id.clone(), event)])
            }
            UserCommand::Update {
                user_id,
                email,
                display_name,
            } => {
                let current = users.live(user_id).ok_or(UserRejection::NoSuchUser)?;
                let email = email.as_deref().map(normalize_email).transpose()?;
                let display_name = display_name
                    .as_deref()
                    .map(normalize_display_name)
                    .transpose()?;
                // Only what actually changes is recorded; no change, no event.
                let email = email.filter(|e| *e != current.email);
                let display_name = display_name.filter(|n| *n != current.display_name);
                if let Some(e) = &email {
                    if users.by_email.contains_key(e) {
                        return Err(UserRejection::UserExists { email: e.clone() });
                    }
                }
                if email.is_none() && display_name.is_none() {
                    return Ok(vec![]);
                }
                let event = Event::UserUpdated(UserUpdated {
                    email,
                    display_name,
                });
                Ok(vec![Emitted::new(user_id.clone(), event)])
            }
            UserCommand::Disable { user_id, reason } => {
                let current = users.live(user_id).ok_or(UserRejection::NoSuchUser)?;
                if current.disabled {
                    return Err(UserRejection::Disabled);
                }
                let reason = check_reason(reason)?;
                let event = Event::UserDisabled(UserDisabled { reason });
                Ok(vec![Emitted::new(user_id.clone(), event)])
            }
            UserCommand::Delete { user_id } => {
                users.live(user_id).ok_or(UserRejection::NoSuchUser)?;
                let event = Event::UserDeleted(UserDeleted {});
                Ok(vec![Emitted::new(user_id.clone(), event)])
            }
        }
    }

    fn evolve(users: &mut Users, id: &AggregateId, event: &Event) {
        match event {
            Event::UserCreated(e) => {
                users.by_email.insert(e.email.clone(), id.clone());
                users.by_id.insert(
                    id.clone(),
                    UserRecord {
                        email: e.email.clone(),
                        display_name: e.display_name.clone(),
                        disabled: false,
                        deleted: false,
                    },
                );
            }
            Event::UserUpdated(e) => {
                let Some(u) = users.by_id.get_mut(id) else {
                    return;
                };
                if let Some(email) = &e.email {
                    users.by_email.remove(&u.email);
                    users.by_email.insert(email.clone(), id.clone());
                    u.email = email.clone();
                }
                if let Some(name) = &e.display_name {
                    u.display_name = name.clone();
                }
            }
            Event::UserDisabled(_) => {
                if let Some(u) = users.by_id.get_mut(id) {
                    u.disabled = true;
                }
            }
            Event::UserDeleted(_) => {
                if let Some(u) = users.by_id.get_mut(id) {
                    u.deleted = true;
                    if users.by_email.get(&u.email) == Some(id) {
                        users.by_email.remove(&u.email);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Trims a free-text reason; refuses control characters and overlong text.
pub(crate) fn check_reason(reason: &str) -> Result<String, UserRejection> {
    let reason = reason.trim();
    let chars = reason.chars().count();
    if chars > MAX_REASON_CHARS || reason.chars().any(super::identity::is_hostile_char) {
        return Err(UserRejection::InvalidReason { chars });
    }
    Ok(reason.to_string())
}

//! Login sessions: decide a password login, logout, revoke-all by e-mail, and
//! check a presented token ([`Logins::is_valid`]). Tokens are opaque 256-bit
//! values minted by the API; only their SHA-256 digest reaches this code.
//! Aggregate `login`, id = ULID minted by the caller.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::Duration;

use super::bindings::LOCAL_PROVIDER;
use super::decider::{Decider, Emitted};
use super::identity::normalize_email;
use super::users::{UserDecider, Users};
use crate::events::{Event, LoginRevoked, LoginSucceeded, Sha256Hex};
use crate::{AggregateId, Timestamp};

/// Longest login a caller may ask for.
pub const MAX_LOGIN_TTL: Duration = Duration::days(30);

/// Revocation reasons recorded in `login.revoked`.
pub mod reasons {
    pub const LOGOUT: &str = "logout";
    pub const REVOKED_ALL: &str = "revoked_all";
    /// Set by the fold, not an event: the user was disabled or deleted.
    pub const USER_DISABLED: &str = "user_disabled";
}

/// One login session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginSession {
    pub user_id: AggregateId,
    pub email: String,
    pub provider: String,
    pub expires_at: Timestamp,
    /// Why it was revoked, if it was.
    pub revoked: Option<String>,
}

/// Users plus every login session (by login id, and by token digest).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logins {
    pub users: Users,
    pub sessions: BTreeMap<AggregateId, LoginSession>,
    pub by_digest: BTreeMap<Sha256Hex, AggregateId>,
}

/// Why a presented token is not (or no longer) valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidLogin {
    #[error("unknown login token")]
    Unknown,
    #[error("login expired at {at}")]
    Expired { at: Timestamp },
    #[error("login was revoked ({reason})")]
    Revoked { reason: String },
}

impl Logins {
    /// The session a token digest opens, if it is live at `now`.
    pub fn is_valid(
        &self,
        digest: &Sha256Hex,
        now: Timestamp,
    ) -> Result<(&AggregateId, &LoginSession), InvalidLogin> {
        let id = self.by_digest.get(digest).ok_or(InvalidLogin::Unknown)?;
        let s = self.sessions.get(id).ok_or(InvalidLogin::Unknown)?;
        if let Some(reason) = &s.revoked {
            return Err(InvalidLogin::Revoked {
                reason: reason.clone(),
            });
        }
        if now >= s.expires_at {
            return Err(InvalidLogin::Expired { at: s.expires_at });
        }
        Ok((id, s))
    }

    /// Forgets sessions that are expired or revoked at `now` (keeps memory
    /// bounded by live logins; a forgotten token reads as `Unknown`).
    pub fn prune(&mut self, now: Timestamp) {
        self.sessions
            .retain(|_, s| s.revoked.is_none() && now < s.expires_at);
        let sessions = &self.sessions;
        self.by_digest.retain(|_, id| sessions.contains_key(id));
    }
}

/// A command on login sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginCommand {
    /// A password login; the API checked the password against the credentials
    /// stream and passes the outcome in.
    Login {
        login_id: AggregateId,
        email: String,
        password_verified: bool,
        token_digest: Sha256Hex,
        now: Timestamp,
        ttl: Duration,
    },
    /// Revokes the session of one token.
    Logout {
        token_digest: Sha256Hex,
        now: Timestamp,
    },
    /// Revokes every live session of an e-mail (any provider).
    RevokeAll { email: String, now: Timestamp },
}

/// Why the credentials didn't open a session (one outward answer, so the API
/// can't reveal whether an account exists; the detail is for the audit record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialFailure {
    UnknownUser,
    WrongPassword,
}

/// Why a login command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginRejection {
    #[error("invalid e-mail or password")]
    InvalidCredentials(CredentialFailure),
    #[error("user is disabled")]
    UserDisabled,
    #[error("login lifetime must be between 1 second and {MAX_LOGIN_TTL}")]
    InvalidTtl,
    #[error("token digest is already in use")]
    TokenReused,
    #[error("login id {0} is already taken")]
    IdTaken(AggregateId),
    #[error("login is not active: {0}")]
    NotActive(#[from] InvalidLogin),
}

/// The login decider.
pub struct LoginDecider;

fn revoke(id: &AggregateId, digest: &Sha256Hex, reason: &str) -> Emitted {
    let event = Event::LoginRevoked(LoginRevoked {
        token_digest: digest.clone(),
        reason: reason.to_string(),
    });
    Emitted::new(id.clone(), event)
}

impl Decider for LoginDecider {
    type State = Logins;
    type Command = LoginCommand;
    type Rejection = LoginRejection;

    fn decide(state: &Logins, command: &LoginCommand) -> Result<Vec<Emitted>, LoginRejection> {
        match command {
            LoginCommand::Login {
                login_id,
                email,
                password_verified,
                token_digest,
                now,
                ttl,
            } => {
                if *ttl < Duration::SECOND || *ttl > MAX_LOGIN_TTL {
                    return Err(LoginRejection::InvalidTtl);
                }
                let unknown = LoginRejection::InvalidCredentials(CredentialFailure::UnknownUser);
                let (user_id, user) = state.users.find_by_email(email).ok_or(unknown)?;
                if !password_verified {
                    return Err(LoginRejection::InvalidCredentials(
                        CredentialFailure::WrongPassword,
                    ));
                }
                // Only after the password: a guesser learns nothing about the account.
                if user.disabled {
                    return Err(LoginRejection::UserDisabled);
                }
                if state.by_digest.contains_key(token_digest) {
                    return Err(LoginRejection::TokenReused);
                }
                if state.sessions.contains_key(login_id) {
                    return Err(LoginRejection::IdTaken(login_id.clone()));
                }
                let event = Event::LoginSucceeded(LoginSucceeded {
                    user_id: user_id.clone(),
                    email: user.email.clone(),
                    provider: LOCAL_PROVIDER.to_string(),
                    token_digest: token_digest.clone(),
                    method: "password".to_string(),
                    expires_at: Timestamp::new(now.get() + *ttl),
                });
                Ok(vec![Emitted::new(login_id.clone(), event)])
            }
            LoginCommand::Logout { token_digest, now } => {
                let (id, _) = state.is_valid(token_digest, *now)?;
                Ok(vec![revoke(id, token_digest, reasons::LOGOUT)])
            }
            LoginCommand::RevokeAll { email, now } => {
                let Ok(email) = normalize_email(email) else {
                    return Ok(vec![]);
                };
                Ok(state
                    .by_digest
                    .iter()
                    .filter_map(|(digest, id)| {
                        let s = state.sessions.get(id)?;
                        let live = s.revoked.is_none() && *now < s.expires_at;
                        (live && s.email == email).then(|| revoke(id, digest, reasons::REVOKED_ALL))
                    })
                    .collect())
            }
        }
    }

    fn evolve(state: &mut Logins, id: &AggregateId, event: &Event) {
        UserDecider::evolve(&mut state.users, id, event);
        match event {
            Event::LoginSucceeded(e) => {
                state.by_digest.insert(e.token_digest.clone(), id.clone());
                state.sessions.insert(
                    id.clone(),
                    LoginSession {
                        user_id: e.user_id.clone(),
                        email: e.email.clone(),
                        provider: e.provider.clone(),
                        expires_at: e.expires_at,
                        revoked: None,
                    },
                );
            }
            Event::LoginRevoked(e) => {
                if let Some(s) = state.sessions.get_mut(id) {
                    s.revoked.get_or_insert_with(|| e.reason.clone());
                }
            }
            // A disabled or deleted user's logins end at once on every replica.
            Event::UserDisabled(_) | Event::UserDeleted(_) => {
                for s in state.sessions.values_mut().filter(|s| &s.user_id == id) {
                    s.revoked
                        .get_or_insert_with(|| reasons::USER_DISABLED.to_string());
                }
            }
            _ => {}
        }
    }
}

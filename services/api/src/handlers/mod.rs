//! The `/api/v1` handlers, one file per resource, and the helpers they share:
//! turning projection records into response bodies, parsing durations, and
//! resolving `{id}` path parameters.

pub mod agents;
pub mod auth;
pub mod connect;
pub mod resources;
pub mod roles;
pub mod sessions;
pub mod tokens;
pub mod users;

use bamf_domain::control::bindings::LOCAL_PROVIDER;
use bamf_domain::control::ControlView;
use bamf_domain::{AggregateId, Timestamp};

use crate::dto;
use crate::error::ApiError;

/// A user as answered by the API, from the projection.
pub fn user_body(view: &ControlView, id: &AggregateId) -> Option<dto::User> {
    let user = view.logins.users.by_id.get(id).filter(|u| !u.deleted)?;
    let principal = view.assignments.principal(LOCAL_PROVIDER, &user.email);
    Some(dto::User {
        id: id.as_str().to_string(),
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        roles: principal.roles.into_iter().collect(),
        disabled: user.disabled,
    })
}

/// Resolves a `{id}` path parameter: a user id, or an e-mail.
pub fn find_user(view: &ControlView, key: &str) -> Option<AggregateId> {
    if key.contains('@') {
        return view
            .logins
            .users
            .find_by_email(key)
            .map(|(id, _)| id.clone());
    }
    let id = AggregateId::new(key.to_ascii_lowercase()).ok()?;
    view.logins.users.live(&id).map(|_| id)
}

/// An aggregate id from a `{id}` path parameter (ids are lowercase subject
/// tokens; anything else names nothing: 404 "no such <what>").
pub fn path_id(id: &str, what: &str) -> Result<AggregateId, ApiError> {
    AggregateId::new(id.to_ascii_lowercase())
        .map_err(|_| ApiError::not_found(format!("no such {what} {id:?}")))
}

/// Parses a caller's duration (`90s`, `12h`, `7d`) within `[min, max]`.
pub fn parse_ttl(
    field: &str,
    text: Option<&str>,
    default: std::time::Duration,
    min: std::time::Duration,
    max: std::time::Duration,
) -> Result<time::Duration, ApiError> {
    let ttl = match text {
        None => default,
        Some(t) => bamf_runtime::duration::parse(t)
            .map_err(|e| ApiError::invalid_argument(format!("{field}: {e}")))?,
    };
    if ttl < min || ttl > max {
        return Err(ApiError::invalid_argument(format!(
            "{field} must be between {} and {}",
            bamf_runtime::duration::format(min),
            bamf_runtime::duration::format(max)
        )));
    }
    time::Duration::try_from(ttl)
        .map_err(|_| ApiError::invalid_argument(format!("{field} is too long")))
}

/// RFC 3339 text of a timestamp.
pub fn rfc3339(t: Timestamp) -> String {
    t.to_string()
}

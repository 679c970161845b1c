//! The authenticated caller: `Authorization: Bearer <token>` checked against
//! this replica's control projection (no I/O per request). A token is refused
//! on every replica as soon as its projection has folded the revocation,
//! logout, or the user's disabling.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use bamf_domain::control::login::InvalidLogin;
use bamf_domain::control::rbac::{authorize_admin, AdminAccess, Principal};
use bamf_domain::control::ControlView;
use bamf_domain::events::{AccessDenied, Event, Sha256Hex};
use bamf_domain::{Actor, ActorKind, AggregateId, Timestamp};

use crate::app::{new_id, now, Api, App, AppSlot};
use crate::error::ApiError;
use crate::http::RequestContext;
use crate::secrets;

/// A logged-in user making this request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: AggregateId,
    pub email: String,
    pub provider: String,
    pub login_id: AggregateId,
    pub token_digest: Sha256Hex,
    pub expires_at: Timestamp,
    pub principal: Principal,
    pub ip: Option<IpAddr>,
}

impl Caller {
    /// The actor of the events this caller causes.
    pub fn actor(&self) -> Actor {
        Actor {
            kind: ActorKind::User,
            id: self.user_id.as_str().to_string(),
            email: Some(self.email.clone()),
            ip: self.ip,
        }
    }

    /// Checks an administrative permission; a refusal is audited
    /// (`access.denied`, with `action` and `target`) and answered 403.
    pub async fn require(
        &self,
        app: &App,
        ctx: &RequestContext,
        access: AdminAccess,
        action: &str,
        target: &str,
    ) -> Result<(), ApiError> {
        match authorize_admin(&self.principal, access) {
            Ok(()) => Ok(()),
            Err(forbidden) => {
                let event = Event::AccessDenied(AccessDenied {
                    action: action.to_string(),
                    target: target.to_string(),
                    reason: forbidden.to_string(),
                });
                app.audit(ctx, &self.actor(), new_id(), event).await;
                Err(ApiError::forbidden(forbidden.to_string()))
            }
        }
    }
}

/// The bearer token of a request, if it has one of our shape.
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthenticated("missing Authorization: Bearer <token>; log in first")
    })?;
    let text = header
        .to_str()
        .map_err(|_| ApiError::unauthenticated("Authorization header is not text"))?;
    let (scheme, token) = text.split_once(' ').ok_or_else(|| {
        ApiError::unauthenticated("Authorization header must be `Bearer <token>`")
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::unauthenticated(
            "Authorization header must be `Bearer <token>`",
        ));
    }
    let token = token.trim();
    if !secrets::plausible_token(token) {
        return Err(ApiError::unauthenticated("login token is malformed"));
    }
    Ok(token)
}

/// Resolves a token digest to a caller at `now`, from this replica's projection.
pub fn resolve(app: &App, digest: &Sha256Hex, now: Timestamp) -> Result<Caller, ApiError> {
    app.control.read(|view| authenticate(view, digest, now))
}

/// The caller a token digest stands for at `now` in `view`: refused (401)
/// when the token is unknown, expired at or before `now`, revoked, or its
/// user is disabled or deleted. Pure: the clock is the caller's, so expiry is
/// tested without waiting for it.
pub fn authenticate(
    view: &ControlView,
    digest: &Sha256Hex,
    now: Timestamp,
) -> Result<Caller, ApiError> {
    let (login_id, session) = view.logins.is_valid(digest, now).map_err(|e| match e {
        InvalidLogin::Unknown => ApiError::unauthenticated("unknown login token; log in again"),
        InvalidLogin::Expired { at } => {
            ApiError::unauthenticated(format!("login expired at {at}; log in again"))
        }
        InvalidLogin::Revoked { .. } => {
            ApiError::unauthenticated("login was revoked; log in again")
        }
    })?;
    let user = view
        .logins
        .users
        .live(&session.user_id)
        .filter(|u| !u.disabled)
        .ok_or_else(|| {
            ApiError::unauthenticated("the user of this login is disabled or deleted")
        })?;
    Ok(Caller {
        user_id: session.user_id.clone(),
        email: user.email.clone(),
        provider: session.provider.clone(),
        login_id: login_id.clone(),
        token_digest: digest.clone(),
        expires_at: session.expires_at,
        principal: view.assignments.principal(&session.provider, &user.email),
        ip: None,
    })
}

impl FromRequestParts<AppSlot> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, slot: &AppSlot) -> Result<Self, ApiError> {
        let Api(app) = Api::from_request_parts(parts, slot).await?;
        let token = bearer(parts)?;
        let digest = secrets::token_digest(token);
        let known = app
            .control
            .read(|v| v.logins.by_digest.contains_key(&digest));
        if !known {
            // A login made a moment ago on another replica may not be folded
            // here yet: catch up once before calling it unknown. Bounded, so a
            // flood of made-up tokens costs at most a few stream-info requests
            // at a time and is otherwise refused at once.
            if let Ok(_permit) = app.token_catch_up.try_acquire() {
                app.catch_up().await?;
            }
        }
        let mut caller = resolve(&app, &digest, now())?;
        caller.ip = parts.extensions.get::<RequestContext>().and_then(|c| c.ip);
        Ok(caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use bamf_domain::events::{LoginSucceeded, UserCreated};

    const T0: i64 = 1_800_000_000_000_000;
    const TTL_MICROS: i64 = 60_000_000;

    /// A view holding one user with one login made at `T0` for one minute.
    fn one_login(token: &str) -> ControlView {
        let user = AggregateId::from_ulid(ulid::Ulid::new());
        let login = AggregateId::from_ulid(ulid::Ulid::new());
        let at = Timestamp::from_unix_micros(T0);
        let mut view = ControlView::default();
        let created = Event::UserCreated(UserCreated {
            email: "alice@corp.example".into(),
            display_name: "Alice".into(),
            roles: vec![],
        });
        view.fold(1, &user, &created, at);
        let logged_in = Event::LoginSucceeded(LoginSucceeded {
            user_id: user,
            email: "alice@corp.example".into(),
            provider: "local".into(),
            token_digest: secrets::token_digest(token),
            method: "password".into(),
            expires_at: Timestamp::from_unix_micros(T0 + TTL_MICROS),
        });
        view.fold(2, &login, &logged_in, at);
        view
    }

    #[test]
    fn a_login_is_refused_from_the_instant_it_expires() {
        let token = secrets::new_token();
        let view = one_login(&token);
        let digest = secrets::token_digest(&token);
        let last_valid = Timestamp::from_unix_micros(T0 + TTL_MICROS - 1);
        let caller = authenticate(&view, &digest, last_valid).expect("valid until its end");
        assert_eq!(caller.email, "alice@corp.example");
        let expiry = Timestamp::from_unix_micros(T0 + TTL_MICROS);
        let refused = authenticate(&view, &digest, expiry).unwrap_err();
        assert_eq!(
            (refused.status(), refused.code()),
            (StatusCode::UNAUTHORIZED, "unauthenticated")
        );
        assert!(
            refused.message().contains("expired"),
            "{}",
            refused.message()
        );
    }

    #[test]
    fn an_unknown_token_is_refused() {
        let view = one_login(&secrets::new_token());
        let other = secrets::token_digest(&secrets::new_token());
        let refused = authenticate(&view, &other, Timestamp::from_unix_micros(T0)).unwrap_err();
        assert_eq!(refused.code(), "unauthenticated");
        assert!(
            refused.message().contains("unknown"),
            "{}",
            refused.message()
        );
    }
}

//! `/auth`: password login, logout, whoami, login sessions and revoke-all.
//! Failed logins are audited (`login.failed`) and rate-limited per source
//! address and per account ([`LoginThrottle`], per replica).

use axum::http::StatusCode;
use axum::Json;
use bamf_domain::control::bindings::LOCAL_PROVIDER;
use bamf_domain::control::identity::normalize_email;
use bamf_domain::control::login::{CredentialFailure, LoginCommand, LoginDecider, LoginRejection};
use bamf_domain::control::rbac::{authorize_admin, AdminAccess};
use bamf_domain::control::Decider;
use bamf_domain::events::{Event, LoginFailed};
use bamf_domain::{Actor, ActorKind};
use std::time::Duration;

use super::{parse_ttl, rfc3339, user_body};
use crate::app::{new_id, now, Api, App};
use crate::dto;
use crate::error::ApiError;
use crate::http::{Caller, JsonBody, QueryArgs, RequestContext};
use crate::secrets;

/// Shortest and longest login a caller may ask for.
const MIN_LOGIN_TTL: Duration = Duration::from_secs(60);
const MAX_LOGIN_TTL: Duration = Duration::from_secs(30 * 86_400);
/// Longest e-mail text kept in a `login.failed` record.
const MAX_AUDITED_EMAIL: usize = 254;

fn anonymous(ctx: &RequestContext, email: &str) -> Actor {
    Actor {
        kind: ActorKind::User,
        id: "anonymous".to_string(),
        email: normalize_email(email).ok(),
        ip: ctx.ip,
    }
}

async fn audit_failure(app: &App, ctx: &RequestContext, email: &str, reason: &str) {
    let email =
        normalize_email(email).unwrap_or_else(|_| email.chars().take(MAX_AUDITED_EMAIL).collect());
    let event = Event::LoginFailed(LoginFailed {
        email: email.clone(),
        provider: LOCAL_PROVIDER.to_string(),
        reason: reason.to_string(),
    });
    app.audit(ctx, &anonymous(ctx, &email), new_id(), event)
        .await;
}

/// `POST /auth/local/login`.
pub async fn login(
    Api(app): Api,
    ctx: RequestContext,
    JsonBody(body): JsonBody<dto::LoginRequest>,
) -> Result<Json<dto::LoginResponse>, ApiError> {
    let ttl = parse_ttl(
        "ttl",
        body.ttl.as_deref(),
        app.config.login_ttl,
        MIN_LOGIN_TTL,
        MAX_LOGIN_TTL,
    )?;
    let account = normalize_email(&body.email).unwrap_or_else(|_| body.email.trim().to_lowercase());
    let source = ctx.ip.unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
    let checked = app
        .throttle
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .check(source, &account, now());
    if let Err(throttled) = checked {
        audit_failure(&app, &ctx, &body.email, "throttled").await;
        let secs = throttled.retry_after.whole_seconds().max(1) as u64;
        return Err(ApiError::too_many_attempts(secs));
    }

    // Verify the password (or a dummy, so an unknown e-mail takes as long).
    app.catch_up().await?;
    let user_id = app.control.read(|view| {
        view.logins
            .users
            .find_by_email(&body.email)
            .map(|(id, _)| id.clone())
    });
    let stored = match &user_id {
        Some(id) => app
            .credentials
            .password(id)
            .await
            .map_err(|e| ApiError::internal(anyhow::Error::new(e)))?
            .map(|r| r.hash),
        None => None,
    };
    let password = body.password;
    let verified = tokio::task::spawn_blocking(move || match stored {
        Some(hash) => secrets::verify_password(&password, &hash),
        None => {
            secrets::verify_password(&password, secrets::dummy_hash());
            false
        }
    })
    .await
    .map_err(|e| ApiError::internal(anyhow::Error::new(e)))?;

    let token = secrets::new_token();
    let digest = secrets::token_digest(&token);
    let login_id = new_id();
    let at = now();
    let command = LoginCommand::Login {
        login_id: login_id.clone(),
        email: body.email.clone(),
        password_verified: verified,
        token_digest: digest,
        now: at,
        ttl,
    };
    let actor = anonymous(&ctx, &body.email);
    let actor = Actor {
        id: user_id
            .as_ref()
            .map(|i| i.as_str().to_string())
            .unwrap_or(actor.id.clone()),
        ..actor
    };
    // Caught up above; a user disabled meanwhile can't use the login anyway
    // (authentication checks the user on every request).
    let outcome = app
        .execute_caught_up(&ctx, &actor, |view| {
            LoginDecider::decide(&view.logins, &command)
        })
        .await?;
    match outcome {
        Ok(_) => {
            app.throttle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .record_success(&account);
            let (user, expires_at) = app.control.read(|view| {
                let session = view.logins.sessions.get(&login_id);
                let user = session.and_then(|s| user_body(view, &s.user_id));
                (user, session.map(|s| s.expires_at))
            });
            let (Some(user), Some(expires_at)) = (user, expires_at) else {
                return Err(ApiError::internal(anyhow::anyhow!(
                    "login {login_id} not in the projection after append"
                )));
            };
            Ok(Json(dto::LoginResponse {
                token,
                login_id: login_id.as_str().to_string(),
                expires_at: rfc3339(expires_at),
                user,
            }))
        }
        Err(rejection) => {
            let (reason, error) = match rejection {
                LoginRejection::InvalidCredentials(CredentialFailure::UnknownUser) => {
                    ("unknown_user", ApiError::invalid_credentials())
                }
                LoginRejection::InvalidCredentials(CredentialFailure::WrongPassword) => {
                    ("wrong_password", ApiError::invalid_credentials())
                }
                LoginRejection::UserDisabled => ("user_disabled", ApiError::user_disabled()),
                LoginRejection::InvalidTtl => {
                    return Err(ApiError::invalid_argument(rejection.to_string()))
                }
                other => {
                    return Err(ApiError::internal(anyhow::anyhow!(
                        "login refused: {other}"
                    )))
                }
            };
            app.throttle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .record_failure(source, &account, now());
            audit_failure(&app, &ctx, &body.email, reason).await;
            Err(error)
        }
    }
}

/// `POST /auth/logout`.
pub async fn logout(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    let command = LoginCommand::Logout {
        token_digest: caller.token_digest.clone(),
        now: now(),
    };
    app.execute(&ctx, &caller.actor(), |view| {
        LoginDecider::decide(&view.logins, &command)
    })
    .await?
    .map_err(|r| ApiError::unauthenticated(r.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /auth/whoami`.
pub async fn whoami(Api(app): Api, caller: Caller) -> Result<Json<dto::WhoAmI>, ApiError> {
    let user = app
        .control
        .read(|view| user_body(view, &caller.user_id))
        .ok_or_else(|| ApiError::unauthenticated("the user of this login no longer exists"))?;
    Ok(Json(dto::WhoAmI {
        user,
        login_id: caller.login_id.as_str().to_string(),
        provider: caller.provider.clone(),
        expires_at: rfc3339(caller.expires_at),
    }))
}

/// `GET /auth/sessions`: the caller's live logins; every live login for
/// admin and audit.
pub async fn sessions(Api(app): Api, caller: Caller) -> Json<dto::LoginSessions> {
    let all = authorize_admin(&caller.principal, AdminAccess::Read).is_ok();
    let at = now();
    let mut sessions: Vec<dto::LoginSession> = app.control.read(|view| {
        view.logins
            .sessions
            .iter()
            .filter(|(_, s)| s.revoked.is_none() && at < s.expires_at)
            .filter(|(_, s)| all || s.user_id == caller.user_id)
            .map(|(id, s)| dto::LoginSession {
                id: id.as_str().to_string(),
                user_id: s.user_id.as_str().to_string(),
                email: s.email.clone(),
                provider: s.provider.clone(),
                expires_at: rfc3339(s.expires_at),
                current: *id == caller.login_id,
            })
            .collect()
    });
    sessions.sort_by(|a, b| (&a.email, &a.expires_at).cmp(&(&b.email, &b.expires_at)));
    Json(dto::LoginSessions { sessions })
}

/// `DELETE /auth/sessions?email=…`: ends every login of an e-mail (admin, or
/// the user for their own e-mail).
pub async fn revoke_all(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
    QueryArgs(query): QueryArgs<dto::RevokeQuery>,
) -> Result<Json<dto::Revoked>, ApiError> {
    let email = normalize_email(&query.email)
        .map_err(|e| ApiError::invalid_argument(format!("email: {e}")))?;
    if email != caller.email {
        caller
            .require(
                &app,
                &ctx,
                AdminAccess::Write,
                "auth.sessions.revoke",
                &email,
            )
            .await?;
    }
    let command = LoginCommand::RevokeAll { email, now: now() };
    let committed = app
        .execute(&ctx, &caller.actor(), |view| {
            LoginDecider::decide(&view.logins, &command)
        })
        .await?
        .map_err(|r| ApiError::invalid_argument(r.to_string()))?;
    Ok(Json(dto::Revoked {
        revoked: committed.events,
    }))
}

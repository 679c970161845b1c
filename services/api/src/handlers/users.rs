//! `/users`: list, get, create, update, disable, delete (admin; audit reads).
//! Password hashes go to `bamf.cred.>` before the event that needs them, so a
//! user never exists without the password it was created with; a changed
//! password is an audit-only `user.password_changed` record.

use axum::http::StatusCode;
use axum::Json;
use bamf_domain::control::rbac::AdminAccess;
use bamf_domain::control::users::{UserCommand, UserDecider, UserRejection};
use bamf_domain::control::Decider;
use bamf_domain::events::{Event, PasswordChanged};
use bamf_domain::AggregateId;
use bamf_events::PasswordRecord;

use super::{find_user, user_body};
use crate::app::{new_id, Api, App};
use crate::dto;
use crate::error::ApiError;
use crate::http::{Caller, JsonBody, PathArg, RequestContext};
use crate::secrets;

/// The API answer to a refused user command.
pub fn rejected(r: UserRejection) -> ApiError {
    match r {
        UserRejection::UserExists { .. } | UserRejection::IdTaken(_) | UserRejection::Disabled => {
            ApiError::conflict(r.to_string())
        }
        UserRejection::NoSuchUser => ApiError::not_found(r.to_string()),
        UserRejection::InvalidEmail(_)
        | UserRejection::InvalidDisplayName(_)
        | UserRejection::InvalidRole { .. }
        | UserRejection::InvalidReason { .. } => ApiError::invalid_argument(r.to_string()),
    }
}

/// Hashes (off the async threads) and stores a password for `user_id`, and
/// audits the change. The hash never leaves this function but for the
/// credentials stream.
pub async fn set_password(
    app: &App,
    ctx: &RequestContext,
    actor: &bamf_domain::Actor,
    user_id: &AggregateId,
    password: String,
) -> Result<(), ApiError> {
    secrets::check_password_policy(&password)
        .map_err(|e| ApiError::invalid_argument(e.to_string()))?;
    let hash = tokio::task::spawn_blocking(move || secrets::hash_password(&password))
        .await
        .map_err(|e| ApiError::internal(anyhow::Error::new(e)))?
        .map_err(ApiError::internal)?;
    let record = PasswordRecord {
        algorithm: "argon2id".to_string(),
        hash,
    };
    app.credentials
        .put_password(user_id, &record)
        .await
        .map_err(|e| ApiError::internal(anyhow::Error::new(e)))?;
    app.audit(
        ctx,
        actor,
        user_id.clone(),
        Event::PasswordChanged(PasswordChanged {}),
    )
    .await;
    Ok(())
}

fn lookup(app: &App, key: &str) -> Result<AggregateId, ApiError> {
    app.control
        .read(|view| find_user(view, key))
        .ok_or_else(|| ApiError::not_found(format!("no such user {key:?}")))
}

fn answer(app: &App, id: &AggregateId) -> Result<Json<dto::User>, ApiError> {
    app.control
        .read(|view| user_body(view, id))
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no such user"))
}

/// `GET /users`.
pub async fn list(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
) -> Result<Json<dto::Users>, ApiError> {
    caller
        .require(&app, &ctx, AdminAccess::Read, "users.list", "")
        .await?;
    let mut users: Vec<dto::User> = app.control.read(|view| {
        view.logins
            .users
            .by_id
            .keys()
            .filter_map(|id| user_body(view, id))
            .collect()
    });
    users.sort_by(|a, b| a.email.cmp(&b.email));
    Ok(Json(dto::Users { users }))
}

/// `GET /users/{id}` (a user id or an e-mail).
pub async fn get(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
    PathArg(key): PathArg<String>,
) -> Result<Json<dto::User>, ApiError> {
    caller
        .require(&app, &ctx, AdminAccess::Read, "users.get", &key)
        .await?;
    answer(&app, &lookup(&app, &key)?)
}

/// `POST /users`.
pub async fn create(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
    JsonBody(body): JsonBody<dto::CreateUser>,
) -> Result<(StatusCode, Json<dto::User>), ApiError> {
    caller
        .require(&app, &ctx, AdminAccess::Write, "users.create", &body.email)
        .await?;
    if let Some(p) = &body.password {
        secrets::check_password_policy(p).map_err(|e| ApiError::invalid_argument(e.to_string()))?;
    }
    let user_id = new_id();
    let display_name = body
        .display_name
        .clone()
        .unwrap_or_else(|| body.email.split('@').next().unwrap_or_default().to_string());
    let command = UserCommand::Create {
        user_id: user_id.clone(),
        email: body.email.clone(),
        display_name,
        roles: body.roles.clone(),
    };
    // Decide once before hashing, so a refused create costs no argon2 work
    // and stores no credential.
    app.catch_up().await?;
    app.control.read(|view| check_create(view, &command))?;
    if let Some(password) = body.password {
        set_password(&app, &ctx, &caller.actor(), &user_id, password).await?;
    }
    app.execute(&ctx, &caller.actor(), |view| check_create(view, &command))
        .await??;
    Ok((StatusCode::CREATED, answer(&app, &user_id)?))
}

/// Decides a create, also refusing roles that do not exist.
fn check_create(
    view: &bamf_domain::control::ControlView,
    command: &UserCommand,
) -> Result<Vec<bamf_domain::control::Emitted>, ApiError> {
    if let UserCommand::Create { roles, .. } = command {
        if let Some(missing) = roles.iter().find(|r| !view.assignments.roles.exists(r)) {
            return Err(ApiError::invalid_argument(format!(
                "no such role {missing:?}"
            )));
        }
    }
    UserDecider::decide(&view.logins.users, command).map_err(rejected)
}

/// `PATCH /users/{id}`.
pub async fn update(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
    PathArg(key): PathArg<String>,
    JsonBody(body): JsonBody<dto::UpdateUser>,
) -> Result<Json<dto::User>, ApiError> {
    caller
        .require(&app, &ctx, AdminAccess::Write, "users.update", &key)
        .await?;
    let user_id = lookup(&app, &key)?;
    if let Some(p) = &body.password {
        secrets::check_password_policy(p).map_err(|e| ApiError::invalid_argument(e.to_string()))?;
    }
    let command = UserCommand::Update {
        user_id: user_id.clone(),
        email: body.email,
        display_name: body.display_name,
    };
    app.execute(&ctx, &caller.actor(), |view| {
        UserDecider::decide(&view.logins.users, &command)
    })
    .await?
    .map_err(rejected)?;
    if let Some(password) = body.password {
        set_password(&app, &ctx, &caller.actor(), &user_id, password).await?;
    }
    answer(&app, &user_id)
}

/// `POST /users/{id}/disable`: the user's logins end at once.
pub async fn disable(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
    PathArg(key): PathArg<String>,
    JsonBody(body): JsonBody<dto::DisableUser>,
) -> Result<Json<dto::User>, ApiError> {
    caller
        .require(&app, &ctx, AdminAccess::Write, "users.disable", &key)
        .await?;
    let user_id = lookup(&app, &key)?;
    if user_id == caller.user_id {
        return Err(ApiError::conflict("you can't disable your own account"));
    }
    let command = UserCommand::Disable {
        user_id: user_id.clone(),
        reason: body.reason,
    };
    app.execute(&ctx, &caller.actor(), |view| {
        UserDecider::decide(&view.logins.users, &command)
    })
    .await?
    .map_err(rejected)?;
    answer(&app, &user_id)
}

/// `DELETE /users/{id}`.
pub async fn delete(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
    PathArg(key): PathArg<String>,
) -> Result<StatusCode, ApiError> {
    caller
        .require(&app, &ctx, AdminAccess::Write, "users.delete", &key)
        .await?;
    let user_id = lookup(&app, &key)?;
    if user_id == caller.user_id {
        return Err(ApiError::conflict("you can't delete your own account"));
    }
    let command = UserCommand::Delete { user_id };
    app.execute(&ctx, &caller.actor(), |view| {
        UserDecider::decide(&view.logins.users, &command)
    })
    .await?
    .map_err(rejected)?;
    Ok(StatusCode::NO_CONTENT)
}

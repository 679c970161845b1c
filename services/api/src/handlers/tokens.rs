//! `/join-tokens`: create (the value is answered once and stored only as a
//! digest), list, revoke.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::StatusCode;
use axum::Json;
use bamf_domain::control::join_token::{
    JoinToken, JoinTokenCommand, JoinTokenDecider, JoinTokenRejection,
};
use bamf_domain::control::rbac::AdminAccess;
use bamf_domain::control::Decider;
use bamf_domain::events::Label;
use bamf_domain::{AggregateId, Timestamp};

use super::{parse_ttl, rfc3339};
use crate::app::{new_id, now, Api};
use crate::dto;
use crate::error::ApiError;
use crate::http::{Caller, JsonBody, PathArg, RequestContext};
use crate::secrets;

const DEFAULT_TTL: Duration = Duration::from_secs(3600);
const MIN_TTL: Duration = Duration::from_secs(60);
const MAX_TTL: Duration = Duration::from_secs(30 * 86_400);

/// The API answer to a refused join-token command.
pub fn rejected(r: JoinTokenRejection) -> ApiError {
    use JoinTokenRejection as R;
    match r {
        R::TokenExists => ApiError::conflict(r.to_string()),
        R::InvalidName { .. }
        | R::InvalidLabel { .. }
        | R::TooManyLabels(_)
        | R::InvalidMaxUses(_)
        | R::ExpiryInPast { .. }
        | R::InvalidAgentName { .. }
        | R::InvalidReason => ApiError::invalid_argument(r.to_string()),
        R::Unknown | R::DigestMismatch => ApiError::unauthenticated("unknown join token"),
        R::Expired { .. } | R::Revoked => ApiError::unauthenticated(r.to_string()),
        R::Exhausted { .. } => ApiError::conflict(r.to_string()),
    }
}

fn token_body(id: &AggregateId, token: &JoinToken) -> Option<dto::JoinToken> {
    let JoinToken::Live {
        name,
        max_uses,
        uses,
        expires_at,
        labels,
        revoked,
        ..
    } = token
    else {
        return None;
    };
    Some(dto::JoinToken {
        id: id.as_str().to_string(),
        name: name.clone(),
        expires_at: rfc3339(*expires_at),
        max_uses: *max_uses,
        uses: *uses,
        labels: labels
            .iter()
            .map(|l| (l.key.clone(), l.value.clone()))
            .collect(),
        revoked: *revoked,
    })
}

/// `GET /join-tokens`.
pub async fn list(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
) -> Result<Json<dto::JoinTokens>, ApiError> {
    caller
        .require(&app, &ctx, AdminAccess::Read, "join_tokens.list", "")
        .await?;
    let join_tokens = app.control.read(|view| {
        view.join_tokens
            .iter()
            .filter_map(|(id, t)| token_body(id, t))
            .collect()
    });
    Ok(Json(dto::JoinTokens { join_tokens }))
}

/// `POST /join-tokens`.
pub async fn create(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
    JsonBody(body): JsonBody<dto::CreateJoinToken>,
) -> Result<(StatusCode, Json<dto::CreatedJoinToken>), ApiError> {
    caller
        .require(
            &app,
            &ctx,
            AdminAccess::Write,
            "join_tokens.create",
            &body.name,
        )
        .await?;
    let ttl = parse_ttl("ttl", body.ttl.as_deref(), DEFAULT_TTL, MIN_TTL, MAX_TTL)?;
    let at = now();
    let token = secrets::new_token();
    let token_id = new_id();
    let labels: Vec<Label> = sorted(body.labels);
    let command = JoinTokenCommand::Create {
        token_id: token_id.clone(),
        name: body.name,
        digest: secrets::token_digest(&token),
        max_uses: body.max_uses.unwrap_or(1),
        expires_at: Timestamp::new(at.get() + ttl),
        labels,
        now: at,
    };
    app.execute(&ctx, &caller.actor(), |view| {
        let state = view.join_tokens.get(&token_id).cloned().unwrap_or_default();
        JoinTokenDecider::decide(&state, &command)
    })
    .await?
    .map_err(rejected)?;
    let join_token = app
        .control
        .read(|view| {
            view.join_tokens
                .get(&token_id)
                .and_then(|t| token_body(&token_id, t))
        })
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "join token {token_id} missing after create"
            ))
        })?;
    Ok((
        StatusCode::CREATED,
        Json(dto::CreatedJoinToken { join_token, token }),
    ))
}

fn sorted(labels: BTreeMap<String, String>) -> Vec<Label> {
    labels
        .into_iter()
        .map(|(key, value)| Label { key, value })
        .collect()
}

/// `DELETE /join-tokens/{id}`: revokes it.
pub async fn revoke(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
    PathArg(id): PathArg<String>,
) -> Result<StatusCode, ApiError> {
    caller
        .require(&app, &ctx, AdminAccess::Write, "join_tokens.revoke", &id)
        .await?;
    let token_id = super::path_id(&id, "join token")?;
    let command = JoinTokenCommand::Revoke {
        token_id: token_id.clone(),
        reason: "revoked by an administrator".to_string(),
    };
    app.execute(&ctx, &caller.actor(), |view| {
        let state = view.join_tokens.get(&token_id).cloned().unwrap_or_default();
        JoinTokenDecider::decide(&state, &command)
    })
    .await?
    .map_err(|r| match r {
        JoinTokenRejection::Unknown => ApiError::not_found(format!("no such join token {id:?}")),
        JoinTokenRejection::Revoked => ApiError::conflict("join token is already revoked"),
        other => rejected(other),
    })?;
    Ok(StatusCode::NO_CONTENT)
}

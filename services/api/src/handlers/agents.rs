//! `/agents`: join with a token and a CSR, renew with the current
//! certificate, list, delete.
//!
//! Join is one atomic batch — `join_token.used` guarded on the token's last
//! sequence plus `agent.joined` on the new agent — so a single-use token
//! admits one agent even when replicas race. The certificate is signed after
//! the batch commits, and its issuance is a `cert.issued` event.

use std::time::SystemTime;

use axum::http::StatusCode;
use axum::Json;
use bamf_domain::control::agents::{AgentCommand, AgentDecider, AgentRejection};
use bamf_domain::control::join_token::{JoinTokenCommand, JoinTokenDecider, JoinTokenRejection};
use bamf_domain::control::rbac::AdminAccess;
use bamf_domain::control::Decider;
use bamf_domain::events::Event;
use bamf_domain::{Actor, ActorKind, AggregateId};
use bamf_pki::profile::{AgentProfile, Profile};
use bamf_pki::VerifiedCsr;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::rfc3339;
use crate::app::{new_id, now, Api, App};
use crate::dto;
use crate::error::ApiError;
use crate::http::{Caller, JsonBody, PathArg, RequestContext};
use crate::secrets;

fn agent_actor(ctx: &RequestContext, agent_id: &AggregateId) -> Actor {
    Actor {
        kind: ActorKind::Agent,
        id: agent_id.as_str().to_string(),
        email: None,
        ip: ctx.ip,
    }
}

/// Signs an agent certificate and records the issuance.
async fn issue(
    app: &App,
    ctx: &RequestContext,
    agent_id: &AggregateId,
    csr: &VerifiedCsr,
) -> Result<dto::AgentCertificate, ApiError> {
    let profile = Profile::Agent(AgentProfile {
        agent_id: agent_id.as_str().to_string(),
    });
    let requester = format!("agent:{}", agent_id.as_str());
    let actor = agent_actor(ctx, agent_id);
    let (certificate, not_after) =
        super::issue_recorded(app, ctx, &actor, &profile, csr, &requester).await?;
    Ok(dto::AgentCertificate {
        agent_id: agent_id.as_str().to_string(),
        certificate,
        ca_certificate: app.ca.cert_pem().to_string(),
        not_after: rfc3339(not_after),
    })
}

/// `POST /agents/join`.
pub async fn join(
    Api(app): Api,
    ctx: RequestContext,
    JsonBody(body): JsonBody<dto::JoinRequest>,
) -> Result<(StatusCode, Json<dto::AgentCertificate>), ApiError> {
    if !secrets::plausible_token(body.token.trim()) {
        return Err(ApiError::unauthenticated("unknown join token"));
    }
    // Check the CSR before spending the token.
    let csr = super::parse_csr(&body.csr)?;
    let presented = secrets::token_digest(body.token.trim());
    let agent_id = new_id();
    let at = now();
    app.execute(&ctx, &agent_actor(&ctx, &agent_id), |view| {
        let (token_id, token) = view
            .join_token_by_digest(&presented)
            .ok_or(JoinTokenRejection::Unknown)?;
        let command = JoinTokenCommand::Use {
            token_id: token_id.clone(),
            presented: presented.clone(),
            agent_id: agent_id.clone(),
            agent_name: body.name.clone(),
            now: at,
        };
        JoinTokenDecider::decide(token, &command)
    })
    .await?
    .map_err(super::tokens::rejected)?;
    let issued = issue(&app, &ctx, &agent_id, &csr).await?;
    tracing::info!(agent = %agent_id, name = %body.name, "agent joined");
    Ok((StatusCode::CREATED, Json(issued)))
}

/// `POST /agents/renew`: the current certificate must verify against our CA,
/// belong to a live agent, and name the same key as the CSR.
pub async fn renew(
    Api(app): Api,
    ctx: RequestContext,
    JsonBody(body): JsonBody<dto::RenewRequest>,
) -> Result<Json<dto::AgentCertificate>, ApiError> {
    let der = CertificateDer::from_pem_slice(body.certificate.as_bytes()).map_err(|e| {
        ApiError::invalid_argument(format!("certificate: not a PEM certificate: {e}"))
    })?;
    let claims = app
        .ca
        .trust()
        .verify_agent(std::slice::from_ref(&der), SystemTime::now())
        .map_err(|e| ApiError::unauthenticated(format!("certificate: {e}")))?;
    let csr = super::parse_csr(&body.csr)?;
    if !csr.same_key_as_cert(&der) {
        return Err(ApiError::invalid_argument(
            "csr: its key is not the key of the certificate being renewed",
        ));
    }
    let agent_id = AggregateId::new(claims.agent_id.clone())
        .map_err(|_| ApiError::unauthenticated("certificate: agent id is not valid"))?;
    app.catch_up().await?;
    let live = app
        .control
        .read(|view| view.agents.live(&agent_id).is_some());
    if !live {
        let event = Event::AccessDenied(bamf_domain::events::AccessDenied {
            action: "agents.renew".to_string(),
            target: agent_id.as_str().to_string(),
            reason: "agent is deleted or unknown".to_string(),
        });
        app.audit(&ctx, &agent_actor(&ctx, &agent_id), new_id(), event)
            .await;
        return Err(ApiError::forbidden(
            "this agent was deleted; join again with a new token",
        ));
    }
    Ok(Json(issue(&app, &ctx, &agent_id, &csr).await?))
}

/// `GET /agents`.
pub async fn list(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
) -> Result<Json<dto::Agents>, ApiError> {
    caller
        .require(&app, &ctx, AdminAccess::Read, "agents.list", "")
        .await?;
    let at = now();
    let table = app.heartbeats.read().unwrap_or_else(|e| e.into_inner());
    let agents = app.control.read(|view| {
        view.agents
            .by_id
            .iter()
            .filter(|(_, a)| !a.deleted)
            .map(|(id, a)| {
                let online = table.is_online(&view.agents, id, at);
                let beat = table.beats.get(id);
                dto::Agent {
                    id: id.as_str().to_string(),
                    name: a.name.clone(),
                    labels: a
                        .labels
                        .iter()
                        .map(|l| (l.key.clone(), l.value.clone()))
                        .collect(),
                    online,
                    last_heartbeat: beat.map(|b| rfc3339(b.received_at)),
                    resources: if online {
                        beat.map_or(0, |b| b.resources.len())
                    } else {
                        0
                    },
                }
            })
            .collect()
    });
    Ok(Json(dto::Agents { agents }))
}

/// `DELETE /agents/{id}`.
pub async fn delete(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
    PathArg(id): PathArg<String>,
) -> Result<StatusCode, ApiError> {
    caller
        .require(&app, &ctx, AdminAccess::Write, "agents.delete", &id)
        .await?;
    let agent_id = super::path_id(&id, "agent")?;
    let command = AgentCommand::Delete { agent_id };
    app.execute(&ctx, &caller.actor(), |view| {
        AgentDecider::decide(&view.agents, &command)
    })
    .await?
    .map_err(|r| match r {
        AgentRejection::NoSuchAgent | AgentRejection::AlreadyDeleted => {
            ApiError::not_found(format!("no such agent {id:?}"))
        }
    })?;
    Ok(StatusCode::NO_CONTENT)
}

//! The session broker, `POST /connect`: finds the resource in the live
//! catalog, decides with RBAC, picks a bridge, signs the session certificates
//! and has the agent dial the bridge.
//!
//! Connecting records every decision on a new `session` aggregate:
//! `session.requested`, then `session.denied` (RBAC refused, no bridge, the
//! agent refused or did not answer) or `session.granted` plus one
//! `cert.issued` per certificate (client side, agent side). The client's
//! certificate is signed before the agent is asked, so a bad client CSR costs
//! the agent nothing; the agent's is signed when it answers with its CSR, and
//! sent to the inbox it waits on (the two-step dial of `bamf_events::commands`).

use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use bamf_domain::control::catalog::CatalogResource;
use bamf_domain::control::rbac::{can_view, evaluate, DecisionReason, Principal, ResourceRef};
use bamf_domain::control::roles::Roles;
use bamf_domain::control::Emitted;
use bamf_domain::events::{
    AccessDenied, CertIssued, Event, SessionDenied, SessionGranted, SessionRequested,
};
use bamf_domain::tunnel::{DialCert, DialCommand, DialCsr};
use bamf_domain::{AggregateId, Timestamp};
use bamf_events::commands::{self, agent_command_subject, CommandError};
use bamf_events::Expected;
use bamf_pki::profile::{AgentSessionProfile, ClientSessionProfile, Profile};
use bamf_pki::{Issued, VerifiedCsr};
use tracing::{info, warn};

use super::rfc3339;
use crate::app::{new_id, now, Api, App};
use crate::bridges::LiveBridge;
use crate::dto;
use crate::error::ApiError;
use crate::http::{Caller, JsonBody, RequestContext};

/// What RBAC and the catalog say about a connect request.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// No online agent advertises it, or the caller may not see it.
    NotFound,
    /// Visible, but RBAC refuses (the decision's reason).
    Denied(CatalogResource, DecisionReason),
    /// Allowed on this agent's resource, by this role.
    Allowed(CatalogResource, String),
}

/// Finds `name` among the online resources and decides on it.
fn lookup(app: &App, caller: &Caller, name: &str, at: Timestamp) -> Lookup {
    let table = app.heartbeats.read().unwrap_or_else(|e| e.into_inner());
    app.control.read(|view| {
        let online = table.resources(&view.agents, at);
        choose(&view.assignments.roles, &caller.principal, online, name)
    })
}

/// The decision on `name` among `online` resources (pure). Resources the
/// principal may not see count as absent. When several agents advertise the
/// name, the first (by agent id) that RBAC allows wins; when none does, the
/// first visible one's refusal is the answer.
pub(crate) fn choose(
    roles: &Roles,
    principal: &Principal,
    online: Vec<CatalogResource>,
    name: &str,
) -> Lookup {
    let mut denied = None;
    for r in online {
        if r.name != name {
            continue;
        }
        let resource = ResourceRef {
            name: &r.name,
            labels: &r.labels,
        };
        if !can_view(roles, principal, resource) {
            continue;
        }
        let decision = evaluate(roles, principal, resource);
        match decision.reason {
            DecisionReason::Allowed { role, .. } if decision.allowed => {
                return Lookup::Allowed(r, role)
            }
            reason => {
                denied.get_or_insert((r, reason));
            }
        }
    }
    match denied {
        Some((r, reason)) => Lookup::Denied(r, reason),
        None => Lookup::NotFound,
    }
}

/// Appends one session or certificate event; answers its sequence.
async fn append(
    app: &App,
    ctx: &RequestContext,
    caller: &Caller,
    aggregate: AggregateId,
    event: Event,
    expected: Expected,
) -> Result<u64, ApiError> {
    let envelope = app.envelope(ctx, &caller.actor(), now(), Emitted::new(aggregate, event));
    app.log
        .append(&envelope, expected)
        .await
        .map(|a| a.seq)
        .map_err(|e| {
            ApiError::internal(anyhow::Error::new(e).context("cannot append a session event"))
        })
}

/// A signed certificate and its `cert.issued` event.
fn sign(
    app: &App,
    profile: &Profile,
    csr: &VerifiedCsr,
    requester: &str,
) -> Result<(Issued, Event), ApiError> {
    let issued = app
        .ca
        .issue(profile, csr, requester, SystemTime::now())
        .map_err(|e| {
            ApiError::invalid_argument(format!(
                "csr: cannot sign a session certificate for it: {e}"
            ))
        })?;
    let kind = super::cert_kind(profile);
    let record = issued.record.clone();
    let event = Event::CertIssued(CertIssued {
        serial: record.serial,
        kind,
        subject: record.subject,
        sans: record.sans,
        not_after: Timestamp::new(record.not_after),
        requester: record.requester,
    });
    Ok((issued, event))
}

/// Asks the agent to dial the bridge, signs its CSR and sends the
/// certificate back. A refusal or silence is 503 with the reason.
async fn dial(
    app: &App,
    session_id: &AggregateId,
    resource: &CatalogResource,
    bridge: &LiveBridge,
) -> Result<(Issued, Event), (String, ApiError)> {
    let agent = &resource.agent_name;
    let command = DialCommand {
        session_id: session_id.clone(),
        resource: resource.name.clone(),
        bridge_id: bridge.heartbeat.bridge_id.clone(),
        bridge_addr: bridge.heartbeat.address.clone(),
        bridge_server_name: bridge.heartbeat.server_name.clone(),
    };
    let subject = agent_command_subject(&resource.agent_id, "dial");
    let unavailable = |reason: String| {
        let message = format!("agent {agent} cannot open the tunnel: {reason}");
        (reason, ApiError::unavailable(message))
    };
    let answered = commands::request::<_, DialCsr>(
        &app.nats,
        subject,
        &command,
        Default::default(),
        app.config.dial_timeout,
    )
    .await
    .map_err(|e| match e {
        CommandError::Refused(r) => unavailable(format!("refused: {} ({})", r.message, r.code)),
        CommandError::NoResponders { .. } => {
            unavailable("agent is not listening for dials (offline?)".to_string())
        }
        CommandError::TimedOut { timeout, .. } => {
            unavailable(format!("agent did not answer within {timeout:?}"))
        }
        other => unavailable(other.to_string()),
    })?;
    let Some(reply_to) = answered.reply_to else {
        return Err(unavailable(
            "agent's answer has no inbox for its certificate".into(),
        ));
    };
    let refuse = |code: &str, message: String| commands::Refusal {
        code: code.to_string(),
        message,
    };
    let csr = match VerifiedCsr::from_pem(&answered.answer.csr) {
        Ok(csr) => csr,
        Err(e) => {
            let reason = format!("agent sent a bad CSR: {e}");
            let _ = commands::answer::<DialCert>(
                &app.nats,
                reply_to,
                &commands::Reply::Error(refuse("bad_csr", reason.clone())),
            )
            .await;
            return Err(unavailable(reason));
        }
    };
    let profile = Profile::AgentSession(AgentSessionProfile {
        session_id: session_id.as_str().to_string(),
        agent_id: resource.agent_id.as_str().to_string(),
        resource: resource.name.clone(),
        resource_type: resource.kind.clone(),
        bridge_id: bridge.heartbeat.bridge_id.as_str().to_string(),
    });
    let requester = format!("agent:{}", resource.agent_id.as_str());
    let (issued, event) = match sign(app, &profile, &csr, &requester) {
        Ok(signed) => signed,
        Err(e) => {
            let reason = format!("cannot sign the agent's CSR: {}", e.message());
            let _ = commands::answer::<DialCert>(
                &app.nats,
                reply_to,
                &commands::Reply::Error(refuse("bad_csr", reason.clone())),
            )
            .await;
            return Err(unavailable(reason));
        }
    };
    let cert = DialCert {
        certificate: issued.cert_pem.clone(),
        ca_certificate: app.ca.cert_pem().to_string(),
    };
    commands::answer(&app.nats, reply_to, &commands::Reply::Ok(cert))
        .await
        .map_err(|e| unavailable(format!("cannot send the agent its certificate: {e}")))?;
    Ok((issued, event))
}

/// `POST /connect`. The broker runs as a task of its own: a caller that
/// hangs up mid-dial does not cut it short, so every `session.requested`
/// still ends in `session.granted` or `session.denied`.
pub async fn connect(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
    JsonBody(body): JsonBody<dto::ConnectRequest>,
) -> Result<Json<dto::Connected>, ApiError> {
    tokio::spawn(broker(app, ctx, caller, body))
        .await
        .map_err(|e| {
            ApiError::internal(anyhow::Error::new(e).context("the session broker failed"))
        })?
}

async fn broker(
    app: Arc<App>,
    ctx: RequestContext,
    caller: Caller,
    body: dto::ConnectRequest,
) -> Result<Json<dto::Connected>, ApiError> {
    let csr = VerifiedCsr::from_pem(&body.csr)
        .map_err(|e| ApiError::invalid_argument(format!("csr: {e}")))?;
    let not_found = || {
        ApiError::not_found(format!(
            "no resource {:?} is available to you",
            body.resource
        ))
    };
    let at = now();
    let (resource, allowed_by) = match lookup(&app, &caller, &body.resource, at) {
        Lookup::NotFound => return Err(not_found()),
        Lookup::Denied(r, reason) => (r, Err(reason)),
        Lookup::Allowed(r, role) => (r, Ok(role)),
    };
    let session_id = new_id();
    let requested = Event::SessionRequested(SessionRequested {
        user_id: caller.user_id.clone(),
        resource: resource.name.clone(),
        resource_type: resource.kind.clone(),
    });
    let requested_seq = append(
        &app,
        &ctx,
        &caller,
        session_id.clone(),
        requested,
        Expected::NoEvents,
    )
    .await?;
    let deny = |reason: String| {
        let app = &app;
        let ctx = &ctx;
        let caller = &caller;
        let session_id = session_id.clone();
        async move {
            let event = Event::SessionDenied(SessionDenied { reason });
            append(
                app,
                ctx,
                caller,
                session_id,
                event,
                Expected::last(requested_seq),
            )
            .await
        }
    };
    let role = match allowed_by {
        Ok(role) => role,
        Err(reason) => {
            let reason = reason.to_string();
            deny(reason.clone()).await?;
            let event = Event::AccessDenied(AccessDenied {
                action: AccessDenied::SESSIONS_CONNECT.to_string(),
                target: resource.name.clone(),
                reason: reason.clone(),
            });
            app.audit(&ctx, &caller.actor(), session_id.clone(), event)
                .await;
            info!(session = %session_id, resource = %resource.name, %reason, "session denied");
            return Err(ApiError::forbidden(format!(
                "{} may not connect to {}: {reason}",
                caller.email, resource.name
            )));
        }
    };
    let bridge = app
        .bridges
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .pick(now())
        .cloned();
    let Some(bridge) = bridge else {
        deny("no live bridge".to_string()).await?;
        return Err(ApiError::unavailable(
            "no bridge is available; retry shortly",
        ));
    };
    let bridge_id = bridge.heartbeat.bridge_id.clone();
    let client_profile = Profile::ClientSession(ClientSessionProfile {
        session_id: session_id.as_str().to_string(),
        user_email: caller.email.clone(),
        resource: resource.name.clone(),
        resource_type: resource.kind.clone(),
        bridge_id: bridge_id.as_str().to_string(),
        roles: caller.principal.roles.iter().cloned().collect(),
    });
    let (client_cert, client_issued) = match sign(&app, &client_profile, &csr, &caller.email) {
        Ok(signed) => signed,
        Err(e) => {
            deny(format!("client certificate: {}", e.message())).await?;
            return Err(e);
        }
    };
    let (_, agent_issued) = match dial(&app, &session_id, &resource, &bridge).await {
        Ok(signed) => signed,
        Err((reason, e)) => {
            deny(reason.clone()).await?;
            warn!(session = %session_id, agent = %resource.agent_id, %reason, "dial failed");
            return Err(e);
        }
    };
    let expires_at = Timestamp::new(client_cert.record.not_after);
    let granted = Event::SessionGranted(SessionGranted {
        bridge_id: bridge_id.clone(),
        agent_id: resource.agent_id.clone(),
        roles: vec![role],
        expires_at,
    });
    let granted_seq = append(
        &app,
        &ctx,
        &caller,
        session_id.clone(),
        granted,
        Expected::last(requested_seq),
    )
    .await?;
    for event in [client_issued, agent_issued] {
        let Event::CertIssued(ref issued) = event else {
            continue;
        };
        let serial = AggregateId::new(issued.serial.clone()).map_err(|e| {
            ApiError::internal(anyhow::anyhow!("serial is not a subject token: {e}"))
        })?;
        append(&app, &ctx, &caller, serial, event, Expected::NoEvents).await?;
    }
    // Read-your-writes for `GET /sessions` on this replica.
    if let Err(e) = app
        .runtime
        .wait_for(granted_seq, app.config.projection_wait)
        .await
    {
        warn!(error = %e, "runtime projection is behind");
    }
    info!(session = %session_id, resource = %resource.name, bridge = %bridge_id, "session granted");
    Ok(Json(dto::Connected {
        session_id: session_id.as_str().to_string(),
        resource: resource.name,
        resource_type: resource.kind,
        bridge_id: bridge_id.as_str().to_string(),
        bridge_addr: bridge.heartbeat.address,
        bridge_server_name: bridge.heartbeat.server_name,
        certificate: client_cert.cert_pem,
        ca_certificate: app.ca.cert_pem().to_string(),
        expires_at: rfc3339(expires_at),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bamf_domain::control::roles::RoleDef;
    use bamf_domain::events::{Label, RoleRules};

    fn resource(name: &str, agent: &str, env: &str) -> CatalogResource {
        CatalogResource {
            name: name.into(),
            kind: "ssh".into(),
            labels: [("env".to_string(), env.to_string())].into(),
            agent_id: AggregateId::new(agent).unwrap(),
            agent_name: agent.into(),
        }
    }

    /// `dev` allows env=dev.
    fn roles() -> Roles {
        let allow = RoleRules {
            labels: vec![Label {
                key: "env".into(),
                value: "dev".into(),
            }],
            ..Default::default()
        };
        let def = RoleDef {
            description: String::new(),
            allow,
            deny: RoleRules::default(),
        };
        Roles {
            defs: [("dev".to_string(), def)].into(),
        }
    }

    fn online() -> Vec<CatalogResource> {
        vec![
            resource("web", "agent-a", "prod"),
            resource("web", "agent-b", "dev"),
            resource("db", "agent-a", "prod"),
        ]
    }

    #[test]
    fn of_several_agents_advertising_a_name_the_allowed_one_is_chosen() {
        let dev = Principal::new("dev@corp.example", ["dev".to_string()]);
        match choose(&roles(), &dev, online(), "web") {
            Lookup::Allowed(r, role) => {
                assert_eq!((r.agent_id.as_str(), role.as_str()), ("agent-b", "dev"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_and_invisible_are_the_same_not_found() {
        let dev = Principal::new("dev@corp.example", ["dev".to_string()]);
        assert!(matches!(
            choose(&roles(), &dev, online(), "nope"),
            Lookup::NotFound
        ));
        assert!(matches!(
            choose(&roles(), &dev, online(), "db"),
            Lookup::NotFound
        ));
    }

    #[test]
    fn audit_sees_but_is_denied_and_admin_is_allowed() {
        let auditor = Principal::new("a@corp.example", ["audit".to_string()]);
        assert!(matches!(
            choose(&roles(), &auditor, online(), "db"),
            Lookup::Denied(_, DecisionReason::NoRuleAllowed)
        ));
        let admin = Principal::new("root@corp.example", ["admin".to_string()]);
        assert!(matches!(
            choose(&roles(), &admin, online(), "db"),
            Lookup::Allowed(_, role) if role == "admin"
        ));
    }
}

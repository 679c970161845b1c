//! `/bridges`: a bridge obtains its 24-hour server certificate with the
//! bootstrap token (`enroll`), then renews it with the certificate itself
//! (`renew`), for the same key; `list` shows the bridges this replica hears
//! heartbeats from. Bridges are not aggregates of the log: what
//! the log holds of them is each `cert.issued`, by a `bridge` actor.
//!
//! The bootstrap token is a secret of the API's config
//! (`bridge_bootstrap_token`); it is compared as a SHA-256 digest without an
//! early exit. A wrong token gets 401 and an `access.denied` audit record.

use std::net::IpAddr;
use std::time::SystemTime;

use axum::http::StatusCode;
use axum::Json;
use bamf_domain::control::rbac::AdminAccess;
use bamf_domain::events::{AccessDenied, Event};
use bamf_domain::{Actor, ActorKind, AggregateId};
use bamf_pki::profile::{BridgeProfile, Profile};
use bamf_pki::VerifiedCsr;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::rfc3339;
use crate::app::{new_id, now, Api, App};
use crate::dto;
use crate::error::ApiError;
use crate::http::{Caller, JsonBody, RequestContext};
use crate::secrets;

fn bridge_actor(ctx: &RequestContext, bridge_id: &str) -> Actor {
    Actor {
        kind: ActorKind::Bridge,
        id: bridge_id.to_string(),
        email: None,
        ip: ctx.ip,
    }
}

fn bridge_id(text: &str) -> Result<AggregateId, ApiError> {
    AggregateId::new(text.to_string()).map_err(|_| {
        ApiError::invalid_argument(format!(
            "bridge_id: {text:?} is not 1 to 64 characters of [a-z0-9_-]"
        ))
    })
}

/// The names a bridge asks for: DNS names, or IP addresses (a local stack).
fn names(requested: &[String]) -> Result<(Vec<String>, Vec<IpAddr>), ApiError> {
    if requested.is_empty() {
        return Err(ApiError::invalid_argument(
            "names: at least one DNS name or IP address clients dial the bridge by",
        ));
    }
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for name in requested {
        match name.parse::<IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => dns.push(name.to_ascii_lowercase()),
        }
    }
    Ok((dns, ips))
}

async fn issue(
    app: &App,
    ctx: &RequestContext,
    bridge_id: &AggregateId,
    requested: &[String],
    csr: &VerifiedCsr,
) -> Result<dto::BridgeCertificate, ApiError> {
    let (dns_names, ip_addresses) = names(requested)?;
    let profile = Profile::Bridge(BridgeProfile {
        bridge_id: bridge_id.as_str().to_string(),
        dns_names,
        ip_addresses,
    });
    let requester = format!("bridge:{}", bridge_id.as_str());
    let actor = bridge_actor(ctx, bridge_id.as_str());
    let (certificate, not_after) =
        super::issue_recorded(app, ctx, &actor, &profile, csr, &requester).await?;
    Ok(dto::BridgeCertificate {
        bridge_id: bridge_id.as_str().to_string(),
        certificate,
        ca_certificate: app.ca.cert_pem().to_string(),
        not_after: rfc3339(not_after),
    })
}

/// `POST /bridges/enroll`: the bootstrap token, the bridge id, its names and
/// a CSR → 201 and the bridge certificate.
pub async fn enroll(
    Api(app): Api,
    ctx: RequestContext,
    JsonBody(body): JsonBody<dto::BridgeEnrollRequest>,
) -> Result<(StatusCode, Json<dto::BridgeCertificate>), ApiError> {
    let configured = app.config.bridge_bootstrap_token.as_str();
    if configured.is_empty() {
        return Err(ApiError::forbidden(
            "bridge enrolment is off on this API: set its key \"bridge_bootstrap_token\", or give the bridge certificate files",
        ));
    }
    let id = bridge_id(&body.bridge_id)?;
    let presented = secrets::token_digest(body.token.trim());
    let expected = secrets::token_digest(configured);
    if !presented.same_as(&expected) {
        let event = Event::AccessDenied(AccessDenied {
            action: "bridges.enroll".to_string(),
            target: id.as_str().to_string(),
            reason: "bootstrap token does not match".to_string(),
        });
        app.audit(&ctx, &bridge_actor(&ctx, id.as_str()), new_id(), event)
            .await;
        return Err(ApiError::unauthenticated("unknown bridge bootstrap token"));
    }
    let csr = super::parse_csr(&body.csr)?;
    let issued = issue(&app, &ctx, &id, &body.names, &csr).await?;
    tracing::info!(bridge = %id, "bridge enrolled");
    Ok((StatusCode::CREATED, Json(issued)))
}

/// `GET /bridges` (admin, audit): every bridge with a current heartbeat,
/// with its load and whether it is live (heartbeat not expired).
pub async fn list(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
) -> Result<Json<dto::Bridges>, ApiError> {
    caller
        .require(&app, &ctx, AdminAccess::Read, "bridges.list", "")
        .await?;
    let at = now();
    let table = app.bridges.read().unwrap_or_else(|e| e.into_inner());
    let bridges = table
        .bridges
        .values()
        .map(|b| dto::Bridge {
            id: b.heartbeat.bridge_id.as_str().to_string(),
            address: b.heartbeat.address.clone(),
            server_name: b.heartbeat.server_name.clone(),
            sessions: b.heartbeat.sessions,
            pending: b.heartbeat.pending,
            draining: b.heartbeat.draining,
            online: b.expires_at > at,
            last_heartbeat: rfc3339(b.received_at),
        })
        .collect();
    Ok(Json(dto::Bridges { bridges }))
}

/// `POST /bridges/renew`: the current bridge certificate (verified against
/// our CA and naming `bridge_id`) and a CSR for the same key.
pub async fn renew(
    Api(app): Api,
    ctx: RequestContext,
    JsonBody(body): JsonBody<dto::BridgeRenewRequest>,
) -> Result<Json<dto::BridgeCertificate>, ApiError> {
    let id = bridge_id(&body.bridge_id)?;
    let der = CertificateDer::from_pem_slice(body.certificate.as_bytes()).map_err(|e| {
        ApiError::invalid_argument(format!("certificate: not a PEM certificate: {e}"))
    })?;
    app.ca
        .trust()
        .verify_bridge(std::slice::from_ref(&der), SystemTime::now(), id.as_str())
        .map_err(|e| ApiError::unauthenticated(format!("certificate: {e}")))?;
    let csr = super::parse_csr(&body.csr)?;
    if !csr.same_key_as_cert(&der) {
        return Err(ApiError::invalid_argument(
            "csr: its key is not the key of the certificate being renewed",
        ));
    }
    Ok(Json(issue(&app, &ctx, &id, &body.names, &csr).await?))
}

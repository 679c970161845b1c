//! The `/api/v1` handlers, one file per resource, and the helpers they share:
//! turning projection records into response bodies, parsing durations, and
//! resolving `{id}` path parameters.

pub mod agents;
pub mod audit;
pub mod audit_stream;
pub mod auth;
pub mod bridges;
pub mod connect;
pub mod resources;
pub mod roles;
pub mod sessions;
pub mod tokens;
pub mod users;
pub mod watch;

use std::time::SystemTime;

use bamf_domain::control::bindings::LOCAL_PROVIDER;
use bamf_domain::control::{ControlView, Emitted};
use bamf_domain::events::{CertIssued, CertKind, Event};
use bamf_domain::{Actor, AggregateId, Timestamp};
use bamf_events::Expected;
use bamf_pki::profile::Profile;
use bamf_pki::{Issued, PkiError, VerifiedCsr};

use crate::app::{now, App};
use crate::dto;
use crate::error::ApiError;
use crate::http::RequestContext;

/// Where a resumed Server-Sent Event stream picks up: after the
/// `Last-Event-ID` header's sequence, else after `?after=`, else `None`.
/// `noun` says what the ids count, for the error (`"an event sequence"`).
pub fn resume_position(
    headers: &axum::http::HeaderMap,
    after: Option<&str>,
    noun: &str,
) -> Result<Option<u64>, ApiError> {
    let parse = |raw: &str, what: &str| {
        raw.trim().parse::<u64>().map_err(|_| {
            ApiError::invalid_argument(format!(
                "{what} {raw:?} is not {noun} (a whole number from a previous `id:`)"
            ))
        })
    };
    match headers.get("last-event-id") {
        Some(v) => {
            let raw = v.to_str().map_err(|_| {
                ApiError::invalid_argument("Last-Event-ID is not visible ASCII".to_string())
            })?;
            parse(raw, "Last-Event-ID").map(Some)
        }
        None => after.map(|a| parse(a, "after")).transpose(),
    }
}

/// A CSR from a request body (`csr`), its signature checked.
pub fn parse_csr(pem: &str) -> Result<VerifiedCsr, ApiError> {
    VerifiedCsr::from_pem(pem).map_err(|e| ApiError::invalid_argument(format!("csr: {e}")))
}

/// The event's name for the kind of certificate a profile makes.
pub fn cert_kind(profile: &Profile) -> CertKind {
    match profile {
        Profile::ClientSession(_) => CertKind::SessionClient,
        Profile::AgentSession(_) => CertKind::SessionAgent,
        Profile::Agent(_) => CertKind::Agent,
        Profile::Bridge(_) => CertKind::Bridge,
    }
}

/// Signs an agent or bridge certificate and records the issuance as a
/// `cert.issued` event (serial, kind, subject, SANs, not-after; never a key)
/// by `actor`; answers the PEM certificate and its not-after once this
/// replica has folded the event. A name the profile refuses is a 400.
pub async fn issue_recorded(
    app: &App,
    ctx: &RequestContext,
    actor: &Actor,
    profile: &Profile,
    csr: &VerifiedCsr,
    requester: &str,
) -> Result<(String, Timestamp), ApiError> {
    let Issued {
        cert_pem, record, ..
    } = app
        .ca
        .issue(profile, csr, requester, SystemTime::now())
        .map_err(|e| match e {
            PkiError::InvalidField { .. } => ApiError::invalid_argument(e.to_string()),
            e => ApiError::internal(anyhow::Error::new(e).context("cannot sign the certificate")),
        })?;
    let not_after = Timestamp::new(record.not_after);
    let serial = AggregateId::new(record.serial.clone())
        .map_err(|e| ApiError::internal(anyhow::anyhow!("serial is not a subject token: {e}")))?;
    let event = Event::CertIssued(CertIssued {
        serial: record.serial,
        kind: cert_kind(profile),
        subject: record.subject,
        sans: record.sans,
        not_after,
        requester: record.requester,
    });
    let envelope = app.envelope(ctx, actor, now(), Emitted::new(serial, event));
    let appended = app
        .log
        .append(&envelope, Expected::NoEvents)
        .await
        .map_err(|e| {
            ApiError::internal(anyhow::Error::new(e).context("cannot record the issuance"))
        })?;
    app.wait_for(appended.seq).await?;
    Ok((cert_pem, not_after))
}

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

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::resume_position;

    #[test]
    fn positions_are_whole_numbers() {
        let none = HeaderMap::new();
        let at = |after| resume_position(&none, Some(after), "an event sequence");
        assert_eq!(at("42").unwrap(), Some(42));
        assert_eq!(at(" 7 ").unwrap(), Some(7));
        assert_eq!(resume_position(&none, None, "x").unwrap(), None);
        for bad in ["", "-1", "x", "1.5", "99999999999999999999999"] {
            let mut headers = HeaderMap::new();
            headers.insert("last-event-id", HeaderValue::from_str(bad).unwrap());
            // The header wins over `?after=`.
            let e = resume_position(&headers, Some("1"), "an event sequence").unwrap_err();
            assert_eq!(e.code(), "invalid_argument", "{bad:?}");
            assert!(e.message().starts_with("Last-Event-ID "), "{}", e.message());
        }
    }
}

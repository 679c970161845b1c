//! `GET /sessions` lists open tunnel sessions (from the runtime view: the
//! caller's own; every one for admin and audit); `DELETE /sessions/{id}`
//! (admin) asks the session's bridge — named by its `session.granted` event —
//! to kill it, with `bamf.cmd.bridge.<id>.kill`.

use axum::http::StatusCode;
use axum::Json;
use bamf_domain::control::rbac::{authorize_admin, AdminAccess};
use bamf_domain::events::{Event, SessionKilled};
use bamf_domain::runtime_view::SessionState;
use bamf_domain::tunnel::KillCommand;
use bamf_domain::AggregateId;
use bamf_events::commands::{self, bridge_command_subject, CommandError};
use bamf_events::jetstream::stream::LastRawMessageErrorKind;
use bamf_events::streams::EVENTS_STREAM;
use tracing::{info, warn};

use crate::app::{Api, App};
use crate::dto;
use crate::error::ApiError;
use crate::http::{Caller, PathArg, RequestContext};

fn state_name(state: SessionState) -> &'static str {
    match state {
        SessionState::Requested => "requested",
        SessionState::Granted => "granted",
        SessionState::Connected => "connected",
    }
}

/// `GET /sessions`: the caller's own; every one for admin and audit.
pub async fn list(Api(app): Api, caller: Caller) -> Json<dto::TunnelSessions> {
    let all = authorize_admin(&caller.principal, AdminAccess::Read).is_ok();
    let open: Vec<_> = app.runtime.read(|view| {
        view.sessions
            .iter()
            .filter(|(_, s)| all || s.user_id == caller.user_id)
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect()
    });
    let sessions = app.control.read(|view| {
        open.into_iter()
            .map(|(id, s)| dto::TunnelSession {
                id: id.as_str().to_string(),
                email: view
                    .logins
                    .users
                    .by_id
                    .get(&s.user_id)
                    .map(|u| u.email.clone())
                    .unwrap_or_default(),
                user_id: s.user_id.as_str().to_string(),
                resource: s.resource,
                state: state_name(s.state).to_string(),
            })
            .collect()
    });
    Json(dto::TunnelSessions { sessions })
}

/// The bridge a granted session was given, from its `session.granted` event.
async fn granted_bridge(
    app: &App,
    session_id: &AggregateId,
) -> Result<Option<AggregateId>, ApiError> {
    let stream = app.js.get_stream(EVENTS_STREAM).await.map_err(|e| {
        warn!(error = %e, "cannot open BAMF_EVENTS");
        ApiError::unavailable("the event log is unreachable; retry shortly")
    })?;
    let subject = format!("bamf.evt.session.{}.granted", session_id.as_str());
    let message = match stream.get_last_raw_message_by_subject(&subject).await {
        Ok(m) => m,
        Err(e) if matches!(e.kind(), LastRawMessageErrorKind::NoMessageFound) => return Ok(None),
        Err(e) => {
            warn!(error = %e, "cannot read the session's grant");
            return Err(ApiError::unavailable(
                "the event log is unreachable; retry shortly",
            ));
        }
    };
    let envelope = bamf_events::feed::decode(&subject, &message.payload)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("session.granted does not decode: {e}")))?;
    Ok(match envelope.event {
        Event::SessionGranted(g) => Some(g.bridge_id),
        _ => None,
    })
}

/// `DELETE /sessions/{id}` (admin): the bridge closes both sides.
pub async fn kill(
    Api(app): Api,
    ctx: RequestContext,
    caller: Caller,
    PathArg(id): PathArg<String>,
) -> Result<StatusCode, ApiError> {
    caller
        .require(&app, &ctx, AdminAccess::Write, "sessions.kill", &id)
        .await?;
    let missing = || ApiError::not_found(format!("no open session {id:?}"));
    let session_id = super::path_id(&id, "session")?;
    if !app.runtime.read(|v| v.sessions.contains_key(&session_id)) {
        return Err(missing());
    }
    let bridge_id = granted_bridge(&app, &session_id)
        .await?
        .ok_or_else(missing)?;
    let command = KillCommand {
        session_id: session_id.clone(),
    };
    let subject = bridge_command_subject(&bridge_id, "kill");
    match commands::request::<_, serde_json::Value>(
        &app.nats,
        subject,
        &command,
        Default::default(),
        app.config.dial_timeout,
    )
    .await
    {
        Ok(_) => {
            let event = Event::SessionKilled(SessionKilled {
                bridge_id: bridge_id.clone(),
            });
            app.audit(&ctx, &caller.actor(), session_id.clone(), event)
                .await;
            info!(session = %session_id, bridge = %bridge_id, by = %caller.email, "session killed");
            Ok(StatusCode::NO_CONTENT)
        }
        Err(CommandError::Refused(r)) if r.code == "unknown_session" => Err(missing()),
        Err(e) => {
            warn!(session = %session_id, bridge = %bridge_id, error = %e, "kill failed");
            Err(ApiError::unavailable(format!(
                "bridge {bridge_id} did not kill the session: {e}"
            )))
        }
    }
}

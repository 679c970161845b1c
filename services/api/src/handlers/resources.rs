//! `GET /resources`: the live catalog (agent heartbeats), filtered to what the
//! caller may reach — or, for the audit role, may see. Served from memory:
//! the control projection and the heartbeat table, no I/O per request.

use axum::Json;
use bamf_domain::control::heartbeats::visible_resources;

use crate::app::{now, Api};
use crate::dto;
use crate::http::Caller;

/// `GET /resources`.
pub async fn list(Api(app): Api, caller: Caller) -> Json<dto::Resources> {
    let at = now();
    let table = app.heartbeats.read().unwrap_or_else(|e| e.into_inner());
    let resources = app.control.read(|view| {
        visible_resources(
            &view.assignments.roles,
            &caller.principal,
            &table,
            &view.agents,
            at,
        )
        .into_iter()
        .map(|r| dto::Resource {
            name: r.name,
            kind: r.kind,
            labels: r.labels,
            agent_id: r.agent_id.as_str().to_string(),
            agent_name: r.agent_name,
        })
        .collect()
    });
    Json(dto::Resources { resources })
}

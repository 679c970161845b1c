//! The OCSF objects (`actor`, `user`, `session`, `entity`, endpoints, …)
//! built from bamf values, shared by the per-type mapping.

use serde_json::{json, Map, Value};

use super::classes::network_activity;
use crate::{Actor, ActorKind, Timestamp};

/// The OCSF `actor` of an envelope actor: a user as `actor.user`, bamf's
/// own programs as `app_name` (`bamf-agent`, `bamf-bridge`, `bamf`) with
/// their id as `app_uid`.
pub(super) fn actor_object(actor: &Actor) -> Value {
    match actor.kind {
        ActorKind::User => json!({ "user": user_of(actor) }),
        ActorKind::Agent => json!({ "app_name": "bamf-agent", "app_uid": actor.id }),
        ActorKind::Bridge => json!({ "app_name": "bamf-bridge", "app_uid": actor.id }),
        ActorKind::System => json!({ "app_name": super::PRODUCT, "app_uid": actor.id }),
    }
}

/// The actor as an OCSF `user`, when it is one.
pub(super) fn actor_user(actor: &Actor) -> Option<Value> {
    (actor.kind == ActorKind::User).then(|| user_of(actor))
}

fn user_of(actor: &Actor) -> Value {
    object([
        ("uid", text(&actor.id)),
        ("email_addr", actor.email.as_deref().and_then(text)),
    ])
    // An envelope's actor id is never empty (decoding refuses it), so the
    // object always has a `uid`; `{}` only keeps this total.
    .unwrap_or_else(|| json!({}))
}

/// The user a failed login presented: its text as `name`, and as
/// `email_addr` only when it reads as an address (it may be anything typed).
pub(super) fn presented_user(presented: &str) -> Option<Value> {
    let is_address = presented.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@')
    }) && !presented.chars().any(char::is_whitespace);
    object([
        ("name", text(presented)),
        (
            "email_addr",
            is_address.then(|| Value::String(presented.into())),
        ),
    ])
}

/// Who did it, for messages.
pub(super) fn who(actor: &Actor) -> String {
    match &actor.email {
        Some(email) => email.clone(),
        None => format!("{} {}", actor.kind.as_str(), actor.id),
    }
}

pub(super) fn session(uid: &str, expires: Option<&Timestamp>) -> Option<Value> {
    object([
        ("uid", text(uid)),
        (
            "expiration_time",
            expires.map(|t| json!(super::epoch_millis(t))),
        ),
    ])
}

pub(super) fn entity(kind: &str, uid: &str, name: Option<&str>) -> Option<Value> {
    object([
        ("uid", text(uid)),
        ("name", name.and_then(text)),
        ("type", text(kind)),
    ])
}

pub(super) fn connection(session: &str) -> Option<Value> {
    let (direction_id, direction) = network_activity::DIRECTION_INBOUND;
    Some(json!({
        "uid": session,
        "direction_id": direction_id,
        "direction": direction,
    }))
}

pub(super) fn bridge(bridge_id: &str) -> Option<Value> {
    Some(json!({ "uid": bridge_id }))
}

/// A non-empty string value.
pub(super) fn text(s: &str) -> Option<Value> {
    (!s.is_empty()).then(|| Value::String(s.to_string()))
}

/// An object of the present fields; `None` when none is.
pub(super) fn object<const N: usize>(fields: [(&str, Option<Value>); N]) -> Option<Value> {
    let map: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect();
    (!map.is_empty()).then_some(Value::Object(map))
}

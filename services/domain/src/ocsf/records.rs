//! Per record type: its OCSF class, activity, class-specific attributes and
//! message. The match is exhaustive on purpose: a new event type does not
//! compile until someone decides how a SIEM sees it (docs/ocsf.md).

use serde_json::{json, Map, Value};

use super::classes::{
    account_change, api_activity, authentication, authorize_session, entity_management,
    network_activity, user_access, Activity, Class,
};
use super::objects::{
    actor_user, bridge, connection, entity, object, presented_user, session, text, who,
};
use crate::control::bindings::LOCAL_PROVIDER;
use crate::control::login::reasons;
use crate::events::{CertKind, Event};
use crate::{ActorKind, Envelope};

/// What one record becomes, before the attributes every class shares.
pub(super) struct Mapped {
    pub(super) class: Class,
    pub(super) activity: Activity,
    /// Class-specific attributes (`user`, `session`, `entity`, …).
    pub(super) attrs: Map<String, Value>,
    pub(super) message: String,
}

impl Mapped {
    fn new(class: Class, activity: Activity, message: String) -> Self {
        Mapped {
            class,
            activity,
            attrs: Map::new(),
            message,
        }
    }

    fn with(mut self, key: &str, value: Option<Value>) -> Self {
        if let Some(value) = value {
            self.attrs.insert(key.to_string(), value);
        }
        self
    }
}

/// Maps one decoded record.
pub(super) fn map(envelope: &Envelope) -> Mapped {
    let id = envelope.aggregate_id.as_str();
    let actor = &envelope.actor;
    let by = who(actor);
    match &envelope.event {
        // Users: Account Change [3001]; `user` is the account acted on.
        Event::UserCreated(d) => Mapped::new(
            Class::AccountChange,
            account_change::CREATE,
            format!("user {} created by {by}", d.email),
        )
        .with(
            "user",
            object([
                ("uid", text(id)),
                ("email_addr", text(&d.email)),
                ("full_name", text(&d.display_name)),
            ]),
        ),
        Event::UserUpdated(d) => Mapped::new(
            Class::AccountChange,
            Activity::other("Update"),
            format!("user {id} updated by {by}"),
        )
        .with("user", object([("uid", text(id))]))
        .with(
            "user_result",
            object([
                ("uid", text(id)),
                ("email_addr", d.email.as_deref().and_then(text)),
                ("full_name", d.display_name.as_deref().and_then(text)),
            ]),
        ),
        Event::UserDisabled(d) => Mapped::new(
            Class::AccountChange,
            account_change::DISABLE,
            format!("user {id} disabled by {by}: {}", d.reason),
        )
        .with("user", object([("uid", text(id))])),
        Event::UserDeleted(_) => Mapped::new(
            Class::AccountChange,
            account_change::DELETE,
            format!("user {id} deleted by {by}"),
        )
        .with("user", object([("uid", text(id))])),
        Event::PasswordChanged(_) => Mapped::new(
            Class::AccountChange,
            account_change::PASSWORD_CHANGE,
            format!("password of user {id} changed by {by}"),
        )
        .with("user", object([("uid", text(id))])),

        // Logins: Authentication [3002]; `user` is who authenticates.
        Event::LoginSucceeded(d) => Mapped::new(
            Class::Authentication,
            authentication::LOGON,
            format!("{} logged in ({})", d.email, d.method),
        )
        .with(
            "user",
            object([
                ("uid", text(d.user_id.as_str())),
                ("email_addr", text(&d.email)),
            ]),
        )
        .with("session", session(id, Some(&d.expires_at)))
        .with_auth(Some(&d.method)),
        Event::LoginFailed(d) => {
            // The local provider authenticates by password only.
            let method = (d.provider == LOCAL_PROVIDER).then_some("password");
            Mapped::new(
                Class::Authentication,
                authentication::LOGON,
                format!("login as {} failed: {}", d.email, d.reason),
            )
            .with("user", presented_user(&d.email))
            .with_auth(method)
        }
        Event::LoginRevoked(d) => {
            // On logout the actor is the login's owner; otherwise (an
            // administrator, expiry of a disabled user) the record does not
            // say whose login it was: `session.uid` joins it to its logon.
            let owner = (d.reason == reasons::LOGOUT)
                .then(|| actor_user(actor))
                .flatten();
            Mapped::new(
                Class::Authentication,
                authentication::LOGOFF,
                format!("login {id} revoked by {by}: {}", d.reason),
            )
            .with("user", owner)
            .with("session", session(id, None))
            .with_auth(None)
        }

        // Roles and role bindings: Entity Management [3004] for the role
        // definitions, User Access Management [3005] for who holds them.
        Event::RoleCreated(d) => Mapped::new(
            Class::EntityManagement,
            entity_management::CREATE,
            format!("role {} created by {by}", d.name),
        )
        .with("entity", entity("role", id, Some(&d.name))),
        Event::RoleUpdated(_) => Mapped::new(
            Class::EntityManagement,
            entity_management::UPDATE,
            format!("role {id} updated by {by}"),
        )
        .with("entity", entity("role", id, Some(id))),
        Event::RoleDeleted(_) => Mapped::new(
            Class::EntityManagement,
            entity_management::DELETE,
            format!("role {id} deleted by {by}"),
        )
        .with("entity", entity("role", id, Some(id))),
        Event::RoleBindingCreated(d) => Mapped::new(
            Class::UserAccess,
            user_access::ASSIGN_PRIVILEGES,
            format!("role {} granted to {} by {by}", d.role, d.email),
        )
        .with("user", object([("email_addr", text(&d.email))]))
        .with("privileges", Some(json!([d.role]))),
        Event::RoleBindingDeleted(d) => Mapped::new(
            Class::UserAccess,
            user_access::REVOKE_PRIVILEGES,
            format!("role {} revoked from {} by {by}", d.role, d.email),
        )
        .with("user", object([("email_addr", text(&d.email))]))
        .with("privileges", Some(json!([d.role]))),

        // Join tokens, agents, certificates, seals: Entity Management [3004].
        Event::JoinTokenCreated(d) => Mapped::new(
            Class::EntityManagement,
            entity_management::CREATE,
            format!(
                "join token {} created by {by} ({} use(s), expires {})",
                d.name, d.max_uses, d.expires_at
            ),
        )
        .with("entity", entity("join_token", id, Some(&d.name))),
        Event::JoinTokenUsed(d) => Mapped::new(
            Class::EntityManagement,
            Activity::other("Use"),
            format!(
                "join token {id} used by agent {} (use {})",
                d.agent_id.as_str(),
                d.use_number
            ),
        )
        .with("entity", entity("join_token", id, None)),
        Event::JoinTokenRevoked(d) => Mapped::new(
            Class::EntityManagement,
            entity_management::DISABLE,
            format!("join token {id} revoked by {by}: {}", d.reason),
        )
        .with("entity", entity("join_token", id, None))
        .with("comment", text(&d.reason)),
        Event::AgentJoined(d) => Mapped::new(
            Class::EntityManagement,
            entity_management::ENROLL,
            format!("agent {} joined", d.name),
        )
        .with("entity", entity("agent", id, Some(&d.name))),
        Event::AgentDeleted(_) => Mapped::new(
            Class::EntityManagement,
            entity_management::DELETE,
            format!("agent {id} deleted by {by}"),
        )
        .with("entity", entity("agent", id, None)),
        Event::CertIssued(d) => Mapped::new(
            Class::EntityManagement,
            entity_management::CREATE,
            format!(
                "{} certificate {} issued to {}",
                cert_kind(d.kind),
                d.serial,
                d.subject
            ),
        )
        .with("entity", entity("certificate", &d.serial, Some(&d.subject))),
        Event::AuditSealed(d) => Mapped::new(
            Class::EntityManagement,
            entity_management::CREATE,
            format!(
                "audit seal over records {} to {} ({} records, key {})",
                d.first_seq, d.last_seq, d.record_count, d.key_id
            ),
        )
        .with("entity", entity("audit_seal", id, None)),

        // Access decisions on tunnel sessions: Authorize Session [3003].
        Event::SessionRequested(d) => {
            let email = match actor.kind {
                ActorKind::User if actor.id == d.user_id.as_str() => actor.email.as_deref(),
                _ => None,
            };
            Mapped::new(
                Class::AuthorizeSession,
                Activity::other("Request"),
                format!("{by} asked for a session to {}", d.resource),
            )
            .with(
                "user",
                object([
                    ("uid", text(d.user_id.as_str())),
                    ("email_addr", email.and_then(text)),
                ]),
            )
            .with("session", session(id, None))
            .with("dst_endpoint", object([("name", text(&d.resource))]))
        }
        Event::SessionGranted(d) => Mapped::new(
            Class::AuthorizeSession,
            authorize_session::ASSIGN_PRIVILEGES,
            format!("session {id} granted by role(s) {}", d.roles.join(", ")),
        )
        .with("user", actor_user(actor))
        .with("session", session(id, Some(&d.expires_at)))
        .with("privileges", Some(json!(d.roles))),
        Event::SessionDenied(d) => Mapped::new(
            Class::AuthorizeSession,
            authorize_session::ASSIGN_PRIVILEGES,
            format!("session {id} denied: {}", d.reason),
        )
        .with("user", actor_user(actor))
        .with("session", session(id, None)),

        // Refused requests: API Activity [6003].
        Event::AccessDenied(d) => {
            let on = if d.target.is_empty() {
                String::new()
            } else {
                format!(" on {}", d.target)
            };
            let request = envelope.request_id.as_deref().map(|r| json!({ "uid": r }));
            Mapped::new(
                Class::ApiActivity,
                api_activity_of(&d.action),
                format!("{} denied {}{on}: {}", by, d.action, d.reason),
            )
            .with(
                "api",
                object([("operation", text(&d.action)), ("request", request)]),
            )
            .with(
                "resources",
                (!d.target.is_empty()).then(|| json!([{ "uid": d.target }])),
            )
        }

        // The tunnel itself: Network Activity [4001].
        Event::SessionConnected(d) => Mapped::new(
            Class::NetworkActivity,
            network_activity::OPEN,
            format!(
                "session {id} connected through bridge {}",
                d.bridge_id.as_str()
            ),
        )
        .with("connection_info", connection(id))
        .with("dst_endpoint", bridge(d.bridge_id.as_str())),
        Event::SessionClosed(d) => {
            let bridge_id = (actor.kind == ActorKind::Bridge).then_some(actor.id.as_str());
            Mapped::new(
                Class::NetworkActivity,
                network_activity::CLOSE,
                format!(
                    "session {id} closed ({}): {} bytes up, {} bytes down",
                    d.reason, d.bytes_up, d.bytes_down
                ),
            )
            .with("connection_info", connection(id))
            .with("dst_endpoint", bridge_id.and_then(bridge))
            .with(
                "traffic",
                Some(json!({
                    // bytes_out: source to destination (client to target).
                    "bytes_out": d.bytes_up,
                    "bytes_in": d.bytes_down,
                    "bytes": d.bytes_up.saturating_add(d.bytes_down),
                })),
            )
        }
        Event::SessionKilled(d) => Mapped::new(
            Class::NetworkActivity,
            network_activity::RESET,
            format!(
                "session {id} killed by {by} on bridge {}",
                d.bridge_id.as_str()
            ),
        )
        .with("connection_info", connection(id))
        .with("dst_endpoint", bridge(d.bridge_id.as_str())),
    }
}

impl Mapped {
    /// Authentication's protocol and service: bamf's methods have no OCSF
    /// protocol id (Other); the service authenticated to is bamf (the class
    /// requires a service or a destination endpoint).
    fn with_auth(self, method: Option<&str>) -> Self {
        let protocol = method.map(|m| {
            (
                json!(authentication::AUTH_PROTOCOL_OTHER),
                Value::String(m.to_string()),
            )
        });
        let (id, name) = protocol.unzip();
        self.with("auth_protocol_id", id)
            .with("auth_protocol", name)
            .with("is_remote", Some(Value::Bool(true)))
            .with("service", Some(json!({ "name": super::PRODUCT })))
    }
}

/// The API Activity of a refused action, by its verb (`users.create`,
/// `agents.list`, …); verbs that are not CRUD are Other with the verb.
fn api_activity_of(action: &str) -> Activity {
    let verb = action.rsplit_once('.').map_or(action, |(_, verb)| verb);
    match verb {
        "create" => api_activity::CREATE,
        "get" | "list" => api_activity::READ,
        "update" => api_activity::UPDATE,
        "delete" => api_activity::DELETE,
        other => Activity::other(other),
    }
}

fn cert_kind(kind: CertKind) -> &'static str {
    match kind {
        CertKind::SessionClient => "session client",
        CertKind::SessionAgent => "session agent",
        CertKind::Agent => "agent",
        CertKind::Bridge => "bridge",
    }
}

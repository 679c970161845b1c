//! Request and response bodies of `/api/v1` (docs/api.md). Requests refuse
//! unknown fields; every type derives `JsonSchema` for the OpenAPI document.

use std::collections::BTreeMap;

use bamf_domain::control::role_doc::RuleDocument;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `POST /auth/local/login`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// Lifetime of the login, e.g. `12h` (default: the server's `login_ttl`).
    #[serde(default)]
    pub ttl: Option<String>,
}

/// A user.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct User {
    pub id: String,
    pub email: String,
    pub display_name: String,
    /// Effective roles (bound roles plus `everyone`).
    pub roles: Vec<String>,
    pub disabled: bool,
}

/// The answer to a login.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct LoginResponse {
    /// The opaque token; send it as `Authorization: Bearer <token>`.
    pub token: String,
    pub login_id: String,
    pub expires_at: String,
    pub user: User,
}

/// `GET /auth/whoami`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct WhoAmI {
    pub user: User,
    pub login_id: String,
    pub provider: String,
    pub expires_at: String,
}

/// One login session.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct LoginSession {
    pub id: String,
    pub user_id: String,
    pub email: String,
    pub provider: String,
    pub expires_at: String,
    /// Whether this is the caller's own current login.
    pub current: bool,
}

/// `GET /auth/sessions`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct LoginSessions {
    pub sessions: Vec<LoginSession>,
}

/// `DELETE /auth/sessions?email=…` query.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeQuery {
    pub email: String,
}

/// The answer to a revoke-all.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Revoked {
    pub revoked: usize,
}

/// `GET /users`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Users {
    pub users: Vec<User>,
}

/// `POST /users`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Without a password the user can't log in locally until one is set.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `PATCH /users/{id}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

/// `POST /users/{id}/disable`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableUser {
    #[serde(default)]
    pub reason: String,
}

/// A role.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Role {
    pub name: String,
    pub description: String,
    pub built_in: bool,
    pub allow: RuleDocument,
    pub deny: RuleDocument,
}

/// `GET /roles`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Roles {
    pub roles: Vec<Role>,
}

/// A role binding.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Binding {
    pub provider: String,
    pub email: String,
    pub role: String,
}

/// `POST /role-bindings`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingRequest {
    /// Identity provider (default `local`).
    #[serde(default)]
    pub provider: Option<String>,
    pub email: String,
    pub role: String,
}

/// `DELETE /role-bindings` query.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingQuery {
    #[serde(default)]
    pub provider: Option<String>,
    pub email: String,
    pub role: String,
}

/// `GET /role-bindings`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Bindings {
    pub bindings: Vec<Binding>,
}

/// A join token (never its value).
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct JoinToken {
    pub id: String,
    pub name: String,
    pub expires_at: String,
    pub max_uses: u32,
    pub uses: u32,
    pub labels: BTreeMap<String, String>,
    pub revoked: bool,
}

/// `GET /join-tokens`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct JoinTokens {
    pub join_tokens: Vec<JoinToken>,
}

/// `POST /join-tokens`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateJoinToken {
    pub name: String,
    /// Lifetime, e.g. `1h` (default 1h, at most 30d).
    #[serde(default)]
    pub ttl: Option<String>,
    /// How many agents may join with it (default 1).
    #[serde(default)]
    pub max_uses: Option<u32>,
    /// Labels given to agents that join with it.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The answer to `POST /join-tokens`: the only time the value is shown.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct CreatedJoinToken {
    #[serde(flatten)]
    pub join_token: JoinToken,
    pub token: String,
}

/// `POST /agents/join`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The join token value.
    pub token: String,
    /// The agent's name (a resource-name token, e.g. `edge-1`).
    pub name: String,
    /// PEM certificate signing request for the agent's own key.
    pub csr: String,
}

/// `POST /agents/renew`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    /// The agent's current certificate (PEM).
    pub certificate: String,
    /// PEM CSR for the same key.
    pub csr: String,
}

/// An agent certificate, with the CA to trust.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct AgentCertificate {
    pub agent_id: String,
    pub certificate: String,
    pub ca_certificate: String,
    pub not_after: String,
}

/// `POST /bridges/enroll`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BridgeEnrollRequest {
    /// The API's `bridge_bootstrap_token`.
    pub token: String,
    /// The bridge's id (`[a-z0-9_-]`, up to 64), named by session certificates.
    pub bridge_id: String,
    /// DNS names or IP addresses clients dial the bridge by (1 to 16).
    pub names: Vec<String>,
    /// PEM certificate signing request for the bridge's own key.
    pub csr: String,
}

/// `POST /bridges/renew`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BridgeRenewRequest {
    /// The bridge's id; the certificate must name it.
    pub bridge_id: String,
    /// The bridge's current certificate (PEM).
    pub certificate: String,
    /// DNS names or IP addresses for the new certificate (1 to 16).
    pub names: Vec<String>,
    /// PEM CSR for the same key.
    pub csr: String,
}

/// A bridge server certificate, with the CA to trust.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct BridgeCertificate {
    pub bridge_id: String,
    pub certificate: String,
    pub ca_certificate: String,
    pub not_after: String,
}

/// A bridge, from its heartbeats.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Bridge {
    pub id: String,
    /// QUIC `host:port` clients and agents dial.
    pub address: String,
    /// DNS name its certificate is verified by.
    pub server_name: String,
    /// Paired sessions at the last heartbeat.
    pub sessions: u32,
    /// Sessions waiting for their other side at the last heartbeat.
    pub pending: u32,
    /// A draining bridge takes no new sessions.
    pub draining: bool,
    /// Whether its last heartbeat is still within its TTL.
    pub online: bool,
    /// When this replica received its last heartbeat (RFC 3339).
    pub last_heartbeat: String,
}

/// `GET /bridges`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Bridges {
    pub bridges: Vec<Bridge>,
}

/// An agent.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub online: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat: Option<String>,
    /// Resources it advertises now (0 when offline).
    pub resources: usize,
}

/// `GET /agents`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Agents {
    pub agents: Vec<Agent>,
}

/// A resource the caller may reach.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Resource {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub labels: BTreeMap<String, String>,
    pub agent_id: String,
    pub agent_name: String,
}

/// `GET /resources`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Resources {
    pub resources: Vec<Resource>,
}

/// The error shape.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code (docs/api.md).
    pub code: String,
    pub message: String,
}

/// `POST /connect`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectRequest {
    /// The resource's name, as `GET /resources` lists it.
    pub resource: String,
    /// PEM CSR for a fresh key of the client's; the session certificate is
    /// signed for that key.
    pub csr: String,
}

/// The answer to `POST /connect`: where to dial and with what certificate.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Connected {
    pub session_id: String,
    pub resource: String,
    pub resource_type: String,
    pub bridge_id: String,
    /// QUIC address of the bridge (`host:port`).
    pub bridge_addr: String,
    /// The name to verify the bridge's certificate by.
    pub bridge_server_name: String,
    /// PEM client session certificate (30 s to connect).
    pub certificate: String,
    /// PEM CA certificate, to verify the bridge.
    pub ca_certificate: String,
    /// When the session certificate expires.
    pub expires_at: String,
}

/// An open tunnel session.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct TunnelSession {
    pub id: String,
    pub user_id: String,
    /// The user's e-mail (empty when the user no longer exists).
    pub email: String,
    pub resource: String,
    /// `requested`, `granted` or `connected`.
    pub state: String,
}

/// `GET /sessions`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct TunnelSessions {
    pub sessions: Vec<TunnelSession>,
}

/// One change of a tunnel session, as `GET /sessions/watch` streams it (the
/// `data:` of an SSE `session` event): the session after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionChange {
    /// `BAMF_EVENTS` sequence of the change (the SSE `id:` of a live change;
    /// for a snapshot row, of the session's last event before the snapshot).
    pub seq: u64,
    /// Part of the snapshot sent on connect, not a live change.
    pub snapshot: bool,
    /// The event that made the change, e.g. `session.granted`.
    pub event: String,
    pub session_id: String,
    pub user_id: String,
    /// The user's e-mail (as at the request when the user no longer exists).
    pub email: String,
    pub resource: String,
    pub resource_type: String,
    /// Empty until granted.
    pub agent_id: String,
    /// The agent's name, when this replica knows it.
    pub agent_name: String,
    /// Empty until granted.
    pub bridge_id: String,
    /// `requested`, `granted`, `denied`, `connected` or `closed`.
    pub state: String,
    /// RFC 3339 time of `session.requested`.
    pub started_at: String,
    /// RFC 3339 time of this change (the event envelope's `time`).
    pub changed_at: String,
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Why it was denied or closed; empty otherwise.
    pub reason: String,
}

/// The `data:` of the SSE `ready` event: the snapshot (if any) is complete
/// and live changes follow from `seq + 1`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WatchReady {
    pub seq: u64,
    /// Rows the snapshot held (0 when resuming).
    pub snapshot: usize,
}

/// Who caused an audit record (the envelope's `actor`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditActor {
    /// `user`, `agent`, `bridge` or `system`.
    pub kind: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The client's IP address (the envelope's `actor.ip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// What an audit record is about (the envelope's `subject`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditTarget {
    /// The type's aggregate, e.g. `session`.
    pub kind: String,
    pub id: String,
}

/// One audit record as `GET /audit` answers it and `GET /audit/stream`
/// streams it (the `data:` of an SSE `record` event): the stable fields of
/// docs/audit.md, and the record itself.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct AuditRecord {
    /// `BAMF_AUDIT` stream sequence.
    pub seq: u64,
    /// RFC 3339 time of the record.
    pub time: String,
    /// The record's type, e.g. `session.granted`.
    pub action: String,
    /// `success` or `failure`.
    pub outcome: String,
    pub actor: AuditActor,
    pub target: AuditTarget,
    /// The resource it concerns, when it concerns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Why, for the types that say (docs/audit.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The record verbatim, as stored in `BAMF_AUDIT` (schemas/audit/record.json).
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub record: Box<serde_json::value::RawValue>,
}

/// `GET /audit`: a page of records, newest first.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
    /// The `BAMF_AUDIT` sequence the search reflected: later records are not
    /// in it yet (`GET /audit/stream?after=<as_of_seq>` streams them).
    pub as_of_seq: u64,
}

/// The `data:` of the SSE `ready` event of `GET /audit/stream`: records
/// follow from `seq + 1`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AuditStreamReady {
    pub seq: u64,
}

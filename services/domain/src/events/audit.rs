//! Audit-only records (ARCHITECTURE §2, stream `BAMF_AUDIT`): things a SIEM
//! must see that change no state — failed logins, refused requests, password
//! changes. They use the same envelope as domain events but are published on
//! `bamf.audit.<category>.<action>` (never `BAMF_EVENTS`), so no projection
//! folds them; see [`super::Event::is_audit_only`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A login attempt failed (subject: a fresh id per attempt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginFailed {
    /// The e-mail that was presented (normalised when it parses, else as typed,
    /// cut to 254 characters).
    pub email: String,
    /// Identity provider, e.g. `local`.
    pub provider: String,
    /// `unknown_user`, `wrong_password`, `user_disabled` or `throttled`.
    pub reason: String,
}

/// A request was refused by RBAC or authentication (subject: a fresh id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessDenied {
    /// What was attempted, e.g. `users.create`, `agents.renew`.
    pub action: String,
    /// What it was attempted on (a user id, role name, resource…), may be empty.
    pub target: String,
    /// The rule or check that decided, e.g. `needs the admin role`.
    pub reason: String,
}

impl AccessDenied {
    /// Action of a refused `POST /api/v1/connect`; the target is the resource.
    pub const SESSIONS_CONNECT: &'static str = "sessions.connect";
    /// Action of a connection the bridge refused although its certificate
    /// verified; the target is the tunnel session.
    pub const BRIDGE_CONNECT: &'static str = "bridge.connect";
}

/// An administrator killed an open tunnel session, and its bridge closed
/// it (subject: the session; actor: the administrator). The bridge's own
/// `session.closed` follows in `BAMF_EVENTS` with reason `killed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionKilled {
    /// The bridge that closed the session.
    pub bridge_id: crate::AggregateId,
}

/// A user's password was set or changed (never the hash; subject: the user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChanged {}

/// A signed seal over the `BAMF_AUDIT` records since the previous seal
/// (tamper evidence; subject: a fresh id; actor: the sealing API, `system`).
/// Published on `bamf.audit.audit.sealed` by one API replica at a time; see
/// `docs/audit.md` and [`crate::seal`] for how it is computed and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditSealed {
    /// First `BAMF_AUDIT` sequence covered (the previous seal's `last_seq + 1`).
    pub first_seq: u64,
    /// Last `BAMF_AUDIT` sequence covered, fixed when the seal was started.
    pub last_seq: u64,
    /// Number of records covered (`last_seq - first_seq + 1`).
    pub record_count: u64,
    /// SHA-256 over (`prev_digest` ‖ each covered record's raw payload bytes, in
    /// sequence order): the chain head after this seal.
    pub digest: super::Sha256Hex,
    /// Stream sequence of the previous seal; 0 for the first seal.
    pub prev_seal_seq: u64,
    /// The previous seal's `digest`; 64 zeros for the first seal.
    pub prev_digest: super::Sha256Hex,
    /// SHA-256 of each covered record's payload, in sequence order, so a
    /// verifier can name the altered record (the signature covers `digest`,
    /// which these must reproduce).
    pub record_digests: Vec<super::Sha256Hex>,
    /// Signature algorithm: `ed25519`.
    pub algorithm: String,
    /// First 16 hex characters of the SHA-256 of the raw public key.
    pub key_id: String,
    /// The signing public key: SubjectPublicKeyInfo DER, base64 (the body of
    /// its PEM file). Informative only: verify with a key obtained out of band.
    pub public_key: String,
    /// Signature over the 32 raw bytes of `digest`, base64.
    pub signature: String,
}

//! The event catalogue: one variant per `(type, version)`, each with a small,
//! explicit data struct. Data structs reject unknown fields, so decoding a
//! payload *is* validating it against its schema (the schemas in `schemas/`
//! are generated from these same types; see `crate::schema`).
//!
//! Changing a data shape means a new version (a new variant) — never an edit of
//! a published one; the schema drift test catches edits.

mod agent;
mod audit;
mod common;
mod examples;
mod login;
mod outcome;
mod role;
mod session;
mod user;

pub use agent::*;
pub use audit::*;
pub use common::*;
pub use examples::examples;
pub use login::*;
pub use outcome::*;
pub use role::*;
pub use session::*;
pub use user::*;

/// Why a `(type, version, data)` triple could not be decoded into an [`Event`].
#[derive(Debug, thiserror::Error)]
pub enum EventDecodeError {
    /// No such type and version in the catalogue.
    #[error("unknown event type {event_type:?} version {version}")]
    Unknown { event_type: String, version: u32 },
    /// The data does not match the type's schema.
    #[error("data of {event_type} v{version} does not match its schema")]
    InvalidData {
        event_type: &'static str,
        version: u32,
        #[source]
        source: serde_json::Error,
    },
}

/// One entry of the catalogue, for schema export and documentation.
pub struct CatalogueEntry {
    pub event_type: &'static str,
    pub version: u32,
    /// Generates the JSON Schema of the data.
    pub schema: fn() -> schemars::Schema,
}

macro_rules! catalogue {
    ($( $(#[$doc:meta])* $variant:ident => ($ty:literal, $ver:literal, $data:ty) ),* $(,)?) => {
        /// A typed domain event (the `type`, `version` and `data` of an envelope).
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Event {
            $( $(#[$doc])* $variant($data), )*
        }

        impl Event {
            /// The `type`, e.g. `session.granted`.
            pub fn event_type(&self) -> &'static str {
                match self { $( Event::$variant(_) => $ty, )* }
            }

            /// The schema version of the data.
            pub fn version(&self) -> u32 {
                match self { $( Event::$variant(_) => $ver, )* }
            }

            /// Serializes only the data.
            pub fn serialize_data<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::Serialize;
                match self { $( Event::$variant(d) => d.serialize(s), )* }
            }

            /// Decodes the data of `(event_type, version)` strictly.
            pub fn decode(event_type: &str, version: u32, data: &str) -> Result<Event, EventDecodeError> {
                match (event_type, version) {
                    $( ($ty, $ver) => serde_json::from_str::<$data>(data)
                        .map(Event::$variant)
                        .map_err(|source| EventDecodeError::InvalidData { event_type: $ty, version: $ver, source }), )*
                    _ => Err(EventDecodeError::Unknown { event_type: event_type.to_string(), version }),
                }
            }
        }

        /// Every `(type, version)` the log may hold.
        pub const CATALOGUE: &[CatalogueEntry] = &[
            $( CatalogueEntry { event_type: $ty, version: $ver, schema: || schemars::schema_for!($data) }, )*
        ];
    };
}

catalogue! {
    UserCreated => ("user.created", 1, UserCreated),
    UserUpdated => ("user.updated", 1, UserUpdated),
    UserDisabled => ("user.disabled", 1, UserDisabled),
    UserDeleted => ("user.deleted", 1, UserDeleted),
    LoginSucceeded => ("login.succeeded", 1, LoginSucceeded),
    LoginRevoked => ("login.revoked", 1, LoginRevoked),
    RoleCreated => ("role.created", 1, RoleCreated),
    RoleUpdated => ("role.updated", 1, RoleUpdated),
    RoleDeleted => ("role.deleted", 1, RoleDeleted),
    RoleBindingCreated => ("role_binding.created", 1, RoleBindingCreated),
    RoleBindingDeleted => ("role_binding.deleted", 1, RoleBindingDeleted),
    JoinTokenCreated => ("join_token.created", 1, JoinTokenCreated),
    JoinTokenUsed => ("join_token.used", 1, JoinTokenUsed),
    JoinTokenRevoked => ("join_token.revoked", 1, JoinTokenRevoked),
    AgentJoined => ("agent.joined", 1, AgentJoined),
    AgentDeleted => ("agent.deleted", 1, AgentDeleted),
    SessionRequested => ("session.requested", 1, SessionRequested),
    SessionGranted => ("session.granted", 1, SessionGranted),
    SessionDenied => ("session.denied", 1, SessionDenied),
    SessionConnected => ("session.connected", 1, SessionConnected),
    SessionClosed => ("session.closed", 1, SessionClosed),
    CertIssued => ("cert.issued", 1, CertIssued),
    LoginFailed => ("login.failed", 1, LoginFailed),
    AccessDenied => ("access.denied", 1, AccessDenied),
    PasswordChanged => ("user.password_changed", 1, PasswordChanged),
    SessionKilled => ("session.killed", 1, SessionKilled),
    AuditSealed => ("audit.sealed", 1, AuditSealed),
}

/// Types that are only ever published to `bamf.audit.<category>.<action>`.
pub const AUDIT_ONLY: &[&str] = &[
    "login.failed",
    "access.denied",
    "user.password_changed",
    "session.killed",
    "audit.sealed",
];

impl Event {
    /// The aggregate kind: the part of the type before the first dot.
    pub fn aggregate(&self) -> &'static str {
        split_type(self.event_type()).0
    }

    /// Whether this is an audit-only record (never appended to `BAMF_EVENTS`).
    pub fn is_audit_only(&self) -> bool {
        AUDIT_ONLY.contains(&self.event_type())
    }

    /// The event name within the aggregate: the part after the first dot.
    pub fn name(&self) -> &'static str {
        split_type(self.event_type()).1
    }
}

/// Every catalogue type is `<aggregate>.<event>`; checked by a test.
fn split_type(t: &'static str) -> (&'static str, &'static str) {
    t.split_once('.').unwrap_or((t, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subject::validate_token;

    #[test]
    fn every_type_is_aggregate_dot_event_with_valid_tokens() {
        let mut seen = std::collections::BTreeSet::new();
        for e in CATALOGUE {
            let (agg, name) = e.event_type.split_once('.').expect("type has a dot");
            validate_token(agg).unwrap();
            validate_token(name).unwrap();
            assert!(
                seen.insert((e.event_type, e.version)),
                "duplicate {}",
                e.event_type
            );
        }
    }

    #[test]
    fn unknown_versions_and_extra_fields_are_refused() {
        assert!(matches!(
            Event::decode("user.deleted", 9, "{}"),
            Err(EventDecodeError::Unknown { version: 9, .. })
        ));
        assert!(matches!(
            Event::decode("user.deleted", 1, r#"{"x":1}"#),
            Err(EventDecodeError::InvalidData { .. })
        ));
        assert!(Event::decode("user.deleted", 1, "{}").is_ok());
    }
}

//! How each record reads in the audit trail: its outcome and, where it has
//! one, the data field that says why. Both matches are exhaustive on purpose:
//! a new event type does not compile until someone decides how a SIEM sees it
//! (`schemas/audit/` is generated from these answers).

use serde::Serialize;

use super::Event;

/// Whether the action a record describes succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    /// The wire name (`success`, `failure`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

impl Event {
    /// The outcome of the action this record describes.
    pub fn outcome(&self) -> Outcome {
        use Outcome::{Failure, Success};
        match self {
            Event::SessionDenied(_) | Event::LoginFailed(_) | Event::AccessDenied(_) => Failure,
            Event::UserCreated(_)
            | Event::UserUpdated(_)
            | Event::UserDisabled(_)
            | Event::UserDeleted(_)
            | Event::LoginSucceeded(_)
            | Event::LoginRevoked(_)
            | Event::RoleCreated(_)
            | Event::RoleUpdated(_)
            | Event::RoleDeleted(_)
            | Event::RoleBindingCreated(_)
            | Event::RoleBindingDeleted(_)
            | Event::JoinTokenCreated(_)
            | Event::JoinTokenUsed(_)
            | Event::JoinTokenRevoked(_)
            | Event::AgentJoined(_)
            | Event::AgentDeleted(_)
            | Event::SessionRequested(_)
            | Event::SessionGranted(_)
            | Event::SessionConnected(_)
            | Event::SessionClosed(_)
            | Event::CertIssued(_)
            | Event::PasswordChanged(_)
            | Event::SessionKilled(_)
            | Event::AuditSealed(_) => Success,
        }
    }

    /// The field of `data` that says why, if the type has one.
    pub fn reason_field(&self) -> Option<&'static str> {
        match self {
            Event::UserDisabled(_)
            | Event::LoginRevoked(_)
            | Event::JoinTokenRevoked(_)
            | Event::SessionDenied(_)
            | Event::SessionClosed(_)
            | Event::LoginFailed(_)
            | Event::AccessDenied(_) => Some("reason"),
            Event::UserCreated(_)
            | Event::UserUpdated(_)
            | Event::UserDeleted(_)
            | Event::LoginSucceeded(_)
            | Event::RoleCreated(_)
            | Event::RoleUpdated(_)
            | Event::RoleDeleted(_)
            | Event::RoleBindingCreated(_)
            | Event::RoleBindingDeleted(_)
            | Event::JoinTokenCreated(_)
            | Event::JoinTokenUsed(_)
            | Event::AgentJoined(_)
            | Event::AgentDeleted(_)
            | Event::SessionRequested(_)
            | Event::SessionGranted(_)
            | Event::SessionConnected(_)
            | Event::CertIssued(_)
            | Event::PasswordChanged(_)
            | Event::SessionKilled(_)
            | Event::AuditSealed(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::examples;

    /// A type declares its reason field exactly when its data has one.
    #[test]
    fn reason_fields_exist() {
        for event in examples() {
            let data = event
                .serialize_data(serde_json::value::Serializer)
                .expect("data serializes");
            assert_eq!(
                event.reason_field(),
                data.get("reason").map(|_| "reason"),
                "{}",
                event.event_type()
            );
        }
    }
}

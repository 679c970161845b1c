//! The OCSF 1.3.0 event classes and activities bamf records map to: uids and
//! captions exactly as the schema defines them (`type_uid` and `type_name`
//! are derived here, never written by hand).

/// `activity_id` 99: the schema's "Other", whose `activity_name` is the
/// source's own label.
const OTHER: u32 = 99;

/// An OCSF event class used by the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// Account Change [3001].
    AccountChange,
    /// Authentication [3002].
    Authentication,
    /// Authorize Session [3003].
    AuthorizeSession,
    /// Entity Management [3004].
    EntityManagement,
    /// User Access Management [3005].
    UserAccess,
    /// Network Activity [4001].
    NetworkActivity,
    /// API Activity [6003].
    ApiActivity,
}

impl Class {
    /// `class_uid`.
    pub(super) fn uid(self) -> u32 {
        match self {
            Class::AccountChange => 3001,
            Class::Authentication => 3002,
            Class::AuthorizeSession => 3003,
            Class::EntityManagement => 3004,
            Class::UserAccess => 3005,
            Class::NetworkActivity => 4001,
            Class::ApiActivity => 6003,
        }
    }

    /// `class_name`.
    pub(super) fn name(self) -> &'static str {
        match self {
            Class::AccountChange => "Account Change",
            Class::Authentication => "Authentication",
            Class::AuthorizeSession => "Authorize Session",
            Class::EntityManagement => "Entity Management",
            Class::UserAccess => "User Access Management",
            Class::NetworkActivity => "Network Activity",
            Class::ApiActivity => "API Activity",
        }
    }

    /// `(category_uid, category_name)`.
    pub(super) fn category(self) -> (u32, &'static str) {
        match self {
            Class::AccountChange
            | Class::Authentication
            | Class::AuthorizeSession
            | Class::EntityManagement
            | Class::UserAccess => (3, "Identity & Access Management"),
            Class::NetworkActivity => (4, "Network Activity"),
            Class::ApiActivity => (6, "Application Activity"),
        }
    }

    /// Whether `src_endpoint` means "where the request came from" (so the
    /// actor's address belongs there). In Network Activity it is the
    /// initiator of the connection, which the actor of a bamf record (a
    /// bridge, or the administrator who killed a session) is not.
    pub(super) fn src_endpoint_is_requester(self) -> bool {
        !matches!(self, Class::NetworkActivity)
    }
}

/// An `activity_id` with its caption (and, for Other, the source's label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Activity {
    pub(super) id: u32,
    /// The schema's caption, used in `type_name`.
    pub(super) caption: &'static str,
    /// For Other (99): the label that goes in `activity_name`.
    label: Option<String>,
}

impl Activity {
    const fn known(id: u32, caption: &'static str) -> Self {
        Activity {
            id,
            caption,
            label: None,
        }
    }

    /// Other (99), named by the source's own label.
    pub(super) fn other(label: impl Into<String>) -> Self {
        Activity {
            id: OTHER,
            caption: "Other",
            label: Some(label.into()),
        }
    }

    /// `activity_name`.
    pub(super) fn name(&self) -> &str {
        self.label.as_deref().unwrap_or(self.caption)
    }
}

/// Account Change [3001] activities.
pub(super) mod account_change {
    use super::Activity;
    pub(in super::super) const CREATE: Activity = Activity::known(1, "Create");
    pub(in super::super) const PASSWORD_CHANGE: Activity = Activity::known(3, "Password Change");
    pub(in super::super) const DISABLE: Activity = Activity::known(5, "Disable");
    pub(in super::super) const DELETE: Activity = Activity::known(6, "Delete");
}

/// Authentication [3002] activities.
pub(super) mod authentication {
    use super::Activity;
    pub(in super::super) const LOGON: Activity = Activity::known(1, "Logon");
    pub(in super::super) const LOGOFF: Activity = Activity::known(2, "Logoff");
    /// `auth_protocol_id` Other: bamf's methods (`password`, …) have no id.
    pub(in super::super) const AUTH_PROTOCOL_OTHER: u32 = 99;
}

/// Authorize Session [3003] activities.
pub(super) mod authorize_session {
    use super::Activity;
    pub(in super::super) const ASSIGN_PRIVILEGES: Activity =
        Activity::known(1, "Assign Privileges");
}

/// Entity Management [3004] activities.
pub(super) mod entity_management {
    use super::Activity;
    pub(in super::super) const CREATE: Activity = Activity::known(1, "Create");
    pub(in super::super) const UPDATE: Activity = Activity::known(3, "Update");
    pub(in super::super) const DELETE: Activity = Activity::known(4, "Delete");
    pub(in super::super) const ENROLL: Activity = Activity::known(6, "Enroll");
    pub(in super::super) const DISABLE: Activity = Activity::known(9, "Disable");
}

/// User Access Management [3005] activities.
pub(super) mod user_access {
    use super::Activity;
    pub(in super::super) const ASSIGN_PRIVILEGES: Activity =
        Activity::known(1, "Assign Privileges");
    pub(in super::super) const REVOKE_PRIVILEGES: Activity =
        Activity::known(2, "Revoke Privileges");
}

/// Network Activity [4001] activities and connection attributes.
pub(super) mod network_activity {
    use super::Activity;
    pub(in super::super) const OPEN: Activity = Activity::known(1, "Open");
    pub(in super::super) const CLOSE: Activity = Activity::known(2, "Close");
    /// "Abnormally terminated or closed by a middle device": the bridge, on
    /// an administrator's order.
    pub(in super::super) const RESET: Activity = Activity::known(3, "Reset");
    /// `connection_info.direction_id` Inbound: a user outside reaches a
    /// service inside, through the bridge.
    pub(in super::super) const DIRECTION_INBOUND: (u32, &str) = (1, "Inbound");
}

/// API Activity [6003] activities.
pub(super) mod api_activity {
    use super::Activity;
    pub(in super::super) const CREATE: Activity = Activity::known(1, "Create");
    pub(in super::super) const READ: Activity = Activity::known(2, "Read");
    pub(in super::super) const UPDATE: Activity = Activity::known(3, "Update");
    pub(in super::super) const DELETE: Activity = Activity::known(4, "Delete");
}

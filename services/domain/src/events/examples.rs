//! One example of every catalogue entry, deterministic: used by the schema
//! agreement test, by `bamf-events` tests and by the benchmark's event mix.

use super::*;
use crate::{AggregateId, Timestamp};

fn id(n: u64) -> AggregateId {
    AggregateId::from_ulid(ulid::Ulid::from_parts(1_700_000_000_000 + n, u128::from(n)))
}

fn digest(n: u8) -> Sha256Hex {
    // 64 lowercase hex characters.
    Sha256Hex::new(format!("{n:02x}").repeat(32)).expect("64 hex characters")
}

fn at(n: i64) -> Timestamp {
    Timestamp::from_unix_micros(1_790_000_000_000_000 + n)
}

/// An example of each `(type, version)`, in catalogue order.
pub fn examples() -> Vec<Event> {
    let label = Label {
        key: "env".into(),
        value: "prod".into(),
    };
    let rules = RoleRules {
        resource_names: vec!["orders-db".into()],
        labels: vec![label.clone()],
        kubernetes_groups: vec![],
    };
    vec![
        Event::UserCreated(UserCreated {
            email: "alice@corp.example".into(),
            display_name: "Alice".into(),
            roles: vec!["everyone".into()],
        }),
        Event::UserUpdated(UserUpdated {
            email: None,
            display_name: Some("Alice A.".into()),
        }),
        Event::UserDisabled(UserDisabled {
            reason: "left".into(),
        }),
        Event::UserDeleted(UserDeleted {}),
        Event::LoginSucceeded(LoginSucceeded {
            user_id: id(1),
            email: "alice@corp.example".into(),
            provider: "local".into(),
            token_digest: digest(0xab),
            method: "password".into(),
            expires_at: at(3_600_000_000),
        }),
        Event::LoginRevoked(LoginRevoked {
            token_digest: digest(0xab),
            reason: "logout".into(),
        }),
        Event::RoleCreated(RoleCreated {
            name: "dba".into(),
            description: "database admins".into(),
            allow: rules.clone(),
            deny: RoleRules::default(),
        }),
        Event::RoleUpdated(RoleUpdated {
            description: "database admins".into(),
            allow: rules,
            deny: RoleRules::default(),
        }),
        Event::RoleDeleted(RoleDeleted {}),
        Event::RoleBindingCreated(RoleBindingCreated {
            provider: "local".into(),
            email: "alice@corp.example".into(),
            role: "dba".into(),
        }),
        Event::RoleBindingDeleted(RoleBindingDeleted {
            provider: "local".into(),
            email: "alice@corp.example".into(),
            role: "dba".into(),
        }),
        Event::JoinTokenCreated(JoinTokenCreated {
            name: "rack-7".into(),
            token_digest: digest(0x01),
            max_uses: 1,
            expires_at: at(86_400_000_000),
            labels: vec![label.clone()],
        }),
        Event::JoinTokenUsed(JoinTokenUsed {
            agent_id: id(2),
            use_number: 1,
        }),
        Event::JoinTokenRevoked(JoinTokenRevoked {
            reason: "rotated".into(),
        }),
        Event::AgentJoined(AgentJoined {
            name: "rack-7-a".into(),
            join_token_id: id(3),
            labels: vec![label],
        }),
        Event::AgentDeleted(AgentDeleted {}),
        Event::SessionRequested(SessionRequested {
            user_id: id(1),
            resource: "orders-db".into(),
            resource_type: "postgres".into(),
        }),
        Event::SessionGranted(SessionGranted {
            bridge_id: id(4),
            agent_id: id(2),
            roles: vec!["dba".into()],
            expires_at: at(30_000_000),
        }),
        Event::SessionDenied(SessionDenied {
            reason: "no role allows orders-db".into(),
        }),
        Event::SessionConnected(SessionConnected { bridge_id: id(4) }),
        Event::SessionClosed(SessionClosed {
            bytes_up: 1_024,
            bytes_down: 65_536,
            reason: "client closed".into(),
        }),
        Event::CertIssued(CertIssued {
            serial: "0a1b2c3d".into(),
            kind: CertKind::SessionClient,
            subject: "alice@corp.example".into(),
            sans: vec!["bamf://session/x".into(), "bamf://side/client".into()],
            not_after: at(30_000_000),
            requester: "user:alice".into(),
        }),
        Event::LoginFailed(LoginFailed {
            email: "alice@corp.example".into(),
            provider: "local".into(),
            reason: "wrong_password".into(),
        }),
        Event::AccessDenied(AccessDenied {
            action: "users.create".into(),
            target: String::new(),
            reason: "bob@corp.example needs the admin role".into(),
        }),
        Event::PasswordChanged(PasswordChanged {}),
        Event::SessionKilled(SessionKilled {
            bridge_id: AggregateId::new("bridge-1").unwrap(),
        }),
        Event::AuditSealed(AuditSealed {
            first_seq: 1,
            last_seq: 2,
            record_count: 2,
            digest: digest(0x5e),
            prev_seal_seq: 0,
            prev_digest: digest(0x00),
            record_digests: vec![digest(0x01), digest(0x02)],
            algorithm: "ed25519".into(),
            key_id: "0123456789abcdef".into(),
            public_key: "MCowBQYDK2VwAyEA".into(),
            signature: "c2lnbmF0dXJl".into(),
        }),
    ]
}

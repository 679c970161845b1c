//! The OCSF mapping of audit records (docs/ocsf.md): every catalogue type
//! maps to a real class with a consistent type, each family to the class,
//! activity, status and attributes the document promises, and a payload
//! that does not decode to a Base Event that keeps it.

use std::net::IpAddr;

use bamf_domain::events::*;
use bamf_domain::ocsf::{record_to_ocsf, to_ocsf, OCSF_VERSION};
use bamf_domain::{Actor, ActorKind, AggregateId, Envelope, Timestamp};
use serde_json::{json, Value};

const ALICE_ID: &str = "01jd0000000000000000000001";
const ALICE: &str = "alice@corp.example";
const ALICE_IP: &str = "192.0.2.7";
/// 2026-09-21T… in microseconds; its milliseconds are `T0_MS`.
const T0_MICROS: i64 = 1_790_000_000_123_456;
const T0_MS: i64 = 1_790_000_000_123;

fn alice() -> Actor {
    Actor {
        kind: ActorKind::User,
        id: ALICE_ID.into(),
        email: Some(ALICE.into()),
        ip: Some(ALICE_IP.parse::<IpAddr>().unwrap()),
    }
}

fn bridge_actor() -> Actor {
    Actor {
        kind: ActorKind::Bridge,
        id: "bridge-1".into(),
        email: None,
        ip: None,
    }
}

fn subject() -> AggregateId {
    AggregateId::new("01jd00000000000000000000ss").unwrap()
}

fn envelope(actor: Actor, event: Event) -> Envelope {
    let mut e = Envelope::new(
        ulid::Ulid::from_parts(1_790_000_000_000, 42),
        Timestamp::from_unix_micros(T0_MICROS),
        actor,
        subject(),
        event,
    );
    e.request_id = Some("req-7".into());
    e.trace = Some(format!("00-{}-{}-01", "a".repeat(32), "b".repeat(16)));
    e
}

/// Encodes and maps through the public entry point, like the exporter.
fn ocsf(actor: Actor, event: Event) -> Value {
    let e = envelope(actor, event);
    let bytes = e.encode().expect("example encodes");
    let out = record_to_ocsf(7, &bytes);
    assert_eq!(out, to_ocsf(7, &e, &bytes), "both entry points agree");
    assert_eq!(out["raw_data"], json!(String::from_utf8(bytes).unwrap()));
    out
}

fn example(event_type: &str) -> Event {
    examples()
        .into_iter()
        .find(|e| e.event_type() == event_type)
        .unwrap_or_else(|| panic!("no example of {event_type}"))
}

/// Class, activity, type and status in one line.
fn kind(v: &Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    (
        n("class_uid"),
        n("activity_id"),
        n("type_uid"),
        n("status_id"),
    )
}

#[test]
fn every_catalogue_type_maps_to_a_class_with_a_consistent_type() {
    let all = examples();
    assert_eq!(
        all.len(),
        CATALOGUE.len(),
        "one example per catalogue entry"
    );
    for entry in CATALOGUE {
        let event = all
            .iter()
            .find(|e| e.event_type() == entry.event_type && e.version() == entry.version)
            .unwrap_or_else(|| panic!("no example of {}", entry.event_type))
            .clone();
        let e = envelope(alice(), event);
        let v = record_to_ocsf(3, &e.encode().unwrap());
        let t = entry.event_type;
        let class = v["class_uid"].as_u64().unwrap();
        let activity = v["activity_id"].as_u64().unwrap();
        assert_ne!(class, 0, "{t} maps to a real class: {v}");
        assert_eq!(v["type_uid"], json!(class * 100 + activity), "{t}");
        assert_eq!(v["category_uid"], json!(class / 1000), "{t}");
        for key in [
            "class_name",
            "category_name",
            "activity_name",
            "type_name",
            "message",
        ] {
            assert!(v[key].as_str().is_some_and(|s| !s.is_empty()), "{t}: {key}");
        }
        let type_name = v["type_name"].as_str().unwrap();
        assert!(
            type_name.starts_with(&format!("{}: ", v["class_name"].as_str().unwrap())),
            "{t}: {type_name}"
        );
        assert_eq!(v["metadata"]["uid"], json!(e.id.to_string()), "{t}");
        assert_eq!(v["metadata"]["sequence"], json!(3), "{t}");
        assert_eq!(v["metadata"]["version"], json!(OCSF_VERSION), "{t}");
        assert_eq!(v["metadata"]["event_code"], json!(t));
        assert_eq!(v["unmapped"]["bamf.type"], json!(t));
        assert_eq!(v["unmapped"]["bamf.version"], json!(entry.version));
        let outcome = e.event.outcome();
        let (status, severity) = match outcome {
            Outcome::Success => (1, 1),
            Outcome::Failure => (2, 3),
        };
        assert_eq!(v["status_id"], json!(status), "{t}");
        assert_eq!(v["severity_id"], json!(severity), "{t}");
        // The reason, where the type has one, is the status detail.
        if let Some(field) = e.event.reason_field() {
            assert_eq!(v["status_detail"], v["unmapped"]["bamf.data"][field], "{t}");
        }
    }
}

#[test]
fn common_attributes_come_from_the_envelope() {
    let v = ocsf(alice(), example("login.succeeded"));
    assert_eq!(v["time"], json!(T0_MS));
    assert_eq!(v["time_dt"], json!("2026-09-21T14:13:20.123456Z"));
    let m = &v["metadata"];
    assert_eq!(m["original_time"], v["time_dt"]);
    assert_eq!(m["correlation_uid"], json!("req-7"));
    assert_eq!(m["log_name"], json!("BAMF_AUDIT"));
    assert_eq!(
        m["product"],
        json!({"name": "bamf", "vendor_name": "bamf", "version": env!("CARGO_PKG_VERSION")})
    );
    assert_eq!(m["profiles"], json!(["datetime", "host"]));
    assert_eq!(
        v["actor"],
        json!({"user": {"uid": ALICE_ID, "email_addr": ALICE}})
    );
    assert_eq!(v["src_endpoint"], json!({"ip": ALICE_IP}));
    assert_eq!(v["severity"], json!("Informational"));
    assert_eq!(v["status"], json!("Success"));
    let u = &v["unmapped"];
    assert_eq!(
        u["bamf.subject"],
        json!({"kind": "login", "id": subject().as_str()})
    );
    assert_eq!(u["bamf.actor"]["kind"], json!("user"));
    assert_eq!(
        u["bamf.trace"],
        json!(format!("00-{}-{}-01", "a".repeat(32), "b".repeat(16)))
    );
    assert_eq!(u["bamf.data"]["method"], json!("password"));

    // Without a request there is no correlation id; bamf's own programs
    // are applications, not users.
    let mut e = envelope(Actor::system(), example("user.deleted"));
    e.request_id = None;
    let v = record_to_ocsf(1, &e.encode().unwrap());
    assert!(v["metadata"].get("correlation_uid").is_none(), "{v}");
    assert_eq!(v["actor"], json!({"app_name": "bamf", "app_uid": "bamf"}));
    assert!(v.get("src_endpoint").is_none());
    let v = ocsf(bridge_actor(), example("session.connected"));
    assert_eq!(
        v["actor"],
        json!({"app_name": "bamf-bridge", "app_uid": "bridge-1"})
    );
}

#[test]
fn logins_are_authentication_events() {
    let v = ocsf(alice(), example("login.succeeded"));
    assert_eq!(kind(&v), (3002, 1, 300201, 1));
    assert_eq!(v["activity_name"], json!("Logon"));
    assert_eq!(v["type_name"], json!("Authentication: Logon"));
    assert_eq!(v["category_name"], json!("Identity & Access Management"));
    assert_eq!(v["user"]["email_addr"], json!(ALICE));
    assert_eq!(v["auth_protocol_id"], json!(99));
    assert_eq!(v["auth_protocol"], json!("password"));
    assert_eq!(v["service"], json!({"name": "bamf"}));
    assert_eq!(v["session"]["uid"], json!(subject().as_str()));
    assert!(v["session"]["expiration_time"].as_i64().unwrap() > T0_MS / 2);
    assert_eq!(v["src_endpoint"]["ip"], json!(ALICE_IP));

    // A failed login: failure, with the reason; the presented name is kept
    // even when it is not an address.
    let anonymous = Actor {
        id: "anonymous".into(),
        ..alice()
    };
    let v = ocsf(anonymous.clone(), example("login.failed"));
    assert_eq!(kind(&v), (3002, 1, 300201, 2));
    assert_eq!(v["status"], json!("Failure"));
    assert_eq!(v["severity_id"], json!(3));
    assert_eq!(v["status_detail"], json!("wrong_password"));
    assert_eq!(v["user"], json!({"name": ALICE, "email_addr": ALICE}));
    assert_eq!(v["auth_protocol"], json!("password"));
    let typed = Event::LoginFailed(LoginFailed {
        email: "not an address".into(),
        provider: "local".into(),
        reason: "unknown_user".into(),
    });
    let v = ocsf(anonymous, typed);
    assert_eq!(v["user"], json!({"name": "not an address"}));

    // Logout: Logoff by the login's owner.
    let v = ocsf(alice(), example("login.revoked"));
    assert_eq!(kind(&v), (3002, 2, 300202, 1));
    assert_eq!(v["status_detail"], json!("logout"));
    assert_eq!(v["user"]["uid"], json!(ALICE_ID));
    assert_eq!(v["session"], json!({"uid": subject().as_str()}));
    // Revoked by someone else: the actor is not presented as the owner.
    let revoke_all = Event::LoginRevoked(LoginRevoked {
        token_digest: Sha256Hex::new("ab".repeat(32)).unwrap(),
        reason: "revoked_all".into(),
    });
    let v = ocsf(alice(), revoke_all);
    assert!(v.get("user").is_none(), "{v}");
    assert_eq!(v["actor"]["user"]["uid"], json!(ALICE_ID));
}

#[test]
fn session_decisions_are_authorize_session_events() {
    let v = ocsf(alice(), example("session.requested"));
    assert_eq!(kind(&v), (3003, 99, 300399, 1));
    assert_eq!(v["activity_name"], json!("Request"));
    assert_eq!(v["type_name"], json!("Authorize Session: Other"));
    assert_eq!(v["dst_endpoint"], json!({"name": "orders-db"}));
    assert_eq!(v["session"]["uid"], json!(subject().as_str()));
    assert_eq!(
        v["unmapped"]["bamf.data"]["resource_type"],
        json!("postgres")
    );

    let v = ocsf(alice(), example("session.granted"));
    assert_eq!(kind(&v), (3003, 1, 300301, 1));
    assert_eq!(v["activity_name"], json!("Assign Privileges"));
    assert_eq!(v["privileges"], json!(["dba"]));
    assert_eq!(v["user"], json!({"uid": ALICE_ID, "email_addr": ALICE}));
    assert!(v["session"]["expiration_time"].is_i64());

    let v = ocsf(alice(), example("session.denied"));
    assert_eq!(kind(&v), (3003, 1, 300301, 2));
    assert_eq!(v["status_detail"], json!("no role allows orders-db"));
    assert_eq!(v["severity"], json!("Medium"));
    assert_eq!(v["src_endpoint"]["ip"], json!(ALICE_IP));
}

#[test]
fn refused_requests_are_api_activity_events() {
    let v = ocsf(alice(), example("access.denied"));
    assert_eq!(kind(&v), (6003, 1, 600301, 2));
    assert_eq!(v["category_name"], json!("Application Activity"));
    assert_eq!(
        v["api"],
        json!({"operation": "users.create", "request": {"uid": "req-7"}})
    );
    assert!(v.get("resources").is_none(), "empty target: {v}");
    assert_eq!(
        v["status_detail"],
        json!("bob@corp.example needs the admin role")
    );
    assert_eq!(v["src_endpoint"]["ip"], json!(ALICE_IP));

    let connect = Event::AccessDenied(AccessDenied {
        action: "sessions.connect".into(),
        target: "orders-db".into(),
        reason: "no role allows orders-db".into(),
    });
    let v = ocsf(alice(), connect);
    assert_eq!(kind(&v), (6003, 99, 600399, 2));
    assert_eq!(v["activity_name"], json!("connect"));
    assert_eq!(v["resources"], json!([{"uid": "orders-db"}]));
    for (action, activity) in [("users.list", 2), ("roles.update", 3), ("agents.delete", 4)] {
        let e = Event::AccessDenied(AccessDenied {
            action: action.into(),
            target: String::new(),
            reason: "needs the admin role".into(),
        });
        assert_eq!(ocsf(alice(), e)["activity_id"], json!(activity), "{action}");
    }
}

#[test]
fn tunnel_sessions_are_network_activity_events() {
    let v = ocsf(bridge_actor(), example("session.connected"));
    assert_eq!(kind(&v), (4001, 1, 400101, 1));
    assert_eq!(v["category_name"], json!("Network Activity"));
    assert_eq!(
        v["connection_info"],
        json!({"uid": subject().as_str(), "direction_id": 1, "direction": "Inbound"})
    );
    let bridge_id = AggregateId::from_ulid(ulid::Ulid::from_parts(1_700_000_000_004, 4));
    assert_eq!(v["dst_endpoint"], json!({"uid": bridge_id.as_str()}));

    let v = ocsf(bridge_actor(), example("session.closed"));
    assert_eq!(kind(&v), (4001, 2, 400102, 1));
    assert_eq!(
        v["traffic"],
        json!({"bytes_out": 1024, "bytes_in": 65536, "bytes": 66560})
    );
    assert_eq!(v["dst_endpoint"], json!({"uid": "bridge-1"}));
    assert_eq!(v["status_detail"], json!("client closed"));
    assert_eq!(v["connection_info"]["uid"], json!(subject().as_str()));

    // Killed by an administrator: a reset by the middle device; the
    // administrator's address is not the connection's source.
    let v = ocsf(alice(), example("session.killed"));
    assert_eq!(kind(&v), (4001, 3, 400103, 1));
    assert_eq!(v["activity_name"], json!("Reset"));
    assert_eq!(v["dst_endpoint"], json!({"uid": "bridge-1"}));
    assert_eq!(v["actor"]["user"]["email_addr"], json!(ALICE));
    assert!(v.get("src_endpoint").is_none(), "{v}");
    assert_eq!(v["unmapped"]["bamf.actor"]["ip"], json!(ALICE_IP));
}

#[test]
fn users_are_account_change_events() {
    let cases = [
        ("user.created", 1, "Create"),
        ("user.updated", 99, "Update"),
        ("user.disabled", 5, "Disable"),
        ("user.deleted", 6, "Delete"),
        ("user.password_changed", 3, "Password Change"),
    ];
    for (t, activity, name) in cases {
        let v = ocsf(alice(), example(t));
        assert_eq!(kind(&v), (3001, activity, 300100 + activity, 1), "{t}");
        assert_eq!(v["activity_name"], json!(name), "{t}");
        assert_eq!(v["user"]["uid"], json!(subject().as_str()), "{t}");
    }
    let v = ocsf(alice(), example("user.created"));
    assert_eq!(v["user"]["email_addr"], json!(ALICE));
    assert_eq!(v["user"]["full_name"], json!("Alice"));
    let v = ocsf(alice(), example("user.updated"));
    assert_eq!(
        v["user_result"],
        json!({"uid": subject().as_str(), "full_name": "Alice A."})
    );
    let v = ocsf(alice(), example("user.disabled"));
    assert_eq!(v["status_detail"], json!("left"));
}

#[test]
fn role_bindings_are_user_access_management_events() {
    let v = ocsf(alice(), example("role_binding.created"));
    assert_eq!(kind(&v), (3005, 1, 300501, 1));
    assert_eq!(v["class_name"], json!("User Access Management"));
    assert_eq!(v["privileges"], json!(["dba"]));
    assert_eq!(v["user"], json!({"email_addr": ALICE}));
    assert_eq!(v["unmapped"]["bamf.data"]["provider"], json!("local"));
    let v = ocsf(alice(), example("role_binding.deleted"));
    assert_eq!(kind(&v), (3005, 2, 300502, 1));
    assert_eq!(v["activity_name"], json!("Revoke Privileges"));
}

#[test]
fn roles_tokens_agents_certificates_and_seals_are_entity_management_events() {
    let cases = [
        ("role.created", 1, "role"),
        ("role.updated", 3, "role"),
        ("role.deleted", 4, "role"),
        ("join_token.created", 1, "join_token"),
        ("join_token.used", 99, "join_token"),
        ("join_token.revoked", 9, "join_token"),
        ("agent.joined", 6, "agent"),
        ("agent.deleted", 4, "agent"),
        ("cert.issued", 1, "certificate"),
        ("audit.sealed", 1, "audit_seal"),
    ];
    for (t, activity, entity_type) in cases {
        let v = ocsf(Actor::system(), example(t));
        assert_eq!(kind(&v), (3004, activity, 300400 + activity, 1), "{t}");
        assert_eq!(v["entity"]["type"], json!(entity_type), "{t}");
        assert!(v["entity"]["uid"].is_string(), "{t}");
    }
    let v = ocsf(alice(), example("role.created"));
    assert_eq!(
        v["entity"],
        json!({"uid": subject().as_str(), "name": "dba", "type": "role"})
    );
    let v = ocsf(alice(), example("join_token.revoked"));
    assert_eq!(v["comment"], json!("rotated"));
    assert_eq!(v["status_detail"], json!("rotated"));
    let v = ocsf(alice(), example("agent.joined"));
    assert_eq!(v["activity_name"], json!("Enroll"));
    assert_eq!(v["entity"]["name"], json!("rack-7-a"));
    let v = ocsf(alice(), example("cert.issued"));
    assert_eq!(
        v["entity"],
        json!({"uid": "0a1b2c3d", "name": ALICE, "type": "certificate"})
    );
    // A seal's fields have no OCSF home: they stay whole under `unmapped`.
    let v = ocsf(Actor::system(), example("audit.sealed"));
    let seal = &v["unmapped"]["bamf.data"];
    assert_eq!(seal["first_seq"], json!(1));
    assert_eq!(seal["last_seq"], json!(2));
    assert_eq!(seal["algorithm"], json!("ed25519"));
    assert_eq!(seal["record_digests"].as_array().unwrap().len(), 2);
    assert_eq!(v["actor"]["app_name"], json!("bamf"));
}

#[test]
fn a_payload_that_does_not_decode_becomes_a_base_event_that_keeps_it() {
    let v = record_to_ocsf(12, b"not json \xff");
    assert_eq!(kind(&v), (0, 0, 0, 2));
    assert_eq!(v["class_name"], json!("Base Event"));
    assert_eq!(v["category_name"], json!("Uncategorized"));
    assert_eq!(v["severity_id"], json!(3));
    assert_eq!(v["status_code"], json!("not_an_envelope"));
    let detail = v["status_detail"].as_str().unwrap();
    assert!(
        detail.starts_with("record does not decode: not an event envelope: "),
        "{detail}"
    );
    assert_eq!(v["raw_data"], json!("not json \u{fffd}"));
    assert_eq!(v["metadata"]["sequence"], json!(12));
    assert_eq!(v["metadata"]["version"], json!(OCSF_VERSION));
    assert!(v["metadata"].get("uid").is_none());
    assert_eq!(v["time"], json!(0), "no readable time");

    // A record of an unknown version keeps its id and time, and says which
    // type and version were not understood.
    let e = envelope(alice(), example("session.denied"));
    let text = String::from_utf8(e.encode().unwrap()).unwrap();
    let bumped = text.replace(r#""version":1"#, r#""version":9"#);
    let v = record_to_ocsf(13, bumped.as_bytes());
    assert_eq!(kind(&v), (0, 0, 0, 2));
    assert_eq!(v["status_code"], json!("unknown_type_or_version"));
    assert_eq!(
        v["status_detail"],
        json!("record does not decode: unknown event type \"session.denied\" version 9")
    );
    assert_eq!(v["metadata"]["uid"], json!(e.id.to_string()));
    assert_eq!(v["time"], json!(T0_MS));
    assert_eq!(v["raw_data"], json!(bumped));

    // Bad data names the type and what is wrong with it.
    let broken = text.replace("reason", "cause");
    let v = record_to_ocsf(14, broken.as_bytes());
    assert_eq!(v["status_code"], json!("invalid_data"));
    let detail = v["status_detail"].as_str().unwrap();
    assert!(
        detail
            .contains("data of session.denied v1 does not match its schema: unknown field `cause`"),
        "{detail}"
    );
}

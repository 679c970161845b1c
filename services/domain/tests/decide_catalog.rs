//! Agents and the resource catalog: heartbeats, delete markers, TTL expiry,
//! RBAC-filtered listings. No I/O.

mod common;

use std::collections::BTreeMap;

use bamf_domain::control::agents::{AgentCommand, AgentDecider, AgentRejection};
use bamf_domain::control::catalog::*;
use bamf_domain::control::rbac::Principal;
use bamf_domain::control::roles::{RoleCommand, RoleDecider, Roles};
use bamf_domain::control::{given, Decider};
use bamf_domain::events::*;
use common::{at, id};
use time::Duration;

const TTL: Duration = Duration::seconds(30);

fn joined(n: u64) -> CatalogInput {
    CatalogInput::Event {
        aggregate_id: id(n),
        event: Event::AgentJoined(AgentJoined {
            name: format!("agent-{n}"),
            join_token_id: id(50),
            labels: vec![Label {
                key: "env".into(),
                value: "prod".into(),
            }],
        }),
    }
}

fn resource(name: &str, env: &str) -> AdvertisedResource {
    AdvertisedResource {
        name: name.into(),
        kind: "postgres".into(),
        labels: BTreeMap::from([
            ("env".into(), env.into()),
            ("team".into(), "payments".into()),
        ]),
    }
}

fn heartbeat(agent: u64, sent: i64, resources: Vec<AdvertisedResource>) -> CatalogInput {
    CatalogInput::Heartbeat {
        heartbeat: AgentHeartbeat {
            agent_id: id(agent),
            sent_at: at(sent),
            resources,
        },
        received_at: at(sent),
    }
}

#[test]
fn heartbeats_of_joined_agents_make_resources_with_agent_labels_winning() {
    let mut c = Catalog::default();
    c.apply(joined(1));
    assert_eq!(
        c.apply(heartbeat(1, 0, vec![resource("orders-db", "dev")])),
        Applied::Applied
    );
    let rs = c.resources(at(10), TTL);
    assert_eq!(rs.len(), 1);
    assert_eq!(
        rs[0].labels["env"], "prod",
        "the admin-set agent label overrides"
    );
    assert_eq!(rs[0].labels["team"], "payments");
    assert_eq!(rs[0].agent_name, "agent-1");
}

#[test]
fn unknown_deleted_stale_and_invalid_heartbeats_are_ignored() {
    let mut c = Catalog::default();
    assert_eq!(
        c.apply(heartbeat(9, 0, vec![])),
        Applied::IgnoredUnknownAgent
    );
    c.apply(joined(1));
    c.apply(heartbeat(1, 10, vec![resource("a", "dev")]));
    assert_eq!(
        c.apply(heartbeat(1, 5, vec![resource("b", "dev")])),
        Applied::IgnoredStale
    );
    assert_eq!(
        c.apply(heartbeat(1, 10, vec![resource("b", "dev")])),
        Applied::IgnoredStale
    );
    assert!(matches!(
        c.apply(heartbeat(
            1,
            11,
            vec![resource("a", "dev"), resource("a", "dev")]
        )),
        Applied::IgnoredInvalid(HeartbeatError::Duplicate(_))
    ));
    assert!(matches!(
        c.apply(heartbeat(1, 11, vec![resource("Bad Name", "dev")])),
        Applied::IgnoredInvalid(HeartbeatError::InvalidName { .. })
    ));
    assert!(matches!(
        c.apply(heartbeat(1, 11, vec![resource("a", "d\u{0}v")])),
        Applied::IgnoredInvalid(HeartbeatError::InvalidLabel { .. })
    ));
    assert_eq!(c.resources(at(12), TTL)[0].name, "a");
    c.apply(CatalogInput::Event {
        aggregate_id: id(1),
        event: Event::AgentDeleted(AgentDeleted {}),
    });
    assert!(c.resources(at(12), TTL).is_empty());
    assert_eq!(
        c.apply(heartbeat(1, 20, vec![resource("a", "dev")])),
        Applied::IgnoredDeletedAgent
    );
    assert!(!c.is_online(&id(1), at(20), TTL));
}

#[test]
fn an_agent_goes_offline_when_its_heartbeat_expires_or_a_marker_arrives() {
    let mut c = Catalog::default();
    c.apply(joined(1));
    c.apply(joined(2));
    c.apply(heartbeat(1, 0, vec![resource("a", "dev")]));
    c.apply(heartbeat(2, 0, vec![resource("b", "dev")]));
    assert!(c.is_online(&id(1), at(29), TTL));
    assert!(!c.is_online(&id(1), at(30), TTL), "expired");
    c.apply(CatalogInput::DeleteMarker { agent_id: id(2) });
    assert!(!c.is_online(&id(2), at(1), TTL));
    let names: Vec<String> = c
        .resources(at(1), TTL)
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["a"]);
    // A fresh heartbeat after the marker brings it back.
    c.apply(heartbeat(2, 40, vec![resource("b", "dev")]));
    assert!(c.is_online(&id(2), at(41), TTL));
}

#[test]
fn liveness_uses_the_receive_time_not_the_agents_clock() {
    let mut c = Catalog::default();
    c.apply(joined(1));
    c.apply(CatalogInput::Heartbeat {
        heartbeat: AgentHeartbeat {
            agent_id: id(1),
            sent_at: at(1_000_000),
            resources: vec![],
        },
        received_at: at(0),
    });
    assert!(!c.is_online(&id(1), at(60), TTL));
}

#[test]
fn listings_go_through_rbac() {
    let mut c = Catalog::default();
    c.apply(joined(1));
    let mut dev_agent = joined(2);
    if let CatalogInput::Event {
        event: Event::AgentJoined(e),
        ..
    } = &mut dev_agent
    {
        e.labels = vec![];
    }
    c.apply(dev_agent);
    c.apply(heartbeat(1, 0, vec![resource("orders-db", "prod")]));
    c.apply(heartbeat(
        2,
        0,
        vec![resource("web-shop", "dev"), resource("wiki", "dev")],
    ));
    let doc =
        serde_yaml::from_str("{name: dev, allow: {labels: {env: dev}}, deny: {names: [wiki]}}")
            .unwrap();
    let emitted = RoleDecider::decide(&Roles::default(), &RoleCommand::Create(doc)).unwrap();
    let history: Vec<_> = emitted
        .into_iter()
        .map(|e| (e.aggregate_id, e.event))
        .collect();
    let roles = RoleDecider::fold(&history);
    let names = |roles_of: &[&str]| -> Vec<String> {
        let p = Principal::new("a@corp.example", roles_of.iter().map(|r| r.to_string()));
        visible_resources(&roles, &p, &c, at(1), TTL)
            .into_iter()
            .map(|r| r.name)
            .collect()
    };
    assert_eq!(names(&["dev"]), ["web-shop"]);
    assert_eq!(names(&["admin"]), ["orders-db", "web-shop", "wiki"]);
    assert_eq!(names(&["audit"]), ["orders-db", "web-shop", "wiki"]);
    assert_eq!(
        names(&["audit", "dev"]),
        ["orders-db", "web-shop"],
        "deny hides even from audit"
    );
    assert!(names(&[]).is_empty());
}

#[test]
fn heartbeats_parse_strictly() {
    let ok = r#"{"agent_id":"a1","sent_at":"2026-11-22T10:00:00.000000Z","resources":[{"name":"db","type":"postgres","labels":{"env":"dev"}}]}"#;
    assert!(serde_json::from_str::<AgentHeartbeat>(ok).is_ok());
    let with_host = r#"{"agent_id":"a1","sent_at":"2026-11-22T10:00:00.000000Z","resources":[{"name":"db","type":"postgres","host":"10.0.0.1"}]}"#;
    assert!(
        serde_json::from_str::<AgentHeartbeat>(with_host).is_err(),
        "host/port never travel"
    );
}

#[test]
fn agent_delete_decisions() {
    let history = vec![(
        id(1),
        Event::AgentJoined(AgentJoined {
            name: "agent-1".into(),
            join_token_id: id(50),
            labels: vec![],
        }),
    )];
    let state = given::<AgentDecider>(history)
        .when(AgentCommand::Delete { agent_id: id(1) })
        .then_emitted(vec![(id(1), Event::AgentDeleted(AgentDeleted {}))])
        .state();
    assert_eq!(
        AgentDecider::decide(&state, &AgentCommand::Delete { agent_id: id(1) }),
        Err(AgentRejection::AlreadyDeleted)
    );
    given::<AgentDecider>(vec![])
        .when(AgentCommand::Delete { agent_id: id(1) })
        .then_rejected(|r| *r == AgentRejection::NoSuchAgent);
}

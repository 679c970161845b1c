//! The heartbeat table: expiry by the TTL each beat carried, delete markers,
//! unknown and deleted agents, stale and invalid beats, RBAC-filtered
//! listings. No I/O: times are parameters.

mod common;

use bamf_domain::control::agents::Agents;
use bamf_domain::control::catalog::{AdvertisedResource, AgentHeartbeat, HeartbeatError};
use bamf_domain::control::heartbeats::{visible_resources, Applied, HeartbeatTable};
use bamf_domain::control::rbac::Principal;
use bamf_domain::events::*;
use bamf_domain::{AggregateId, Timestamp};
use common::{at, id, store};

/// The TTL the beats of these tests carry.
const TTL: i64 = 30;

fn joined(agents: &mut Agents, n: u64, labels: &[(&str, &str)]) {
    let event = Event::AgentJoined(AgentJoined {
        name: format!("agent-{n}"),
        join_token_id: id(50),
        labels: labels
            .iter()
            .map(|(k, v)| Label {
                key: k.to_string(),
                value: v.to_string(),
            })
            .collect(),
    });
    agents.apply(&id(n), &event);
}

fn deleted(agents: &mut Agents, n: u64) {
    agents.apply(&id(n), &Event::AgentDeleted(AgentDeleted {}));
}

fn resource(name: &str, labels: &[(&str, &str)]) -> AdvertisedResource {
    AdvertisedResource {
        name: name.into(),
        kind: "postgres".into(),
        labels: common::labels(labels),
    }
}

fn beat(agent: u64, sent: i64, resources: Vec<AdvertisedResource>) -> AgentHeartbeat {
    AgentHeartbeat {
        agent_id: id(agent),
        sent_at: at(sent),
        resources,
    }
}

/// Applies a beat sent and received at `t`, expiring `TTL` seconds later.
fn apply(table: &mut HeartbeatTable, agent: u64, t: i64, names: &[&str]) -> Applied {
    let resources = names.iter().map(|n| resource(n, &[])).collect();
    table.apply_beat(beat(agent, t, resources), at(t), at(t + TTL))
}

fn names(table: &HeartbeatTable, agents: &Agents, now: Timestamp) -> Vec<(String, AggregateId)> {
    table
        .resources(agents, now)
        .into_iter()
        .map(|r| (r.name, r.agent_id))
        .collect()
}

#[test]
fn a_beat_is_live_until_the_expiry_it_carried() {
    let mut agents = Agents::default();
    joined(&mut agents, 1, &[]);
    let mut table = HeartbeatTable::default();
    assert_eq!(apply(&mut table, 1, 0, &["orders-db"]), Applied::Applied);

    assert!(table.is_online(&agents, &id(1), at(TTL - 1)));
    assert_eq!(table.resources(&agents, at(TTL - 1)).len(), 1);
    assert!(
        !table.is_online(&agents, &id(1), at(TTL)),
        "expires_at is exclusive"
    );
    assert!(table.resources(&agents, at(TTL)).is_empty());

    // Each beat brings its own TTL: a short one expires sooner.
    table.apply_beat(beat(1, 100, vec![]), at(100), at(101));
    assert!(table.is_online(&agents, &id(1), at(100)));
    assert!(!table.is_online(&agents, &id(1), at(101)));
}

#[test]
fn a_delete_marker_takes_the_agent_offline_before_its_expiry() {
    let mut agents = Agents::default();
    joined(&mut agents, 1, &[]);
    joined(&mut agents, 2, &[]);
    let mut table = HeartbeatTable::default();
    apply(&mut table, 1, 0, &["a"]);
    apply(&mut table, 2, 0, &["b"]);

    assert!(table.apply_gone(&id(2)));
    assert!(!table.apply_gone(&id(2)), "a second marker finds nothing");
    assert!(!table.is_online(&agents, &id(2), at(1)));
    assert_eq!(names(&table, &agents, at(1)), [("a".to_string(), id(1))]);

    // A fresh beat after the marker brings it back, whatever its sent_at.
    assert_eq!(apply(&mut table, 2, 40, &["b"]), Applied::Applied);
    assert!(table.is_online(&agents, &id(2), at(41)));
}

#[test]
fn a_deleted_agent_is_never_listed() {
    let mut agents = Agents::default();
    joined(&mut agents, 1, &[]);
    let mut table = HeartbeatTable::default();
    apply(&mut table, 1, 0, &["a"]);
    deleted(&mut agents, 1);

    assert!(table.resources(&agents, at(1)).is_empty());
    assert!(!table.is_online(&agents, &id(1), at(1)));
    // Its beats may still arrive until its TTL runs out; they stay hidden.
    assert_eq!(apply(&mut table, 1, 5, &["a"]), Applied::Applied);
    assert!(table.resources(&agents, at(6)).is_empty());
}

#[test]
fn an_unknown_agent_is_kept_but_hidden_until_it_joins() {
    let agents_before = Agents::default();
    let mut table = HeartbeatTable::default();
    assert_eq!(apply(&mut table, 7, 0, &["late-db"]), Applied::Applied);
    assert!(table.beats.contains_key(&id(7)), "kept for a later join");
    assert!(table.resources(&agents_before, at(1)).is_empty());
    assert!(!table.is_online(&agents_before, &id(7), at(1)));

    // The agent.joined event reaches this replica after the heartbeat.
    let mut agents = agents_before;
    joined(&mut agents, 7, &[]);
    assert_eq!(
        names(&table, &agents, at(1)),
        [("late-db".to_string(), id(7))]
    );
}

#[test]
fn a_beat_not_newer_on_either_clock_is_stale() {
    let mut agents = Agents::default();
    joined(&mut agents, 1, &[]);
    let mut table = HeartbeatTable::default();
    apply(&mut table, 1, 10, &["a"]);

    assert_eq!(apply(&mut table, 1, 5, &["old"]), Applied::IgnoredStale);
    assert_eq!(
        apply(&mut table, 1, 10, &["replayed"]),
        Applied::IgnoredStale
    );
    assert_eq!(names(&table, &agents, at(11)), [("a".to_string(), id(1))]);
    assert_eq!(table.beats[&id(1)].expires_at, at(10 + TTL));

    // The agent's clock stepped back, but the stream stored the beat later:
    // it is the one the server holds (and will expire), so it wins.
    let stepped_back = beat(1, 3, vec![resource("b", &[])]);
    assert_eq!(
        table.apply_beat(stepped_back, at(20), at(20 + TTL)),
        Applied::Applied
    );
    assert_eq!(names(&table, &agents, at(45)), [("b".to_string(), id(1))]);
}

#[test]
fn an_invalid_beat_is_ignored_and_the_held_one_stays() {
    let mut agents = Agents::default();
    joined(&mut agents, 1, &[]);
    let mut table = HeartbeatTable::default();
    apply(&mut table, 1, 0, &["a"]);

    let twice = beat(1, 1, vec![resource("a", &[]), resource("a", &[])]);
    assert!(matches!(
        table.apply_beat(twice, at(1), at(1 + TTL)),
        Applied::IgnoredInvalid(HeartbeatError::Duplicate(_))
    ));
    let bad_name = beat(1, 2, vec![resource("Bad Name", &[])]);
    assert!(matches!(
        table.apply_beat(bad_name, at(2), at(2 + TTL)),
        Applied::IgnoredInvalid(HeartbeatError::InvalidName { .. })
    ));
    assert_eq!(table.beats[&id(1)].sent_at, at(0));
    assert_eq!(names(&table, &agents, at(3)), [("a".to_string(), id(1))]);

    // An invalid first beat stores nothing.
    joined(&mut agents, 2, &[]);
    let bad_label = beat(2, 0, vec![resource("b", &[("env", "d\u{0}v")])]);
    assert!(matches!(
        table.apply_beat(bad_label, at(0), at(TTL)),
        Applied::IgnoredInvalid(HeartbeatError::InvalidLabel { .. })
    ));
    assert!(!table.beats.contains_key(&id(2)));
}

#[test]
fn listings_merge_agent_labels_and_sort_by_name_then_agent() {
    let mut agents = Agents::default();
    joined(&mut agents, 1, &[("env", "prod")]);
    joined(&mut agents, 2, &[]);
    let mut table = HeartbeatTable::default();
    let r = resource("db", &[("env", "dev"), ("team", "payments")]);
    table.apply_beat(beat(2, 0, vec![r.clone()]), at(0), at(TTL));
    table.apply_beat(beat(1, 0, vec![r, resource("api", &[])]), at(0), at(TTL));

    let rs = table.resources(&agents, at(1));
    let order: Vec<_> = rs.iter().map(|r| (r.name.as_str(), &r.agent_id)).collect();
    assert_eq!(order, [("api", &id(1)), ("db", &id(1)), ("db", &id(2))]);
    assert_eq!(
        rs[1].labels["env"], "prod",
        "the admin-set agent label wins"
    );
    assert_eq!(rs[1].labels["team"], "payments");
    assert_eq!(rs[1].agent_name, "agent-1");
    assert_eq!(rs[2].labels["env"], "dev");
}

#[test]
fn listings_go_through_rbac_and_deny_wins() {
    let mut agents = Agents::default();
    joined(&mut agents, 1, &[]);
    joined(&mut agents, 2, &[]);
    let mut table = HeartbeatTable::default();
    let prod = vec![resource("orders-db", &[("env", "prod")])];
    let dev = vec![
        resource("web-shop", &[("env", "dev")]),
        resource("wiki", &[("env", "dev")]),
    ];
    table.apply_beat(beat(1, 0, prod), at(0), at(TTL));
    table.apply_beat(beat(2, 0, dev), at(0), at(TTL));
    let roles = store(&[
        "{name: dev, allow: {labels: {env: dev}}}",
        "{name: no-wiki, allow: {labels: {env: dev}}, deny: {names: [wiki]}}",
    ]);

    let seen = |roles_of: &[&str], now: i64| -> Vec<String> {
        let p = Principal::new("a@corp.example", roles_of.iter().map(|r| r.to_string()));
        visible_resources(&roles, &p, &table, &agents, at(now))
            .into_iter()
            .map(|r| r.name)
            .collect()
    };
    assert_eq!(seen(&["admin"], 1), ["orders-db", "web-shop", "wiki"]);
    assert_eq!(seen(&["dev"], 1), ["web-shop", "wiki"]);
    assert_eq!(seen(&["dev", "no-wiki"], 1), ["web-shop"], "deny wins");
    assert_eq!(
        seen(&["admin", "no-wiki"], 1),
        ["orders-db", "web-shop"],
        "deny hides even from admin listings"
    );
    assert!(seen(&[], 1).is_empty());
    assert!(
        seen(&["admin"], TTL).is_empty(),
        "expired beats are not listed"
    );
}

#[test]
fn the_table_serializes_as_a_map_of_agents() {
    let mut table = HeartbeatTable::default();
    apply(&mut table, 1, 0, &["a"]);
    let json = serde_json::to_value(&table).unwrap();
    let entry = &json[id(1).as_str()];
    assert_eq!(entry["expires_at"], at(TTL).to_string());
    let back: HeartbeatTable = serde_json::from_value(json).unwrap();
    assert_eq!(back, table);
    assert_eq!(
        json_keys(&serde_json::to_value(&back).unwrap()),
        [id(1).to_string()]
    );
}

fn json_keys(v: &serde_json::Value) -> Vec<String> {
    v.as_object().expect("a map").keys().cloned().collect()
}

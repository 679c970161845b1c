//! Fixtures shared by the decision tests: deterministic ids, digests, instants.
#![allow(dead_code)]

use std::collections::BTreeMap;

use bamf_domain::control::role_doc::RoleDocument;
use bamf_domain::control::roles::{RoleCommand, RoleDecider, Roles};
use bamf_domain::control::Decider;
use bamf_domain::events::{Event, Sha256Hex};
use bamf_domain::{AggregateId, Timestamp};

pub fn id(n: u64) -> AggregateId {
    AggregateId::from_ulid(ulid::Ulid::from_parts(1_700_000_000_000 + n, u128::from(n)))
}

pub fn digest(n: u8) -> Sha256Hex {
    Sha256Hex::new(format!("{n:02x}").repeat(32)).unwrap()
}

/// `secs` seconds after a fixed epoch.
pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix_micros(1_790_000_000_000_000 + secs * 1_000_000)
}

/// A role document from YAML.
pub fn doc(yaml: &str) -> RoleDocument {
    serde_yaml::from_str(yaml).expect("role yaml parses")
}

/// The roles state after creating each YAML role document.
pub fn store(yamls: &[&str]) -> Roles {
    let history: Vec<(AggregateId, Event)> = yamls
        .iter()
        .flat_map(|y| RoleDecider::decide(&Roles::default(), &RoleCommand::Create(doc(y))).unwrap())
        .map(|e| (e.aggregate_id, e.event))
        .collect();
    RoleDecider::fold(&history)
}

/// A label map from pairs.
pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

//! The checked-in `schemas/audit/record.json` (what a SIEM validates with)
//! accepts every example event as a `BAMF_AUDIT` record, and refuses records
//! whose data belongs to another type or whose envelope is wrong.

use std::path::Path;

use bamf_domain::events::{examples, Event, CATALOGUE};
use bamf_domain::{Actor, ActorKind, AggregateId, Envelope, Timestamp};
use serde_json::Value;

fn record_validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/audit/record.json");
    let text = std::fs::read_to_string(&path).expect("schemas/audit/record.json is checked in");
    let schema: Value = serde_json::from_str(&text).expect("record.json is JSON");
    jsonschema::validator_for(&schema).expect("record.json compiles")
}

fn record_of(n: u64, event: Event) -> Value {
    let mut envelope = Envelope::new(
        ulid::Ulid::from_parts(1_790_000_000_000 + n, u128::from(n)),
        Timestamp::from_unix_micros(1_790_000_000_000_000 + i64::try_from(n).unwrap()),
        Actor {
            kind: ActorKind::User,
            id: "01jd0000000000000000000001".into(),
            email: Some("alice@corp.example".into()),
            ip: Some("192.0.2.7".parse().unwrap()),
        },
        AggregateId::from_ulid(ulid::Ulid::from_parts(1_790_000_000_000, u128::from(n))),
        event,
    );
    envelope.request_id = Some(format!("req-{n}"));
    envelope.trace = Some(format!("00-{}-{}-01", "a".repeat(32), "b".repeat(16)));
    serde_json::from_slice(&envelope.encode().expect("example encodes")).unwrap()
}

#[test]
fn every_example_wrapped_in_an_envelope_is_a_valid_audit_record() {
    let v = record_validator();
    let mut checked = 0;
    for (n, event) in examples().into_iter().enumerate() {
        let t = event.event_type();
        let record = record_of(n as u64, event);
        let errors: Vec<String> = v.iter_errors(&record).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{t} is refused: {errors:?}\n{record}");
        // The bare minimum envelope (no optional fields) is valid too.
        let mut bare = record.clone();
        for key in ["request_id", "trace"] {
            bare.as_object_mut().unwrap().remove(key);
        }
        bare["actor"] = serde_json::json!({"kind": "system", "id": "bamf"});
        assert!(v.is_valid(&bare), "{t}: bare envelope refused");
        checked += 1;
    }
    assert_eq!(checked, CATALOGUE.len());
}

#[test]
fn records_with_the_wrong_data_type_subject_or_envelope_are_refused() {
    let v = record_validator();
    let all = examples();
    for (n, event) in all.iter().enumerate() {
        let t = event.event_type();
        let record = record_of(n as u64, event.clone());
        let mut mutants = Vec::new();
        // Another type's data under this type (unless identical in shape).
        let other = &all[(n + 1) % all.len()];
        let other_data = other.serialize_data(serde_json::value::Serializer).unwrap();
        if other_data != record["data"] {
            let mut m = record.clone();
            m["data"] = other_data;
            mutants.push(("other data", m));
        }
        let mut m = record.clone();
        m["data"]
            .as_object_mut()
            .unwrap()
            .insert("password".into(), "hunter2".into());
        mutants.push(("extra data field", m));
        let mut m = record.clone();
        m["version"] = 99.into();
        mutants.push(("unknown version", m));
        let mut m = record.clone();
        m["type"] = "nope.never".into();
        mutants.push(("unknown type", m));
        let mut m = record.clone();
        m["subject"]["kind"] = "somethingelse".into();
        mutants.push(("subject kind", m));
        let mut m = record.clone();
        m.as_object_mut().unwrap().insert("hash".into(), "x".into());
        mutants.push(("extra envelope field", m));
        let mut m = record.clone();
        m["actor"]["kind"] = "robot".into();
        mutants.push(("actor kind", m));
        let mut m = record.clone();
        m.as_object_mut().unwrap().remove("time");
        mutants.push(("no time", m));
        for (what, m) in mutants {
            assert!(!v.is_valid(&m), "{t}: {what} accepted: {m}");
        }
    }
}

#[test]
fn the_audit_catalogue_lists_every_type_with_outcome_and_reason() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/audit/catalogue.json");
    let catalogue: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let records = catalogue["records"].as_array().unwrap();
    assert_eq!(records.len(), CATALOGUE.len());
    for event in examples() {
        let entry = records
            .iter()
            .find(|r| r["type"] == event.event_type())
            .unwrap_or_else(|| panic!("{} missing", event.event_type()));
        assert_eq!(entry["outcome"], event.outcome().as_str());
        assert!(entry["subject"]
            .as_str()
            .unwrap()
            .starts_with(if event.is_audit_only() {
                "bamf.audit."
            } else {
                "bamf.evt."
            }));
    }
    let failures: Vec<&str> = records
        .iter()
        .filter(|r| r["outcome"] == "failure")
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        failures,
        ["session.denied", "login.failed", "access.denied"]
    );
    let names: Vec<&str> = catalogue["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for stable in [
        "time",
        "action",
        "outcome",
        "actor.kind",
        "actor.id",
        "actor.email",
        "actor.address",
        "target.kind",
        "target.id",
        "request_id",
        "reason",
    ] {
        assert!(names.contains(&stable), "{stable}");
    }
}

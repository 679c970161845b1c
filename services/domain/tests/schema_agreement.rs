//! Strict typed decoding (what projections use to spot poison) and the
//! generated JSON Schemas (what a SIEM uses) accept and refuse the same data.

use bamf_domain::events::{examples, Event, CATALOGUE};

fn validator(event_type: &str, version: u32) -> jsonschema::Validator {
    let entry = CATALOGUE
        .iter()
        .find(|e| e.event_type == event_type && e.version == version)
        .expect("in catalogue");
    jsonschema::validator_for((entry.schema)().as_value()).expect("schema compiles")
}

fn data_of(event: &Event) -> serde_json::Value {
    event.serialize_data(serde_json::value::Serializer).unwrap()
}

#[test]
fn every_catalogue_entry_has_an_example() {
    let covered: std::collections::BTreeSet<_> = examples()
        .iter()
        .map(|e| (e.event_type(), e.version()))
        .collect();
    for entry in CATALOGUE {
        assert!(
            covered.contains(&(entry.event_type, entry.version)),
            "{}",
            entry.event_type
        );
    }
}

#[test]
fn examples_are_valid_both_ways() {
    for event in examples() {
        let data = data_of(&event);
        let v = validator(event.event_type(), event.version());
        assert!(
            v.is_valid(&data),
            "{} fails its schema: {data}",
            event.event_type()
        );
        let decoded =
            Event::decode(event.event_type(), event.version(), &data.to_string()).unwrap();
        assert_eq!(decoded, event);
    }
}

#[test]
fn mutations_are_refused_both_ways() {
    for event in examples() {
        let (t, ver) = (event.event_type(), event.version());
        let v = validator(t, ver);
        let data = data_of(&event);
        let mut mutants = vec![];
        // An unknown field.
        let mut extra = data.clone();
        extra
            .as_object_mut()
            .unwrap()
            .insert("password".into(), "hunter2".into());
        mutants.push(extra);
        // Each field with a value of the wrong JSON type.
        for key in data.as_object().unwrap().keys() {
            let mut wrong = data.clone();
            wrong[key] = serde_json::json!({"nested": true});
            mutants.push(wrong);
        }
        for m in mutants {
            assert!(!v.is_valid(&m), "{t}: schema accepts {m}");
            assert!(
                Event::decode(t, ver, &m.to_string()).is_err(),
                "{t}: decode accepts {m}"
            );
        }
    }
}

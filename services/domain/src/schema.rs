//! JSON Schema generation for `schemas/` (files only described here; writing
//! them is the drift test's job: `BAMF_BLESS=1 cargo test -p bamf-domain --test schemas`).

use std::collections::BTreeMap;

use crate::envelope::EnvelopeSchema;
use crate::events::CATALOGUE;

/// Every generated file: path relative to `schemas/` → pretty JSON with a
/// trailing newline.
pub fn generate() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let pretty = |v: &serde_json::Value| {
        // Schemas are plain JSON values; pretty-printing them cannot fail.
        let mut s = serde_json::to_string_pretty(v).expect("schema serializes");
        s.push('\n');
        s
    };
    let envelope = schemars::schema_for!(EnvelopeSchema);
    files.insert("envelope.json".to_string(), pretty(envelope.as_value()));
    let mut index = Vec::new();
    for entry in CATALOGUE {
        let path = data_schema_path(entry.event_type, entry.version);
        let mut schema = (entry.schema)();
        schema.insert(
            "title".into(),
            format!("{} v{} data", entry.event_type, entry.version).into(),
        );
        files.insert(path.clone(), pretty(schema.as_value()));
        let (aggregate, name) = entry
            .event_type
            .split_once('.')
            .unwrap_or((entry.event_type, ""));
        index.push(serde_json::json!({
            "type": entry.event_type,
            "version": entry.version,
            "subject": format!("bamf.evt.{aggregate}.<id>.{name}"),
            "data_schema": path,
        }));
    }
    files.insert(
        "catalogue.json".to_string(),
        pretty(&serde_json::Value::Array(index)),
    );
    files
}

/// `events/<type>.v<version>.json`.
pub fn data_schema_path(event_type: &str, version: u32) -> String {
    format!("events/{event_type}.v{version}.json")
}

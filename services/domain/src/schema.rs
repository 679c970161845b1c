//! JSON Schema generation for `schemas/` (files only described here; writing
//! them is the drift test's job: `BAMF_BLESS=1 cargo test -p bamf-domain --test schemas`).
//!
//! `schemas/audit/` is the SIEM's contract: `record.json`, one self-contained
//! schema of a `BAMF_AUDIT` record (the envelope, then exactly one branch per
//! `(type, version)` fixing its data), and `catalogue.json`, the stable field
//! names and every record type with its source, subject, outcome and reason.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::envelope::EnvelopeSchema;
use crate::events::{examples, CATALOGUE};

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
        // Audit-only records are published on their own subjects.
        let subject = if crate::events::AUDIT_ONLY.contains(&entry.event_type) {
            format!("bamf.audit.{aggregate}.{name}")
        } else {
            format!("bamf.evt.{aggregate}.<id>.{name}")
        };
        index.push(serde_json::json!({
            "type": entry.event_type,
            "version": entry.version,
            "subject": subject,
            "data_schema": path,
        }));
    }
    files.insert(
        "catalogue.json".to_string(),
        pretty(&serde_json::Value::Array(index)),
    );
    let (record, catalogue) = audit_schemas(envelope.as_value());
    files.insert(AUDIT_RECORD_SCHEMA.to_string(), pretty(&record));
    files.insert("audit/catalogue.json".to_string(), pretty(&catalogue));
    files
}

/// Path (under `schemas/`) of the schema of one `BAMF_AUDIT` record.
pub const AUDIT_RECORD_SCHEMA: &str = "audit/record.json";

/// The stable names a SIEM maps (name → JSON pointer into the record). `reason`
/// depends on the type: see each record type's `reason`.
const AUDIT_FIELDS: &[(&str, &str, &str)] = &[
    (
        "time",
        "/time",
        "when it happened, RFC 3339 UTC with microseconds",
    ),
    (
        "action",
        "/type",
        "what happened, `<aggregate>.<event>`, e.g. `session.denied`",
    ),
    (
        "outcome",
        "(by type)",
        "`success` or `failure`, fixed per type (see `records`)",
    ),
    (
        "actor.kind",
        "/actor/kind",
        "`user`, `agent`, `bridge` or `system`",
    ),
    (
        "actor.id",
        "/actor/id",
        "id of the user, agent or bridge; `bamf` for the system",
    ),
    (
        "actor.email",
        "/actor/email",
        "the user's e-mail, when the actor is a user",
    ),
    (
        "actor.address",
        "/actor/ip",
        "the client's IP address, when known",
    ),
    (
        "target.kind",
        "/subject/kind",
        "kind of the thing acted on (the type's aggregate)",
    ),
    ("target.id", "/subject/id", "id of the thing acted on"),
    (
        "request_id",
        "/request_id",
        "the API request that caused it, when there was one",
    ),
    (
        "reason",
        "/data/<reason field>",
        "why, for the types that have a reason field",
    ),
    (
        "record_id",
        "/id",
        "unique id (ULID); duplicates of one record share it",
    ),
];

/// `(record.json, audit/catalogue.json)`.
fn audit_schemas(envelope: &Value) -> (Value, Value) {
    let mut defs = Map::new();
    let mut envelope = envelope.clone();
    hoist(&mut envelope, "envelope", &mut defs);
    defs.insert("envelope".into(), envelope);
    let mut branches = Vec::new();
    let mut records = Vec::new();
    // Every catalogue entry has an example (checked by a test), and the
    // examples carry the per-type answers (outcome, reason field).
    for event in examples() {
        let (t, v) = (event.event_type(), event.version());
        let (aggregate, name) = t.split_once('.').unwrap_or((t, ""));
        let entry = CATALOGUE
            .iter()
            .find(|e| e.event_type == t && e.version == v);
        let Some(entry) = entry else { continue };
        let key = format!("{t}.v{v}");
        let mut data = (entry.schema)().to_value();
        hoist(&mut data, &key, &mut defs);
        defs.insert(key.clone(), data);
        let (source, subject) = if event.is_audit_only() {
            ("audit-only", format!("bamf.audit.{aggregate}.{name}"))
        } else {
            ("BAMF_EVENTS", format!("bamf.evt.{aggregate}.<id>.{name}"))
        };
        let outcome = event.outcome().as_str();
        let reason = event.reason_field().map(|f| format!("/data/{f}"));
        branches.push(json!({
            "title": format!("{t} v{v}"),
            "x-bamf-source": source,
            "x-bamf-subject": subject,
            "x-bamf-outcome": outcome,
            "x-bamf-reason": reason,
            "properties": {
                "type": {"const": t},
                "version": {"const": v},
                "subject": {"properties": {"kind": {"const": aggregate}}},
                "data": {"$ref": format!("#/$defs/{key}")},
            },
        }));
        records.push(json!({
            "type": t,
            "version": v,
            "source": source,
            "subject": subject,
            "outcome": outcome,
            "reason": reason,
            "data_schema": format!("record.json#/$defs/{key}"),
        }));
    }
    let record = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "BAMF_AUDIT record",
        "description": "One record of the BAMF_AUDIT stream: the event envelope, with `data` \
            fixed by `(type, version)`. Domain events are sourced from BAMF_EVENTS \
            (subjects bamf.evt.<aggregate>.<id>.<event>); audit-only records are published on \
            bamf.audit.<category>.<action>. See docs/audit.md.",
        "$ref": "#/$defs/envelope",
        "oneOf": branches,
        "$defs": defs,
    });
    let fields: Vec<Value> = AUDIT_FIELDS
        .iter()
        .map(|(name, pointer, meaning)| json!({"name": name, "pointer": pointer, "meaning": meaning}))
        .collect();
    let catalogue = json!({
        "record_schema": "record.json",
        "fields": fields,
        "records": records,
    });
    (record, catalogue)
}

/// Moves a generated schema's `$defs` into `defs` under `<prefix>.<name>` and
/// rewrites its references to match, so many schemas share one document.
fn hoist(schema: &mut Value, prefix: &str, defs: &mut Map<String, Value>) {
    fn rewrite(v: &mut Value, prefix: &str) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get_mut("$ref") {
                    if let Some(name) = r.strip_prefix("#/$defs/") {
                        *r = format!("#/$defs/{prefix}.{name}");
                    }
                }
                o.values_mut().for_each(|v| rewrite(v, prefix));
            }
            Value::Array(a) => a.iter_mut().for_each(|v| rewrite(v, prefix)),
            _ => {}
        }
    }
    rewrite(schema, prefix);
    if let Value::Object(o) = schema {
        o.remove("$schema");
        if let Some(Value::Object(own)) = o.remove("$defs") {
            for (name, def) in own {
                defs.insert(format!("{prefix}.{name}"), def);
            }
        }
    }
}

/// `events/<type>.v<version>.json`.
pub fn data_schema_path(event_type: &str, version: u32) -> String {
    format!("events/{event_type}.v{version}.json")
}

//! The OCSF view of an audit record (`bamfctl audit export --format ocsf`):
//! one `BAMF_AUDIT` record in, one OCSF 1.3.0 event out. The mapping, and
//! why each class was chosen, is documented in `docs/ocsf.md`.
//!
//! Every event carries the attributes all classes share (class, category,
//! activity, type, time, severity, status, metadata, actor, message), its
//! class's own attributes (`records`, built from `objects`; the class and
//! activity ids in `classes`), the record verbatim as `raw_data` (so seals
//! can still be checked from an OCSF export) and, under `unmapped`,
//! everything bamf-specific (`bamf.type`, `bamf.version`, `bamf.subject`,
//! `bamf.actor`, `bamf.trace`, `bamf.data`), so nothing is lost. A payload
//! that does not decode becomes a Base Event [0] saying why.
//!
//! Pure: no I/O, no clock; the same record always maps to the same event.

mod classes;
mod objects;
mod records;

use serde_json::{json, Map, Value};
use ulid::Ulid;

use crate::events::Outcome;
use crate::{Envelope, EnvelopeError, Timestamp};

/// The OCSF schema version every event is written in (`metadata.version`).
pub const OCSF_VERSION: &str = "1.3.0";

/// `metadata.product.name` and `vendor_name`; also the authentication service.
const PRODUCT: &str = "bamf";

/// `metadata.log_name`: the stream the records come from.
const LOG_NAME: &str = "BAMF_AUDIT";

/// Profiles whose attributes the events use: `datetime` for `time_dt`,
/// `host` for `actor` in the classes that only have it through that profile.
const PROFILES: [&str; 2] = ["datetime", "host"];

/// Maps a `BAMF_AUDIT` payload (stream sequence `seq`) to an OCSF event.
/// Never fails: a payload the envelope decoder refuses becomes a Base Event
/// carrying it as `raw_data`, with the decode error as `status_detail`.
pub fn record_to_ocsf(seq: u64, payload: &[u8]) -> Value {
    match Envelope::decode(payload) {
        Ok(envelope) => to_ocsf(seq, &envelope, payload),
        Err(e) => undecodable(seq, payload, &e),
    }
}

/// Maps a decoded record; `raw` is its payload, kept as `raw_data`.
pub fn to_ocsf(seq: u64, envelope: &Envelope, raw: &[u8]) -> Value {
    let records::Mapped {
        class,
        activity,
        attrs,
        message,
    } = records::map(envelope);
    let event = &envelope.event;
    // Data structs are plain fields and strings: serializing them to a
    // `Value` cannot fail, and `Null` would still be an honest answer.
    let data = event
        .serialize_data(serde_json::value::Serializer)
        .unwrap_or(Value::Null);
    let reason = event
        .reason_field()
        .and_then(|field| data.get(field))
        .and_then(Value::as_str)
        .map(str::to_string);

    let (category_uid, category_name) = class.category();
    let mut out = Map::new();
    out.insert("class_uid".into(), json!(class.uid()));
    out.insert("class_name".into(), json!(class.name()));
    out.insert("category_uid".into(), json!(category_uid));
    out.insert("category_name".into(), json!(category_name));
    out.insert("activity_id".into(), json!(activity.id));
    out.insert("activity_name".into(), json!(activity.name()));
    out.insert(
        "type_uid".into(),
        json!(u64::from(class.uid()) * 100 + u64::from(activity.id)),
    );
    out.insert(
        "type_name".into(),
        json!(format!("{}: {}", class.name(), activity.caption)),
    );
    out.insert("time".into(), json!(epoch_millis(&envelope.time)));
    out.insert("time_dt".into(), json!(envelope.time.to_string()));
    insert_outcome(&mut out, event.outcome());
    if let Some(reason) = reason {
        out.insert("status_detail".into(), json!(reason));
    }
    out.insert("message".into(), json!(message));
    out.insert("metadata".into(), metadata(seq, envelope));
    out.insert("actor".into(), objects::actor_object(&envelope.actor));
    if let Some(ip) = envelope.actor.ip {
        if class.src_endpoint_is_requester() {
            out.insert("src_endpoint".into(), json!({ "ip": ip.to_string() }));
        }
    }
    for (key, value) in attrs {
        out.insert(key, value);
    }
    out.insert("raw_data".into(), json!(String::from_utf8_lossy(raw)));
    out.insert("unmapped".into(), unmapped(envelope, data));
    Value::Object(out)
}

/// `status_id`/`status` and `severity_id`/`severity`: a success is
/// Informational, a failure (a refused login, session or request) Medium.
fn insert_outcome(out: &mut Map<String, Value>, outcome: Outcome) {
    let (status_id, status, severity_id, severity) = match outcome {
        Outcome::Success => (1, "Success", 1, "Informational"),
        Outcome::Failure => (2, "Failure", 3, "Medium"),
    };
    out.insert("status_id".into(), json!(status_id));
    out.insert("status".into(), json!(status));
    out.insert("severity_id".into(), json!(severity_id));
    out.insert("severity".into(), json!(severity));
}

fn metadata(seq: u64, envelope: &Envelope) -> Value {
    let mut m = Map::new();
    m.insert("version".into(), json!(OCSF_VERSION));
    m.insert("product".into(), product());
    m.insert("profiles".into(), json!(PROFILES));
    m.insert("uid".into(), json!(envelope.id.to_string()));
    m.insert("sequence".into(), json!(seq));
    m.insert("log_name".into(), json!(LOG_NAME));
    m.insert("event_code".into(), json!(envelope.event.event_type()));
    m.insert("original_time".into(), json!(envelope.time.to_string()));
    if let Some(request_id) = &envelope.request_id {
        m.insert("correlation_uid".into(), json!(request_id));
    }
    Value::Object(m)
}

fn product() -> Value {
    json!({
        "name": PRODUCT,
        "vendor_name": PRODUCT,
        "version": env!("CARGO_PKG_VERSION"),
    })
}

/// Everything of the envelope with no OCSF home, under `bamf.*` keys.
fn unmapped(envelope: &Envelope, data: Value) -> Value {
    let mut u = Map::new();
    u.insert("bamf.type".into(), json!(envelope.event.event_type()));
    u.insert("bamf.version".into(), json!(envelope.event.version()));
    u.insert(
        "bamf.subject".into(),
        json!({ "kind": envelope.event.aggregate(), "id": envelope.aggregate_id.as_str() }),
    );
    // The actor exactly as recorded (its kind, and its address where the
    // class has no place for it).
    u.insert(
        "bamf.actor".into(),
        serde_json::to_value(&envelope.actor).unwrap_or(Value::Null),
    );
    if let Some(trace) = &envelope.trace {
        u.insert("bamf.trace".into(), json!(trace));
    }
    u.insert("bamf.data".into(), data);
    Value::Object(u)
}

/// A Base Event [0] for a payload that is not a valid record: the payload
/// as `raw_data`, why as `status_detail` (and the short code as
/// `status_code`). Its id and time are kept when they still read as such;
/// otherwise `time` is 0, since the domain has no clock to fill it with.
fn undecodable(seq: u64, payload: &[u8], error: &EnvelopeError) -> Value {
    let salvaged: Option<Value> = serde_json::from_slice(payload).ok();
    let field = |name: &str| {
        salvaged
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
    };
    let id = field("id").and_then(|s| Ulid::from_string(s).ok());
    let time = field("time").and_then(|s| Timestamp::parse(s).ok());

    let mut out = Map::new();
    out.insert("class_uid".into(), json!(0));
    out.insert("class_name".into(), json!("Base Event"));
    out.insert("category_uid".into(), json!(0));
    out.insert("category_name".into(), json!("Uncategorized"));
    out.insert("activity_id".into(), json!(0));
    out.insert("activity_name".into(), json!("Unknown"));
    out.insert("type_uid".into(), json!(0));
    out.insert("type_name".into(), json!("Base Event: Unknown"));
    out.insert("time".into(), json!(time.as_ref().map_or(0, epoch_millis)));
    insert_outcome(&mut out, Outcome::Failure);
    out.insert("status_code".into(), json!(error.reason_code()));
    out.insert(
        "status_detail".into(),
        json!(format!("record does not decode: {}", error_chain(error))),
    );
    out.insert(
        "message".into(),
        json!(format!(
            "audit record {seq} could not be read as a bamf record"
        )),
    );
    let mut m = Map::new();
    m.insert("version".into(), json!(OCSF_VERSION));
    m.insert("product".into(), product());
    m.insert("sequence".into(), json!(seq));
    m.insert("log_name".into(), json!(LOG_NAME));
    if let Some(id) = id {
        m.insert("uid".into(), json!(id.to_string()));
    }
    if let Some(time) = &time {
        out.insert("time_dt".into(), json!(time.to_string()));
        m.insert("profiles".into(), json!(["datetime"]));
        m.insert("original_time".into(), json!(time.to_string()));
    }
    out.insert("metadata".into(), Value::Object(m));
    out.insert("raw_data".into(), json!(String::from_utf8_lossy(payload)));
    Value::Object(out)
}

/// An error and its sources, `outer: inner: …`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// OCSF `timestamp_t`: milliseconds since the Unix epoch.
fn epoch_millis(t: &Timestamp) -> i64 {
    // A `Timestamp` lies within years -9999..=9999, whose milliseconds fit
    // an i64 many times over; the fallback is unreachable.
    i64::try_from(t.get().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

//! Stream set-up from `deploy/nats/streams/*.json` (the one source, embedded at
//! build time): create when missing, update when a key set in the definition
//! differs on the server, otherwise leave alone. Safe to run on every start by
//! every replica.

use std::time::Duration;

use async_nats::jetstream::{self, context::GetStreamErrorKind, stream};
use serde_json::Value;

/// Stream names.
pub const EVENTS_STREAM: &str = "BAMF_EVENTS";
pub const HEARTBEATS_STREAM: &str = "BAMF_HEARTBEATS";
pub const CREDENTIALS_STREAM: &str = "BAMF_CREDENTIALS";
pub const AUDIT_STREAM: &str = "BAMF_AUDIT";

/// The checked-in definitions, in the order they must be applied (AUDIT
/// sources EVENTS, so it comes last).
const BUILTIN: &[(&str, &str)] = &[
    (
        "bamf_events.json",
        include_str!("../../../deploy/nats/streams/bamf_events.json"),
    ),
    (
        "bamf_heartbeats.json",
        include_str!("../../../deploy/nats/streams/bamf_heartbeats.json"),
    ),
    (
        "bamf_credentials.json",
        include_str!("../../../deploy/nats/streams/bamf_credentials.json"),
    ),
    (
        "bamf_audit.json",
        include_str!("../../../deploy/nats/streams/bamf_audit.json"),
    ),
];

/// Errors of stream set-up; each names the stream or file.
#[derive(Debug, thiserror::Error)]
pub enum StreamSetupError {
    /// A definition file is not a valid stream config.
    #[error("stream definition {file} is invalid")]
    Definition {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    /// Reading the stream's current state failed.
    #[error("cannot read stream {name}")]
    Info {
        name: String,
        #[source]
        source: async_nats::Error,
    },
    /// Creating the stream failed.
    #[error("cannot create stream {name}")]
    Create {
        name: String,
        #[source]
        source: async_nats::Error,
    },
    /// Updating the stream failed (some changes, e.g. storage type, need a
    /// manual migration).
    #[error("cannot update stream {name}")]
    Update {
        name: String,
        #[source]
        source: async_nats::Error,
    },
}

/// One stream definition: the JSON as written (what is compared) and the
/// parsed config (what is sent).
#[derive(Debug, Clone)]
pub struct StreamDefinition {
    pub file: String,
    pub json: Value,
    pub config: stream::Config,
}

impl StreamDefinition {
    /// Parses a definition.
    pub fn parse(file: &str, text: &str) -> Result<Self, StreamSetupError> {
        let err = |source| StreamSetupError::Definition {
            file: file.to_string(),
            source,
        };
        let json: Value = serde_json::from_str(text).map_err(err)?;
        let config = serde_json::from_value(json.clone()).map_err(err)?;
        Ok(StreamDefinition {
            file: file.to_string(),
            json,
            config,
        })
    }

    /// The stream name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Sets one key of the definition (used for configurable values).
    pub fn set(&mut self, key: &str, value: Value) -> Result<(), StreamSetupError> {
        self.json[key] = value;
        self.config = serde_json::from_value(self.json.clone()).map_err(|source| {
            StreamSetupError::Definition {
                file: self.file.clone(),
                source,
            }
        })?;
        Ok(())
    }
}

/// Values the deployment may change.
#[derive(Debug, Clone, Default)]
pub struct StreamOptions {
    /// Age limit of BAMF_AUDIT (default: the file's, 90 days).
    pub audit_max_age: Option<Duration>,
}

/// The built-in definitions with `options` applied.
pub fn definitions(options: &StreamOptions) -> Result<Vec<StreamDefinition>, StreamSetupError> {
    let mut defs = BUILTIN
        .iter()
        .map(|(file, text)| StreamDefinition::parse(file, text))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(age) = options.audit_max_age {
        for def in defs.iter_mut().filter(|d| d.name() == AUDIT_STREAM) {
            let nanos = u64::try_from(age.as_nanos()).unwrap_or(u64::MAX);
            def.set("max_age", nanos.into())?;
        }
    }
    Ok(defs)
}

/// What set-up did to one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOutcome {
    Created,
    Updated,
    Unchanged,
}

/// Applies the built-in definitions.
pub async fn ensure_streams(
    js: &jetstream::Context,
    options: &StreamOptions,
) -> Result<Vec<(String, StreamOutcome)>, StreamSetupError> {
    let defs = definitions(options)?;
    ensure(js, &defs).await
}

/// Applies `defs` in order.
pub async fn ensure(
    js: &jetstream::Context,
    defs: &[StreamDefinition],
) -> Result<Vec<(String, StreamOutcome)>, StreamSetupError> {
    let mut outcomes = Vec::with_capacity(defs.len());
    for def in defs {
        let outcome = ensure_one(js, def).await?;
        tracing::info!(stream = def.name(), ?outcome, "stream set up");
        outcomes.push((def.name().to_string(), outcome));
    }
    Ok(outcomes)
}

async fn ensure_one(
    js: &jetstream::Context,
    def: &StreamDefinition,
) -> Result<StreamOutcome, StreamSetupError> {
    let name = def.name().to_string();
    let current = match js.get_stream(&name).await {
        Ok(mut s) => s
            .info()
            .await
            .map_err(|e| StreamSetupError::Info {
                name: name.clone(),
                source: e.into(),
            })?
            .config
            .clone(),
        Err(e) => match e.kind() {
            GetStreamErrorKind::JetStream(js_err)
                if js_err.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                js.create_stream(def.config.clone()).await.map_err(|e| {
                    StreamSetupError::Create {
                        name,
                        source: e.into(),
                    }
                })?;
                return Ok(StreamOutcome::Created);
            }
            _ => {
                return Err(StreamSetupError::Info {
                    name,
                    source: e.into(),
                })
            }
        },
    };
    // Serializing a config the server just gave us cannot fail.
    let current = serde_json::to_value(&current).unwrap_or(Value::Null);
    if is_subset(&def.json, &current) {
        return Ok(StreamOutcome::Unchanged);
    }
    js.update_stream(&def.config)
        .await
        .map_err(|e| StreamSetupError::Update {
            name,
            source: e.into(),
        })?;
    Ok(StreamOutcome::Updated)
}

/// Whether every key of `want` has the same value in `have`. A key missing
/// from `have` matches a default value (false, 0, "", [], null), because the
/// client omits defaults when it serializes a config.
fn is_subset(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w.iter().all(|(k, wv)| match h.get(k) {
            Some(hv) => is_subset(wv, hv),
            None => is_default(wv),
        }),
        (Value::Array(w), Value::Array(h)) => {
            w.len() == h.len() && w.iter().zip(h).all(|(a, b)| is_subset(a, b))
        }
        (Value::Array(w), Value::Null) => w.is_empty(),
        (w, h) => w == h,
    }
}

fn is_default(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_definitions_parse_and_do_not_overlap() {
        let defs = definitions(&StreamOptions::default()).unwrap();
        let names: Vec<_> = defs.iter().map(|d| d.name().to_string()).collect();
        assert_eq!(
            names,
            [
                EVENTS_STREAM,
                HEARTBEATS_STREAM,
                CREDENTIALS_STREAM,
                AUDIT_STREAM
            ]
        );
        let audit = &defs[3].config;
        assert!(audit.deny_delete && audit.deny_purge);
        assert_eq!(audit.max_age, Duration::from_secs(90 * 24 * 3600));
        assert!(audit.subjects.iter().all(|s| !s.starts_with("bamf.evt")));
        assert!(defs[0].config.allow_atomic_publish && defs[0].config.deny_delete);
        let hb = &defs[1].config;
        assert!(hb.allow_message_ttl && hb.max_messages_per_subject == 1);
        assert!(hb.subject_delete_marker_ttl.is_some());
    }

    #[test]
    fn audit_age_is_configurable() {
        let opts = StreamOptions {
            audit_max_age: Some(Duration::from_secs(3600)),
        };
        let defs = definitions(&opts).unwrap();
        assert_eq!(defs[3].config.max_age, Duration::from_secs(3600));
    }

    #[test]
    fn subset_comparison() {
        let want = serde_json::json!({"a": 1, "b": false, "c": [{"name": "X"}]});
        let have = serde_json::json!({"a": 1, "c": [{"name": "X", "extra": 2}], "d": 3});
        assert!(is_subset(&want, &have));
        assert!(!is_subset(&serde_json::json!({"a": 2}), &have));
        assert!(!is_subset(&serde_json::json!({"b": true}), &have));
    }
}

//! The strict JSON body extractor: `Content-Type: application/json` required
//! (415), at most `max_body_bytes` (413), JSON syntax (400 `invalid_json`),
//! then the shape — wrong types, unknown or missing fields — (400
//! `invalid_request`, naming the field path). Nothing runs on a bad body.
//!
//! The shape is checked twice. serde's derived `Deserialize` takes a JSON
//! array where a struct is expected (`[null, null]` as a two-field struct),
//! which the OpenAPI document does not allow; so the JSON types of the body
//! are first held against the type's JSON Schema (the one the document
//! publishes), then the body is deserialized from its bytes — which also
//! refuses a field given twice — with the field path kept.

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::app::AppSlot;
use crate::error::ApiError;

/// A JSON request body of type `T`.
pub struct JsonBody<T>(pub T);

fn is_json(request: &Request) -> bool {
    let Some(value) = request.headers().get(CONTENT_TYPE) else {
        return false;
    };
    let Ok(text) = value.to_str() else {
        return false;
    };
    let mime = text.split(';').next().unwrap_or_default().trim();
    mime.eq_ignore_ascii_case("application/json")
        || (mime.len() > 5 && mime[..].to_ascii_lowercase().ends_with("+json"))
}

impl<T: DeserializeOwned + JsonSchema> FromRequest<AppSlot> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, slot: &AppSlot) -> Result<Self, ApiError> {
        let limit = slot.max_body_bytes();
        if !is_json(&request) {
            return Err(ApiError::unsupported_media_type());
        }
        let bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|_| ApiError::body_too_large(limit))?;
        parse(&bytes).map(JsonBody)
    }
}

/// How deep [`check_types`] follows a schema: our request types nest three
/// levels, and serde_json refuses JSON nested deeper than 128.
const MAX_SCHEMA_DEPTH: usize = 32;

/// Parses a body, classifying the error.
pub fn parse<T: DeserializeOwned + JsonSchema>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid_json(format!("request body is not valid JSON: {e}")))?;
    let schema = schemars::schema_for!(T);
    let schema = schema.as_value();
    check_types(schema, schema, &value, "", 0).map_err(|mismatch| {
        ApiError::invalid_request(format!("invalid request body{}", mismatch))
    })?;
    // From the bytes, not the value: a `Value` keeps the last of two equal
    // keys, where serde refuses the second.
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!(" at {path}")
        };
        ApiError::invalid_request(format!("invalid request body{at}: {}", e.into_inner()))
    })?;
    de.end()
        .map_err(|e| ApiError::invalid_json(format!("request body is not valid JSON: {e}")))?;
    Ok(parsed)
}

/// Where a body's JSON type differs from its schema's.
struct Mismatch {
    path: String,
    expected: String,
    found: &'static str,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.path.is_empty() {
            write!(f, " at {}", self.path)?;
        }
        write!(f, ": found {}, expected {}", self.found, self.expected)
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn is_type(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => true,
    }
}

/// Holds `value` against the `type` keywords of `schema` (within `root`, for
/// `$ref`s), through `properties`, `additionalProperties`, `items`, `allOf`,
/// `anyOf` and `oneOf`. Other keywords (required fields, unknown fields,
/// ranges) are serde's and the domain's to check, with better messages.
fn check_types(
    root: &Value,
    schema: &Value,
    value: &Value,
    path: &str,
    depth: usize,
) -> Result<(), Mismatch> {
    if depth > MAX_SCHEMA_DEPTH {
        return Ok(());
    }
    let next = |schema: &Value, value: &Value, path: &str| {
        check_types(root, schema, value, path, depth + 1)
    };
    if let Some(target) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer))
    {
        next(target, value, path)?;
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for branch in all {
            next(branch, value, path)?;
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let mut refused = Vec::new();
            for branch in branches {
                match next(branch, value, path) {
                    Ok(()) => {
                        refused.clear();
                        break;
                    }
                    Err(e) => refused.push(e),
                }
            }
            // One answer for "none of them": the deepest refusal says most.
            if let Some(e) = refused.into_iter().max_by_key(|e| e.path.len()) {
                return Err(e);
            }
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| is_type(t, value)) {
        return Err(Mismatch {
            path: path.to_string(),
            expected: types.join(" or "),
            found: kind(value),
        });
    }
    match value {
        Value::Object(fields) => {
            for (name, field) in fields {
                let sub = schema
                    .get("properties")
                    .and_then(|p| p.get(name))
                    .or_else(|| schema.get("additionalProperties"));
                if let Some(sub) = sub {
                    let at = if path.is_empty() {
                        name.clone()
                    } else {
                        format!("{path}.{name}")
                    };
                    next(sub, field, &at)?;
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    next(sub, item, &format!("{path}[{i}]"))?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bamf_domain::control::role_doc::RoleDocument;

    #[derive(Debug, serde::Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        name: String,
        count: u32,
        #[serde(default)]
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Inner {
        #[serde(default)]
        flag: Option<bool>,
    }

    #[test]
    fn syntax_and_shape_errors_are_told_apart() {
        let e = parse::<Probe>(b"{").unwrap_err();
        assert_eq!(e.code(), "invalid_json");
        let e = parse::<Probe>(br#"{"name": 1, "count": 1}"#).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        assert!(e.message().contains("name"), "{}", e.message());
        let e = parse::<Probe>(br#"{"name": "a", "count": 1, "extra": true}"#).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        assert!(e.message().contains("extra"), "{}", e.message());
        let e = parse::<Probe>(br#"{"name": "a"}"#).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        let e = parse::<Probe>(br#"{"name": "a", "count": 1} x"#).unwrap_err();
        assert_eq!(e.code(), "invalid_json");
        assert!(parse::<Probe>(br#"{"name": "a", "count": 1}"#).is_ok());
        assert!(parse::<Probe>(br#"{"name": "a", "count": 1, "inner": {"flag": true}}"#).is_ok());
        assert!(parse::<Probe>(br#"{"name": "a", "count": 1, "inner": null}"#).is_ok());
        let e = parse::<Probe>(br#"{"name": "a", "count": 1, "count": 2}"#).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        assert!(e.message().contains("duplicate field"), "{}", e.message());
    }

    #[test]
    fn a_struct_is_an_object_never_an_array() {
        // serde alone would take these as the fields in order.
        let e = parse::<Probe>(br#"["a", 1]"#).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        assert!(
            e.message().contains("found an array, expected object"),
            "{}",
            e.message()
        );
        let e = parse::<Probe>(br#"{"name": "a", "count": 1, "inner": [true]}"#).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        assert!(e.message().contains(" at inner:"), "{}", e.message());
        let e = parse::<RoleDocument>(br#"{"name": "dev", "allow": [{}, [], []]}"#).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        assert!(e.message().contains(" at allow:"), "{}", e.message());
    }

    #[test]
    fn label_values_are_one_string_or_a_list_of_strings() {
        let one = br#"{"name": "dev", "allow": {"labels": {"env": "dev"}}}"#;
        let many = br#"{"name": "dev", "allow": {"labels": {"env": ["dev", "qa"]}}}"#;
        assert!(parse::<RoleDocument>(one).is_ok());
        assert!(parse::<RoleDocument>(many).is_ok());
        let e = parse::<RoleDocument>(br#"{"name": "dev", "allow": {"labels": {"env": 1}}}"#)
            .unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        assert!(
            e.message().contains(" at allow.labels.env:"),
            "{}",
            e.message()
        );
    }
}

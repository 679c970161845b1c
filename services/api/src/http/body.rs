//! The strict JSON body extractor: `Content-Type: application/json` required
//! (415), at most `max_body_bytes` (413), JSON syntax (400 `invalid_json`),
//! then the shape — wrong types, unknown or missing fields — (400
//! `invalid_request`, naming the field path). Nothing runs on a bad body.

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

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

impl<T: DeserializeOwned> FromRequest<AppSlot> for JsonBody<T> {
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

/// Parses a body, classifying the error.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = parsed.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let at = if path == "." {
                    String::new()
                } else {
                    format!(" at {path}")
                };
                ApiError::invalid_request(format!("invalid request body{at}: {inner}"))
            }
            _ => ApiError::invalid_json(format!("request body is not valid JSON: {inner}")),
        }
    })?;
    de.end()
        .map_err(|e| ApiError::invalid_json(format!("request body is not valid JSON: {e}")))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        name: String,
        count: u32,
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
    }
}

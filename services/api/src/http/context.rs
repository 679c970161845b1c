//! The request context: a request id on every request and response
//! (`x-request-id`; the caller's own if it is well-formed, else a new ULID),
//! and the peer address, for events and audit records.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use bamf_domain::envelope::MAX_REQUEST_ID_LEN;

use crate::error::ApiError;

/// The request id header.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler knows about the request it serves.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    /// The peer's address (`None` for in-process calls without a socket).
    pub ip: Option<IpAddr>,
}

/// Whether a caller-sent request id is kept: 1–128 characters of
/// `[A-Za-z0-9._:-]`, so it is safe in logs, headers and events.
fn acceptable(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Middleware: sets the context on the request and the id on the response.
pub async fn layer(mut request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| acceptable(id))
        .map(str::to_string)
        .unwrap_or_else(|| ulid::Ulid::new().to_string().to_lowercase());
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    tracing::Span::current().record("request_id", request_id.as_str());
    request.extensions_mut().insert(RequestContext {
        request_id: request_id.clone(),
        ip,
    });
    let mut response = next.run(request).await;
    let value = HeaderValue::from_str(&request_id)
        .expect("request ids are checked or generated as visible ASCII");
    response.headers_mut().insert(REQUEST_ID.clone(), value);
    response
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<RequestContext>()
            .cloned()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("request context layer missing")))
    }
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_plain_request_ids_are_kept() {
        assert!(acceptable("01jd-abc.def:1_2"));
        assert!(!acceptable(""));
        assert!(!acceptable("a b"));
        assert!(!acceptable("x\u{7f}"));
        assert!(!acceptable(&"a".repeat(129)));
    }
}

//! The HTTP routes of bamf-api.

use axum::Router;
use bamf_runtime::{health, Readiness};
use tower_http::trace::{DefaultMakeSpan, TraceLayer};
use tracing::Level;

use crate::error;

/// The whole HTTP surface: health, `/api/v1`, and JSON errors for anything else.
pub fn router(readiness: Readiness) -> Router {
    // `/api/v1` routes are added here by the issues that build them; until then
    // every path under it answers the JSON 404.
    Router::new()
        .merge(health::routes(readiness))
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::wrong_method)
        // One span per request at INFO, so requests are traced (OTLP) under the
        // default filter; per-request log lines stay at DEBUG.
        .layer(TraceLayer::new_for_http().make_span_with(DefaultMakeSpan::new().level(Level::INFO)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    async fn call(router: Router, method: &str, path: &str) -> (StatusCode, serde_json::Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .expect("a static request is valid");
        let response = router.oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body fits");
        (status, serde_json::from_slice(&bytes).expect("JSON body"))
    }

    #[tokio::test]
    async fn unknown_api_route_is_a_json_404() {
        let (status, body) = call(router(Readiness::new()), "GET", "/api/v1/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "not_found");
        assert_eq!(body["error"]["message"], "no route for GET /api/v1/nope");
    }

    #[tokio::test]
    async fn wrong_method_is_a_json_405() {
        let (status, body) = call(router(Readiness::new()), "POST", "/healthz").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }

    #[tokio::test]
    async fn readyz_follows_readiness() {
        let readiness = Readiness::new();
        let (status, _) = call(router(readiness.clone()), "GET", "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        readiness.set(true);
        let (status, body) = call(router(readiness), "GET", "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ready");
    }
}

//! The HTTP routes of bamf-api (docs/api.md; the OpenAPI document lists the
//! same routes, and a test checks the two agree).

use axum::routing::{get, post};
use axum::Router;
use bamf_runtime::{health, Readiness};
use tower_http::trace::{DefaultMakeSpan, TraceLayer};
use tracing::Level;

use crate::app::AppSlot;
use crate::handlers::{
    agents, audit, audit_stream, auth, bridges, connect, resources, roles, sessions, tokens, users,
    watch,
};
use crate::{error, http, openapi};

/// The `/api/v1` routes.
pub fn api_routes() -> Router<AppSlot> {
    Router::new()
        .route("/openapi.json", get(openapi::serve))
        .route("/auth/local/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/whoami", get(auth::whoami))
        .route(
            "/auth/sessions",
            get(auth::sessions).delete(auth::revoke_all),
        )
        .route("/users", get(users::list).post(users::create))
        .route(
            "/users/{id}",
            get(users::get).patch(users::update).delete(users::delete),
        )
        .route("/users/{id}/disable", post(users::disable))
        .route("/roles", get(roles::list).post(roles::create))
        .route(
            "/roles/{name}",
            get(roles::get).put(roles::update).delete(roles::delete),
        )
        .route(
            "/role-bindings",
            get(roles::bindings).post(roles::bind).delete(roles::unbind),
        )
        .route("/join-tokens", get(tokens::list).post(tokens::create))
        .route("/join-tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/agents", get(agents::list))
        .route("/agents/join", post(agents::join))
        .route("/agents/renew", post(agents::renew))
        .route("/agents/{id}", axum::routing::delete(agents::delete))
        .route("/bridges", get(bridges::list))
        .route("/bridges/enroll", post(bridges::enroll))
        .route("/bridges/renew", post(bridges::renew))
        .route("/resources", get(resources::list))
        .route("/connect", post(connect::connect))
        .route("/sessions", get(sessions::list))
        .route("/sessions/watch", get(watch::watch))
        .route("/sessions/{id}", axum::routing::delete(sessions::kill))
        .route("/audit", get(audit::search))
        .route("/audit/stream", get(audit_stream::stream))
}

/// The whole HTTP surface: health, `/api/v1`, and JSON errors for anything else.
pub fn router(readiness: Readiness, slot: AppSlot) -> Router {
    Router::new()
        .nest("/api/v1", api_routes())
        .merge(health::routes(readiness))
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::wrong_method)
        .with_state(slot)
        .layer(axum::middleware::from_fn(http::context::layer))
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
        let (status, body) = call(
            router(Readiness::new(), AppSlot::new(1 << 16)),
            "GET",
            "/api/v1/nope",
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "not_found");
        assert_eq!(body["error"]["message"], "no route for GET /api/v1/nope");
    }

    #[tokio::test]
    async fn wrong_method_is_a_json_405() {
        let (status, body) = call(
            router(Readiness::new(), AppSlot::new(1 << 16)),
            "POST",
            "/healthz",
        )
        .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }

    #[tokio::test]
    async fn readyz_follows_readiness() {
        let readiness = Readiness::new();
        let (status, _) = call(
            router(readiness.clone(), AppSlot::new(1 << 16)),
            "GET",
            "/readyz",
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        readiness.set(true);
        let (status, body) = call(router(readiness, AppSlot::new(1 << 16)), "GET", "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ready");
    }
}

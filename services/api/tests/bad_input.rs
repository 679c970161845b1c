//! Bad input against the real API on real NATS and PostgreSQL: malformed,
//! mistyped, oversized and mislabelled bodies (`bodies`); hostile names,
//! labels and e-mails (`names`) and paths, queries and request ids
//! (`paths`); tokens that open no session (`tokens`); join tokens, CSRs and
//! certificates that prove nothing (`certificates`). Each must get its
//! specific 4xx as `{"error": {"code", "message"}}` with an `x-request-id`,
//! and must append no event: `BAMF_EVENTS`' last sequence is the same after
//! the request as before it.

mod common;

#[path = "bad_input/bodies.rs"]
mod bodies;
#[path = "bad_input/certificates.rs"]
mod certificates;
#[path = "bad_input/names.rs"]
mod names;
#[path = "bad_input/paths.rs"]
mod paths;
#[path = "bad_input/tokens.rs"]
mod tokens;

use bamf_events::jetstream;
use common::{last_event_seq, Backends, Client, Replica, Req};
use serde_json::Value;

/// A running API with an admin session and a view of the log.
pub struct Bench {
    pub backends: Backends,
    pub api: Replica,
    pub js: jetstream::Context,
    pub anon: Client,
    pub admin: Client,
}

impl Bench {
    pub async fn start() -> Bench {
        let backends = Backends::start().await;
        let api = backends.replica().await;
        let js = backends.jetstream().await;
        let anon = api.client();
        let admin = anon.admin().await;
        Bench {
            backends,
            api,
            js,
            anon,
            admin,
        }
    }

    /// The admin's user id.
    pub async fn admin_id(&self) -> String {
        let me = self.admin.get("/auth/whoami").await.expect(200);
        me["user"]["id"].as_str().expect("a user id").to_string()
    }

    /// Sends `req` as `client`; the answer must be `status` with error
    /// `code`, in the documented shape, with a request id, and the log must
    /// not have grown.
    pub async fn refused(&self, what: &str, client: &Client, req: Req, status: u16, code: &str) {
        let before = last_event_seq(&self.js).await;
        let answer = client.req(&req).await;
        assert_eq!(
            (answer.status, answer.code()),
            (status, code),
            "{what} ({} {}): {}",
            req.method,
            req.path,
            answer.body
        );
        let body = &answer.body;
        let shape_ok = body.as_object().is_some_and(|o| o.len() == 1)
            && body["error"].as_object().is_some_and(|e| e.len() == 2)
            && body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty());
        assert!(shape_ok, "{what}: not the error shape: {body}");
        let content_type = answer.headers.get("content-type").map(|v| v.as_bytes());
        assert_eq!(content_type, Some(&b"application/json"[..]), "{what}");
        assert!(answer.request_id.is_some(), "{what}: no x-request-id");
        let after = last_event_seq(&self.js).await;
        assert_eq!(after, before, "{what}: the refused request appended events");
    }

    pub async fn stop(self) {
        self.api.stop().await;
    }
}

/// `POST path` with a JSON body.
pub fn post(path: impl Into<String>, body: Value) -> Req {
    Req::json("POST", path, &body)
}

/// `PATCH path` with a JSON body.
pub fn patch(path: impl Into<String>, body: Value) -> Req {
    Req::json("PATCH", path, &body)
}

/// `PUT path` with a JSON body.
pub fn put(path: impl Into<String>, body: Value) -> Req {
    Req::json("PUT", path, &body)
}

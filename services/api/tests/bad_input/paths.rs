//! Hostile path parameters and query strings, built-in roles, and request
//! ids: each refused (or replaced) with nothing appended; text that only
//! looks like SQL or shell is stored as the text it is.

use serde_json::json;

use super::{post, Bench};
use crate::common::Req;

#[tokio::test]
async fn hostile_paths_queries_and_request_ids_change_nothing() {
    let bench = Bench::start().await;
    let admin = &bench.admin;
    admin
        .post("/users", json!({"email": "c@corp.example"}))
        .await
        .expect(201);

    for (what, req, status, code) in [
        (
            "revoke-all without an e-mail",
            Req::new("DELETE", "/auth/sessions"),
            400,
            "invalid_request",
        ),
        (
            "revoke-all with an unknown parameter",
            Req::new("DELETE", "/auth/sessions?email=c%40corp.example&all=1"),
            400,
            "invalid_request",
        ),
        (
            "unbind without a role",
            Req::new("DELETE", "/role-bindings?email=c%40corp.example"),
            400,
            "invalid_request",
        ),
        (
            "a custom role named like a built-in one",
            post("/roles", json!({"name": "admin"})),
            409,
            "conflict",
        ),
        (
            "deleting a built-in role",
            Req::new("DELETE", "/roles/audit"),
            409,
            "conflict",
        ),
    ] {
        bench.refused(what, admin, req, status, code).await;
    }

    // Hostile path parameters name nothing.
    let long = format!("/users/{}", "a".repeat(10_000));
    for path in [
        "/users/..%2F..%2Fetc%2Fpasswd",
        "/users/%00",
        "/users/a%E2%80%AEb",
        "/users/%2A",
        "/roles/%3E",
        "/roles/a.b",
        "/roles/..",
        &long,
    ] {
        let what = format!("GET {path}");
        bench
            .refused(&what, admin, Req::new("GET", path), 404, "not_found")
            .await;
    }
    for path in [
        "/agents/a.b",
        "/agents/%3E",
        "/join-tokens/%2A",
        "/join-tokens/..%2F..",
        "/users/%00",
        "/roles/bamf.evt.%3E",
    ] {
        let what = format!("DELETE {path}");
        bench
            .refused(&what, admin, Req::new("DELETE", path), 404, "not_found")
            .await;
    }

    // SQL- and shell-looking text is just text where text is allowed.
    let odd = "x'; DROP TABLE users;-- $(rm -rf /) `id`";
    let created = admin
        .post(
            "/users",
            json!({"email": "o'brien+x@corp.example", "display_name": odd}),
        )
        .await
        .expect(201);
    assert_eq!(created["display_name"], odd);
    assert_eq!(created["email"], "o'brien+x@corp.example");
    let id = created["id"].as_str().unwrap();
    let read = admin.get(&format!("/users/{id}")).await.expect(200);
    assert_eq!(read["display_name"], odd);

    // A hostile request id is replaced by one of the server's, a plain one kept.
    for sent in [
        &b"../../etc"[..],
        b"two words",
        b"\xff\xfe",
        &[b'a'; 129][..],
    ] {
        let req = Req::new("GET", "/auth/whoami").header("x-request-id", sent);
        let answer = admin.req(&req).await;
        let id = answer.request_id.expect("x-request-id");
        assert_ne!(id.as_bytes(), sent);
        assert!(ulid::Ulid::from_string(&id).is_ok(), "not a ULID: {id}");
    }
    let req = Req::new("GET", "/auth/whoami").header("x-request-id", "req-1.2:3_x");
    let answer = admin.req(&req).await;
    assert_eq!(answer.request_id.as_deref(), Some("req-1.2:3_x"));
    bench.stop().await;
}

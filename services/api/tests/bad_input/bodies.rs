//! Bodies that are not JSON, not the right JSON, too big, or not declared
//! JSON, on every body-taking operation: 400 `invalid_json`, 400
//! `invalid_request`, 413 `body_too_large`, 415 `unsupported_media_type`.

use serde_json::{json, Value};

use super::{post, Bench};
use crate::common::{Client, Req, ADMIN_EMAIL};

/// `max_body_bytes` of the test config (the default).
const MAX_BODY: usize = 64 * 1024;

/// Nested arrays `depth` deep: `[[[…]]]`.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// A JSON object of exactly `len` bytes: `{"pad":"aaa…"}`.
fn padded(len: usize) -> Vec<u8> {
    let frame = r#"{"pad":""}"#.len();
    format!(r#"{{"pad":"{}"}}"#, "a".repeat(len - frame)).into_bytes()
}

/// `good` with `field` set to `value`.
fn with(good: &Value, field: &str, value: Value) -> Value {
    let mut body = good.clone();
    body[field] = value;
    body
}

/// The cases for one operation, from a body that parses (`good`, whose first
/// field is the one mistyped).
fn cases(
    method: &'static str,
    path: &str,
    good: &Value,
) -> Vec<(&'static str, Req, u16, &'static str)> {
    let raw = |body: &[u8]| Req::new(method, path).raw(Some("application/json"), body.to_vec());
    let typed = |ct: Option<&str>, body: Vec<u8>| Req::new(method, path).raw(ct, body);
    let json = |body: Value| Req::json(method, path, &body);
    let first = good
        .as_object()
        .and_then(|o| o.keys().next())
        .expect("a field")
        .clone();
    let text = good.to_string();
    let members = &text[1..text.len() - 1];
    let good_bytes = text.clone().into_bytes();
    let (json_err, shape, large, media) = (
        (400, "invalid_json"),
        (400, "invalid_request"),
        (413, "body_too_large"),
        (415, "unsupported_media_type"),
    );
    let case = |what, req, (status, code): (u16, &'static str)| (what, req, status, code);
    vec![
        case("cut short", raw(br#"{"email":"#), json_err),
        case("trailing text", raw(b"{} x"), json_err),
        case("not UTF-8", raw(b"{\"a\": \"\xff\xfe\"}"), json_err),
        case("empty", raw(b""), json_err),
        case(
            "nested past the recursion limit",
            raw(nested(200).as_bytes()),
            json_err,
        ),
        case("a top-level array", raw(b"[]"), shape),
        case("fields as an array", raw(b"[null, null, null]"), shape),
        case("a string", raw(br#""text""#), shape),
        case("a number", raw(b"1"), shape),
        case("null", raw(b"null"), shape),
        case(
            "a mistyped field",
            json(with(good, &first, json!(12345))),
            shape,
        ),
        case(
            "an object for a string",
            json(with(good, &first, json!({"$gt": ""}))),
            shape,
        ),
        case(
            "a field given twice",
            raw(format!("{{{members}, {members}}}").as_bytes()),
            shape,
        ),
        case(
            "an unknown field",
            json(with(good, "is_admin", json!(true))),
            shape,
        ),
        case("over max_body_bytes", raw(&padded(MAX_BODY + 1)), large),
        // At the limit the body is read, and refused for its content.
        case("exactly max_body_bytes", raw(&padded(MAX_BODY)), shape),
        case("no content type", typed(None, good_bytes.clone()), media),
        case(
            "text/plain",
            typed(Some("text/plain"), good_bytes.clone()),
            media,
        ),
        case(
            "a form",
            typed(
                Some("application/x-www-form-urlencoded"),
                b"email=a".to_vec(),
            ),
            media,
        ),
        case(
            "a look-alike type",
            typed(Some("application/jsonp"), good_bytes),
            media,
        ),
        case(
            "oversized and not JSON",
            typed(Some("text/plain"), vec![b'a'; MAX_BODY * 4]),
            media,
        ),
    ]
}

#[tokio::test]
async fn malformed_bodies_are_refused_before_anything_happens() {
    let bench = Bench::start().await;
    let (anon, admin) = (&bench.anon, &bench.admin);
    let my_id = bench.admin_id().await;
    admin
        .post("/roles", json!({"name": "dev"}))
        .await
        .expect(201);

    // Every body-taking operation, who calls it, and a body that parses.
    let user = format!("/users/{my_id}");
    let disable = format!("/users/{my_id}/disable");
    let endpoints: Vec<(&str, &'static str, &str, &Client, Value)> = vec![
        (
            "login",
            "POST",
            "/auth/local/login",
            anon,
            json!({"email": ADMIN_EMAIL, "password": "wrong password 1"}),
        ),
        (
            "create user",
            "POST",
            "/users",
            admin,
            json!({"email": "new@corp.example"}),
        ),
        (
            "update user",
            "PATCH",
            &user,
            admin,
            json!({"display_name": "Admin"}),
        ),
        (
            "disable user",
            "POST",
            &disable,
            admin,
            json!({"reason": "left"}),
        ),
        (
            "create role",
            "POST",
            "/roles",
            admin,
            json!({"name": "ops"}),
        ),
        (
            "replace role",
            "PUT",
            "/roles/dev",
            admin,
            json!({"name": "dev"}),
        ),
        (
            "bind role",
            "POST",
            "/role-bindings",
            admin,
            json!({"email": ADMIN_EMAIL, "role": "dev"}),
        ),
        (
            "create join token",
            "POST",
            "/join-tokens",
            admin,
            json!({"name": "edge"}),
        ),
        (
            "join",
            "POST",
            "/agents/join",
            anon,
            json!({"token": "t", "name": "edge-1", "csr": "c"}),
        ),
        (
            "renew",
            "POST",
            "/agents/renew",
            anon,
            json!({"certificate": "c", "csr": "c"}),
        ),
    ];
    for (name, method, path, client, good) in &endpoints {
        for (case, req, status, code) in cases(method, path, good) {
            let what = format!("{name}: {case}");
            bench.refused(&what, client, req, status, code).await;
        }
        // Missing required fields (update and disable have none).
        if !matches!(*name, "update user" | "disable user") {
            let req = Req::json(method, *path, &json!({}));
            let what = format!("{name}: no fields");
            bench
                .refused(&what, client, req, 400, "invalid_request")
                .await;
        }
    }

    // The message names the field at fault.
    let answer = admin
        .req(&post(
            "/join-tokens",
            json!({"name": "edge", "max_uses": "many"}),
        ))
        .await;
    assert_eq!(answer.code(), "invalid_request");
    let message = answer.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("max_uses"), "{message}");
    bench.stop().await;
}

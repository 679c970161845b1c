//! The OpenAPI document against the router and against OpenAPI 3.1's
//! structure: every route is documented and every documented operation is
//! routed (checked on a running API, and in router.rs's text for the paths),
//! a documented path answers an undocumented method with a JSON 405, and every
//! `$ref`, link and security scheme in the document points at something.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use bamf_api::openapi::{LINKS, OPERATIONS};
use common::{Backends, Client};
use serde_json::Value;

/// The methods a path item may hold (OpenAPI 3.1 §4.8.9).
const PATH_ITEM_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// Methods probed on each documented path.
const PROBED_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// `(method, path)` of every operation, e.g. `("get", "/users/{id}")`.
fn documented() -> BTreeSet<(String, String)> {
    OPERATIONS
        .iter()
        .map(|op| (op.method.to_string(), op.path.to_string()))
        .collect()
}

/// The `(method, path)` pairs of `api_routes` in router.rs: each
/// `.route("<path>", <method>(handler).<method>(handler)…)` call.
fn routed_in_source() -> BTreeSet<(String, String)> {
    let source = include_str!("../src/router.rs");
    let start = source
        .find("pub fn api_routes")
        .expect("router.rs defines api_routes");
    let end = start
        + source[start..]
            .find("\n}\n")
            .expect("api_routes ends with a closing brace");
    let body = &source[start..end];
    let mut routes = BTreeSet::new();
    for (at, _) in body.match_indices(".route(") {
        let call = balanced(&body[at + ".route".len()..]);
        let path = call
            .split('"')
            .nth(1)
            .expect("a route's first argument is a string literal");
        let methods = call[call.find(',').expect("a route has a method router")..].to_string();
        let mut found = 0;
        for method in PATH_ITEM_METHODS {
            let mut rest = methods.as_str();
            while let Some(i) = rest.find(&format!("{method}(")) {
                let before = rest[..i].chars().last();
                if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) {
                    routes.insert((method.to_string(), path.to_string()));
                    found += 1;
                }
                rest = &rest[i + method.len()..];
            }
        }
        assert!(found > 0, "no method found in route {call}");
    }
    routes
}

/// The text of a parenthesised call, from `(` to its matching `)`.
fn balanced(text: &str) -> &str {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..=i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced call in router.rs: {text}");
}

/// The endpoints table of docs/api.md: ``| `METHOD /path` | …``.
fn documented_in_markdown() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(bamf_testkit::repo_root().join("docs/api.md"))
        .expect("docs/api.md is readable");
    text.lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .filter_map(|cell| cell.split_once(' '))
        .filter(|(method, _)| method.chars().all(|c| c.is_ascii_uppercase()))
        .map(|(method, path)| {
            let path = path.split('?').next().unwrap_or(path);
            (method.to_ascii_lowercase(), path.to_string())
        })
        .collect()
}

#[test]
fn every_route_is_documented_and_every_operation_routed() {
    let documented = documented();
    assert_eq!(
        documented.len(),
        OPERATIONS.len(),
        "an operation is listed twice"
    );
    let routed = routed_in_source();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routes not in openapi::OPERATIONS: {undocumented:?}; operations not routed: {unrouted:?}"
    );
    // docs/api.md lists the same endpoints (the document itself aside).
    let mut without_document = documented.clone();
    without_document.remove(&("get".to_string(), "/openapi.json".to_string()));
    let markdown = documented_in_markdown();
    assert_eq!(
        markdown, without_document,
        "docs/api.md's endpoint table differs from openapi::OPERATIONS"
    );
}

/// Calls `method path` with a placeholder for each `{param}`, as `client`.
async fn call(client: &Client, method: &str, path: &str) -> common::Answer {
    let concrete: Vec<String> = path
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "probe-0".to_string()
            } else {
                seg.to_string()
            }
        })
        .collect();
    client.custom(method, &concrete.join("/"), &[], None).await
}

#[tokio::test]
async fn every_documented_operation_is_served_and_other_methods_are_refused() {
    let backends = Backends::start().await;
    let api = backends.replica().await;
    let anon = api.client();
    let admin = anon.admin().await;
    // Logout ends the token it is called with: it gets one of its own.
    let leaving = anon.admin().await;

    // No body, no query and a made-up id: each handler refuses (400, 404,
    // 415…) or answers, but never the router's "no route" 404 or its 405.
    for op in OPERATIONS {
        let method = op.method.to_ascii_uppercase();
        let client = if op.id == "logout" { &leaving } else { &admin };
        // A stream never ends by itself: a bad resume position proves the
        // route is served without opening one.
        let answer = if bamf_api::openapi::EVENT_STREAMS.contains(&op.id) {
            client
                .custom(
                    &method,
                    op.path,
                    &[("last-event-id", b"not-a-sequence")],
                    None,
                )
                .await
        } else {
            call(client, &method, op.path).await
        };
        let fallback = answer.status == 405
            || (answer.status == 404
                && answer.body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("no route for")));
        assert!(
            !fallback,
            "{method} {} is documented but not routed: {} {}",
            op.path, answer.status, answer.body
        );
        assert!(
            answer.request_id.is_some(),
            "{method} {}: no x-request-id",
            op.path
        );
    }

    // Every other method on a documented path: a JSON 405 whose Allow header
    // names exactly the documented methods (axum adds HEAD to GET).
    let mut by_path: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for op in OPERATIONS {
        by_path
            .entry(op.path)
            .or_default()
            .insert(op.method.to_ascii_uppercase());
    }
    for (path, methods) in &by_path {
        let mut allowed = methods.clone();
        if allowed.contains("GET") {
            allowed.insert("HEAD".to_string());
        }
        for method in PROBED_METHODS.iter().filter(|m| !methods.contains(**m)) {
            let answer = call(&admin, method, path).await;
            assert_eq!(
                (answer.status, answer.code()),
                (405, "method_not_allowed"),
                "{method} {path}: {}",
                answer.body
            );
            assert!(
                answer.request_id.is_some(),
                "{method} {path}: no x-request-id"
            );
            let allow: BTreeSet<String> = answer
                .headers
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .split(',')
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .collect();
            assert_eq!(allow, allowed, "Allow header of {method} {path}");
        }
    }

    // The served document is the one the code builds.
    let served = anon.get("/openapi.json").await.expect(200);
    assert_eq!(served, bamf_api::openapi::document());
    api.stop().await;
}

/// Every `"$ref"` string in `value`, with its JSON pointer path.
fn refs<'a>(value: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "$ref" {
                    if let Some(target) = v.as_str() {
                        out.push((at.clone(), target));
                    }
                }
                refs(v, format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                refs(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Follows `$ref`s (within the document) to the object they name.
fn deref<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..16 {
        match value.get("$ref").and_then(Value::as_str) {
            Some(target) => {
                value = doc
                    .pointer(target.trim_start_matches('#'))
                    .unwrap_or_else(|| panic!("unresolved $ref {target}"));
            }
            None => return value,
        }
    }
    panic!("a $ref chain longer than 16");
}

#[test]
fn the_document_is_well_formed_openapi_3_1() {
    let doc = bamf_api::openapi::document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("components.schemas is an object");
    assert!(!schemas.is_empty());
    for (name, schema) in schemas {
        assert!(
            schema.is_object() || schema.is_boolean(),
            "components.schemas.{name} is not a schema"
        );
    }

    // Every $ref is local and resolves.
    let mut found = Vec::new();
    refs(&doc, String::new(), &mut found);
    assert!(!found.is_empty(), "the document has no $ref at all");
    for (at, target) in &found {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{at}: $ref {target} is not local to the document"));
        assert!(
            doc.pointer(pointer).is_some(),
            "{at}: $ref {target} names nothing"
        );
    }

    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("components.securitySchemes is an object");
    let paths = doc["paths"].as_object().expect("paths is an object");
    let mut operation_ids = BTreeMap::new();
    for (path, item) in paths {
        assert!(
            path.starts_with("/api/v1/"),
            "path {path} is not under /api/v1"
        );
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        let item = item.as_object().expect("a path item is an object");
        for (method, op) in item {
            assert!(
                PATH_ITEM_METHODS.contains(&method.as_str()),
                "{path}: {method} is not an HTTP method of OpenAPI"
            );
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(
                operation_ids.insert(id.to_string(), op).is_none(),
                "operationId {id} is used twice"
            );
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let mut in_path = BTreeSet::new();
            for p in &params {
                let p = deref(&doc, p);
                let name = p["name"].as_str().expect("a parameter has a name");
                let location = p["in"].as_str().expect("a parameter says where it is");
                assert!(
                    ["path", "query", "header", "cookie"].contains(&location),
                    "{method} {path}: parameter {name} is in {location}"
                );
                assert!(
                    p["schema"].is_object(),
                    "{method} {path}: {name} has no schema"
                );
                if location == "path" {
                    assert_eq!(
                        p["required"], true,
                        "{method} {path}: path {name} is optional"
                    );
                    in_path.insert(name);
                }
            }
            assert_eq!(in_path, templated, "{method} {path}: path parameters");
            if let Some(body) = op.get("requestBody") {
                assert!(
                    body["content"]["application/json"]["schema"].is_object(),
                    "{method} {path}: request body without a JSON schema"
                );
            }
            let responses = op["responses"]
                .as_object()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| panic!("{method} {path} has no responses"));
            for (status, answer) in responses {
                assert!(
                    status == "default"
                        || (status.len() == 3 && status.chars().all(|c| c.is_ascii_digit())),
                    "{method} {path}: response key {status}"
                );
                let answer = deref(&doc, answer);
                assert!(
                    answer["description"].is_string(),
                    "{method} {path} {status}: no description"
                );
                assert!(
                    answer["headers"].get("x-request-id").is_some(),
                    "{method} {path} {status}: x-request-id is not declared"
                );
                if let Some(content) = answer.get("content") {
                    // Server-Sent Events: the schema of each event's data.
                    let streamed = &content["text/event-stream"];
                    assert!(
                        content["application/json"]["schema"].is_object()
                            || (status == "200" && streamed["x-event-data"].is_object()),
                        "{method} {path} {status}: content without a JSON schema"
                    );
                }
                if status == "429" {
                    assert_eq!(
                        deref(&doc, &answer["headers"]["retry-after"])["required"],
                        true
                    );
                }
            }
            for requirement in op["security"].as_array().into_iter().flatten() {
                for scheme in requirement
                    .as_object()
                    .expect("a requirement is an object")
                    .keys()
                {
                    assert!(
                        schemes.contains_key(scheme),
                        "{method} {path}: no scheme {scheme}"
                    );
                }
            }
        }
    }
    assert_eq!(operation_ids.len(), OPERATIONS.len());

    // Links name existing operations and their path parameters.
    for (from, to, param, expression) in LINKS {
        let target = operation_ids
            .get(*to)
            .unwrap_or_else(|| panic!("link {from} → {to}: no operation {to}"));
        let takes = target["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == *param);
        assert!(takes, "link {from} → {to}: {to} has no parameter {param}");
        assert!(
            operation_ids.contains_key(*from),
            "link from unknown operation {from}"
        );
        assert!(expression.starts_with("$response.body#/"));
    }
}

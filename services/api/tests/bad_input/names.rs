//! Hostile strings in names, labels, e-mails and free text, and values the
//! domain's rules refuse: 400 `invalid_argument`, nothing appended. Names
//! and labels are held to their syntax, so `.`, `*` and `>` (which would
//! change a NATS subject), traversal, control and direction-changing
//! characters and 10k-character strings never reach the log.

use serde_json::json;

use super::{patch, post, put, Bench};
use crate::common::Req;

/// Strings no name, label or e-mail may hold, with what they are.
fn hostile() -> Vec<(&'static str, String)> {
    vec![
        ("empty", String::new()),
        ("a control character", "ab\u{7}c".into()),
        ("a newline", "ab\ncd".into()),
        ("NUL", "ab\0cd".into()),
        ("a right-to-left override", "ab\u{202e}cd".into()),
        ("a zero-width space", "ab\u{200b}cd".into()),
        ("a path traversal", "../../etc/passwd".into()),
        ("10k characters", "a".repeat(10_000)),
        ("SQL", "x'; DROP TABLE users;--".into()),
        ("shell", "$(rm -rf /)".into()),
        ("a NATS wildcard", "*".into()),
        ("a NATS tail wildcard", ">".into()),
        ("a NATS subject", "bamf.evt.>".into()),
        ("a space", "two words".into()),
    ]
}

/// Free text (display names, descriptions) refuses only what hides or is
/// too long.
fn hostile_text() -> Vec<(&'static str, String)> {
    vec![
        ("a control character", "ab\u{7}c".into()),
        ("NUL", "ab\0cd".into()),
        ("a right-to-left override", "ab\u{202e}cd".into()),
        ("a zero-width joiner", "ab\u{2060}cd".into()),
        ("10k characters", "a".repeat(10_000)),
    ]
}

#[tokio::test]
async fn hostile_names_labels_and_emails_are_refused() {
    let bench = Bench::start().await;
    let admin = &bench.admin;
    let user = format!("/users/{}", bench.admin_id().await);
    // A user for the disable case, made before the refusals are counted.
    admin
        .post("/users", json!({"email": "c@corp.example"}))
        .await
        .expect(201);

    let mut cases: Vec<(String, Req)> = Vec::new();
    for (kind, s) in hostile() {
        let email = format!("{s}@corp.example");
        let mut add = |what: &str, req: Req| cases.push((format!("{what}: {kind}"), req));
        add("role name", post("/roles", json!({"name": s})));
        add("join token name", post("/join-tokens", json!({"name": s})));
        add(
            "join token label key",
            post(
                "/join-tokens",
                json!({"name": "edge", "labels": {s.clone(): "v"}}),
            ),
        );
        add(
            "role label key",
            post(
                "/roles",
                json!({"name": "ops", "allow": {"labels": {s.clone(): "v"}}}),
            ),
        );
        add(
            "provider of a binding",
            post(
                "/role-bindings",
                json!({"provider": s, "email": "a@corp.example", "role": "audit"}),
            ),
        );
        add(
            "role of a binding",
            post(
                "/role-bindings",
                json!({"email": "a@corp.example", "role": s}),
            ),
        );
        add(
            "role of a new user",
            post("/users", json!({"email": "b@corp.example", "roles": [s]})),
        );
        // `*` is a name pattern, and a valid e-mail local part (RFC 5322
        // atext; e-mails never reach a subject): refused elsewhere only.
        if s != "*" {
            add(
                "role name pattern",
                post("/roles", json!({"name": "ops", "allow": {"names": [s]}})),
            );
            add(
                "e-mail of a new user",
                post("/users", json!({"email": email})),
            );
            add(
                "e-mail of a binding",
                post("/role-bindings", json!({"email": email, "role": "audit"})),
            );
        }
        // Label values may be empty; anything else here is refused.
        if !s.is_empty() {
            add(
                "join token label value",
                post(
                    "/join-tokens",
                    json!({"name": "edge", "labels": {"site": s}}),
                ),
            );
        }
    }
    for (kind, s) in hostile_text() {
        let mut add = |what: &str, req: Req| cases.push((format!("{what}: {kind}"), req));
        add(
            "display name of a new user",
            post(
                "/users",
                json!({"email": "d@corp.example", "display_name": s}),
            ),
        );
        add(
            "display name change",
            patch(&user, json!({"display_name": s})),
        );
        add(
            "role description",
            post("/roles", json!({"name": "ops", "description": s})),
        );
        add(
            "disable reason",
            post("/users/c@corp.example/disable", json!({"reason": s})),
        );
    }
    let role = |rules: serde_json::Value| post("/roles", json!({"name": "ops", "allow": rules}));
    let token = |body: serde_json::Value| post("/join-tokens", body);
    let fixed: Vec<(&str, Req)> = vec![
        (
            "e-mail without @",
            post("/users", json!({"email": "corp.example"})),
        ),
        (
            "e-mail with two @",
            post("/users", json!({"email": "a@b@corp.example"})),
        ),
        (
            "e-mail with a header injection",
            post(
                "/users",
                json!({"email": "a@corp.example\r\nBcc: all@corp.example"}),
            ),
        ),
        (
            "e-mail with a path for a domain",
            post("/users", json!({"email": "a@../../etc"})),
        ),
        (
            "e-mail change to a bad address",
            patch(&user, json!({"email": "not an e-mail"})),
        ),
        (
            "a password under the minimum",
            post(
                "/users",
                json!({"email": "e@corp.example", "password": "short"}),
            ),
        ),
        (
            "a role that does not exist",
            post(
                "/users",
                json!({"email": "e@corp.example", "roles": ["ghost"]}),
            ),
        ),
        (
            "a binding to a role that does not exist",
            post(
                "/role-bindings",
                json!({"email": "e@corp.example", "role": "ghost"}),
            ),
        ),
        (
            "a wildcard label key with a value",
            role(json!({"labels": {"*": "prod"}})),
        ),
        (
            "a label with no values",
            role(json!({"labels": {"env": []}})),
        ),
        (
            "a label prefix that is not a DNS name",
            role(json!({"labels": {"Corp_Example/env": "x"}})),
        ),
        (
            "a label value over 63 bytes",
            role(json!({"labels": {"env": "a".repeat(64)}})),
        ),
        (
            "a kubernetes group with a space",
            role(json!({"kubernetes_groups": ["system masters"]})),
        ),
        (
            "65 name patterns",
            role(json!({"names": (0..65).map(|i| format!("n{i}")).collect::<Vec<_>>()})),
        ),
        (
            "a role document naming another role",
            put("/roles/ops", json!({"name": "dev"})),
        ),
        ("zero uses", token(json!({"name": "edge", "max_uses": 0}))),
        (
            "a join token for 31 days",
            token(json!({"name": "edge", "ttl": "31d"})),
        ),
        (
            "a join token for no time",
            token(json!({"name": "edge", "ttl": "0s"})),
        ),
        (
            "a join token for a negative time",
            token(json!({"name": "edge", "ttl": "-1h"})),
        ),
        (
            "a join token for 1 fortnight",
            token(json!({"name": "edge", "ttl": "1 fortnight"})),
        ),
        (
            "revoke-all for a bad e-mail",
            Req::new("DELETE", "/auth/sessions?email=a%00b%40corp.example"),
        ),
        (
            "unbind a wildcard role",
            Req::new("DELETE", "/role-bindings?email=a%40corp.example&role=*"),
        ),
    ];
    cases.extend(fixed.into_iter().map(|(what, req)| (what.to_string(), req)));
    for (what, req) in cases {
        bench
            .refused(&what, admin, req, 400, "invalid_argument")
            .await;
    }
    bench.stop().await;
}

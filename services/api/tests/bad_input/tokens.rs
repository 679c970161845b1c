//! Login tokens that open no session — malformed `Authorization` headers,
//! unknown, revoked and disabled users' tokens — and login TTLs out of
//! bounds: 401 `unauthenticated` / 400, nothing appended.
//!
//! Expiry is proved without waiting a minute: a real login with the shortest
//! TTL (`1m`) is read back from the log, folded into a fresh control view,
//! and checked with the API's own pure token check
//! ([`bamf_api::http::auth::authenticate`]) at the microsecond before its
//! expiry and at it.

use std::time::Duration;

use bamf_api::http::auth::authenticate;
use bamf_domain::control::ControlView;
use bamf_domain::{AggregateId, Timestamp};
use bamf_events::streams::EVENTS_STREAM;
use bamf_events::{jetstream, Feed};
use serde_json::json;

use super::{post, Bench};
use crate::common::{last_event_seq, Client, Req, ADMIN_EMAIL, ADMIN_PASSWORD};

/// Reads `BAMF_EVENTS` from the start and folds it into a fresh view.
async fn fold_log(js: &jetstream::Context) -> ControlView {
    let last = last_event_seq(js).await;
    let mut feed = Feed::open(js, EVENTS_STREAM, None, 1)
        .await
        .expect("the log opens");
    let mut view = ControlView::default();
    let mut seq = 0;
    while seq < last {
        let item = tokio::time::timeout(Duration::from_secs(10), feed.next())
            .await
            .expect("the log delivers")
            .expect("the feed goes on")
            .expect("the log is readable");
        let envelope = item.decoded.expect("every event decodes");
        view.fold(
            item.seq,
            &envelope.aggregate_id,
            &envelope.event,
            envelope.time,
        );
        seq = item.seq;
    }
    view
}

/// `req` as `client` must be refused 401 `unauthenticated`, appending nothing.
async fn no_session(bench: &Bench, what: &str, client: &Client, req: Req) {
    bench
        .refused(what, client, req, 401, "unauthenticated")
        .await;
}

#[tokio::test]
async fn tokens_that_open_no_session_are_refused() {
    let bench = Bench::start().await;
    let (anon, admin) = (&bench.anon, &bench.admin);
    let token = admin.token.clone().expect("logged in");
    // A command the token would be allowed: any refusal is the header's.
    let create = post("/users", json!({"email": "new@corp.example"}));
    let mut garbled = token.clone().into_bytes();
    garbled[0] = if garbled[0] == b'A' { b'B' } else { b'A' };
    let bearer = |t: &str| format!("Bearer {t}").into_bytes();
    let headers: Vec<(&str, Vec<u8>)> = vec![
        ("empty", b"".to_vec()),
        ("a bare scheme", b"Bearer".to_vec()),
        ("a scheme and a space", b"Bearer ".to_vec()),
        ("basic credentials", b"Basic YWRtaW46cGFzcw==".to_vec()),
        (
            "the token under another scheme",
            format!("Token {token}").into_bytes(),
        ),
        ("the token without a scheme", token.clone().into_bytes()),
        ("the token cut short", bearer(&token[..42])),
        (
            "the token with one more character",
            bearer(&format!("{token}A")),
        ),
        (
            "the token with one character changed",
            [&b"Bearer "[..], &garbled].concat(),
        ),
        (
            "the token twice",
            bearer(&format!("{token}, Bearer {token}")),
        ),
        (
            "a token of the right shape nobody has",
            bearer(&"A".repeat(43)),
        ),
        ("a token with a dot", bearer(&format!("{}.", &token[..42]))),
        ("not text", b"Bearer \xff\xfe\xfd".to_vec()),
        ("10k characters", bearer(&"a".repeat(10_000))),
    ];
    no_session(&bench, "no Authorization", anon, create.clone()).await;
    for (what, value) in headers {
        no_session(
            &bench,
            what,
            anon,
            create.clone().header("authorization", value),
        )
        .await;
    }
    // The scheme is case-insensitive (RFC 9110): the check above can pass.
    let whoami = Req::new("GET", "/auth/whoami");
    let lowercase = whoami
        .clone()
        .header("authorization", format!("bearer {token}"));
    let answer = anon.req(&lowercase).await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    // Revoked by logout, by revoke-all; a disabled user's.
    let leaving = anon.admin().await;
    leaving.post("/auth/logout", json!({})).await.expect(204);
    no_session(&bench, "a logged-out token", &leaving, create.clone()).await;
    let bob = json!({"email": "bob@corp.example", "password": "bob password 12"});
    admin.post("/users", bob).await.expect(201);
    let session = anon.login("bob@corp.example", "bob password 12").await;
    admin
        .delete("/auth/sessions?email=bob%40corp.example")
        .await
        .expect(200);
    no_session(
        &bench,
        "a token revoked by revoke-all",
        &session,
        whoami.clone(),
    )
    .await;
    let session = anon.login("bob@corp.example", "bob password 12").await;
    admin
        .post("/users/bob@corp.example/disable", json!({}))
        .await
        .expect(200);
    no_session(&bench, "a disabled user's token", &session, whoami).await;

    // Login TTLs outside [1m, 30d], or not durations.
    let login = |ttl| {
        post(
            "/auth/local/login",
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "ttl": ttl}),
        )
    };
    for ttl in ["59s", "0s", "-1m", "31d", "1y", "", "12x", "h"] {
        let what = format!("login ttl {ttl:?}");
        bench
            .refused(&what, anon, login(json!(ttl)), 400, "invalid_argument")
            .await;
    }
    let what = "login ttl as a number";
    bench
        .refused(what, anon, login(json!(60)), 400, "invalid_request")
        .await;

    // Expiry: the shortest login, read back from the log, is valid up to
    // the microsecond before it ends and refused from then on.
    let short = anon.req(&login(json!("1m"))).await.expect(200);
    let short_token = short["token"].as_str().expect("a token");
    anon.with_token(short_token)
        .get("/auth/whoami")
        .await
        .expect(200);
    let view = fold_log(&bench.js).await;
    let digest = bamf_api::secrets::token_digest(short_token);
    let login_id = AggregateId::new(short["login_id"].as_str().unwrap().to_string()).unwrap();
    let expires_at = view.logins.sessions[&login_id].expires_at;
    assert_eq!(short["expires_at"], expires_at.to_string());
    let lifetime = expires_at.get() - time::OffsetDateTime::now_utc();
    assert!(
        lifetime <= time::Duration::minutes(1) && lifetime > time::Duration::seconds(30),
        "a 1m login ends in a minute: {lifetime}"
    );
    let just_before = Timestamp::new(expires_at.get() - time::Duration::microseconds(1));
    authenticate(&view, &digest, just_before).expect("valid until it ends");
    let refused = authenticate(&view, &digest, expires_at).expect_err("expired at its end");
    assert_eq!(refused.code(), "unauthenticated");
    assert!(
        refused.message().contains("expired"),
        "{}",
        refused.message()
    );
    bench.stop().await;
}

//! The control plane through the real API on real NATS and PostgreSQL: the
//! first admin, users, login and logout, roles and bindings, join tokens,
//! agents and resources.

mod common;

use bamf_pki::KeyAndCsr;
use common::{Backends, ADMIN_EMAIL};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn the_first_admin_logs_in_and_manages_users() {
    let backends = Backends::start().await;
    let api = backends.replica().await;
    let anon = api.client();
    let admin = anon.admin().await;

    let me = admin.get("/auth/whoami").await.expect(200);
    assert_eq!(me["user"]["email"], ADMIN_EMAIL);
    assert!(me["user"]["roles"]
        .as_array()
        .unwrap()
        .contains(&json!("admin")));

    let created = admin
        .post("/users", json!({"email": "Alice@Corp.Example", "display_name": "Alice", "password": "alice password 1"}))
        .await
        .expect(201);
    assert_eq!(created["email"], "alice@corp.example");
    let alice = anon.login("alice@corp.example", "alice password 1").await;
    assert_eq!(
        alice.get("/auth/whoami").await.expect(200)["user"]["display_name"],
        "Alice"
    );

    // Not an admin: refused, and audited.
    let refused = alice
        .post("/users", json!({"email": "eve@corp.example"}))
        .await;
    assert_eq!((refused.status, refused.code()), (403, "forbidden"));

    // Duplicate e-mail: conflict.
    let dup = admin
        .post("/users", json!({"email": "alice@corp.example"}))
        .await;
    assert_eq!((dup.status, dup.code()), (409, "conflict"));

    // Wrong password and unknown user: one answer.
    let wrong = anon
        .post(
            "/auth/local/login",
            json!({"email": "alice@corp.example", "password": "nope nope nope"}),
        )
        .await;
    let unknown = anon
        .post(
            "/auth/local/login",
            json!({"email": "who@corp.example", "password": "nope nope nope"}),
        )
        .await;
    assert_eq!((wrong.status, wrong.code()), (401, "invalid_credentials"));
    assert_eq!(wrong.body, unknown.body);

    // Logout ends the token.
    alice.post("/auth/logout", json!({})).await.expect(204);
    let after = alice.get("/auth/whoami").await;
    assert_eq!((after.status, after.code()), (401, "unauthenticated"));

    // Disable ends every login at once and refuses new ones.
    let alice = anon.login("alice@corp.example", "alice password 1").await;
    let id = created["id"].as_str().unwrap();
    admin
        .post(&format!("/users/{id}/disable"), json!({"reason": "left"}))
        .await
        .expect(200);
    assert_eq!(alice.get("/auth/whoami").await.status, 401);
    let again = anon
        .post(
            "/auth/local/login",
            json!({"email": "alice@corp.example", "password": "alice password 1"}),
        )
        .await;
    assert_eq!((again.status, again.code()), (403, "user_disabled"));

    // No admin removes their own admin role (the way to lock everyone out).
    let own = admin
        .delete(&format!("/role-bindings?email={ADMIN_EMAIL}&role=admin"))
        .await;
    assert_eq!((own.status, own.code()), (409, "conflict"));

    let users = admin.get("/users").await.expect(200);
    assert_eq!(users["users"].as_array().unwrap().len(), 2);
    admin.delete(&format!("/users/{id}")).await.expect(204);
    assert_eq!(admin.get(&format!("/users/{id}")).await.status, 404);
    api.stop().await;
}

#[tokio::test]
async fn an_agent_joins_heartbeats_and_its_resources_follow_rbac() {
    let backends = Backends::start().await;
    let api = backends.replica().await;
    let anon = api.client();
    let admin = anon.admin().await;

    let token = admin
        .post(
            "/join-tokens",
            json!({"name": "edge", "ttl": "10m", "max_uses": 1, "labels": {"site": "berlin"}}),
        )
        .await
        .expect(201);
    let value = token["token"].as_str().unwrap();
    let listed = admin.get("/join-tokens").await.expect(200);
    assert!(
        !listed.to_string().contains(value),
        "the value is never listed"
    );

    let key = KeyAndCsr::generate().unwrap();
    let joined = anon
        .post(
            "/agents/join",
            json!({"token": value, "name": "edge-1", "csr": key.csr_pem().unwrap()}),
        )
        .await
        .expect(201);
    let agent_id = joined["agent_id"].as_str().unwrap().to_string();
    assert!(joined["certificate"]
        .as_str()
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    // Single use: a second join is refused.
    let key2 = KeyAndCsr::generate().unwrap();
    let second = anon
        .post(
            "/agents/join",
            json!({"token": value, "name": "edge-2", "csr": key2.csr_pem().unwrap()}),
        )
        .await;
    assert_eq!((second.status, second.code()), (409, "conflict"));

    // Renew with the current certificate and the same key.
    let renewed = anon
        .post(
            "/agents/renew",
            json!({"certificate": joined["certificate"], "csr": key.csr_pem().unwrap()}),
        )
        .await
        .expect(200);
    assert_eq!(renewed["agent_id"], agent_id.as_str());
    // Another key: refused.
    let other = anon
        .post(
            "/agents/renew",
            json!({"certificate": joined["certificate"], "csr": key2.csr_pem().unwrap()}),
        )
        .await;
    assert_eq!(other.status, 400);

    // Heartbeat: two resources, one prod one dev.
    let js = bamf_events::jetstream::new(bamf_events::connect(backends.nats.url()).await.unwrap());
    common::advertise_two(&js, &agent_id).await;

    // Admin sees both (once the follower has the beat).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let listed = admin.get("/resources").await.expect(200);
        if listed["resources"].as_array().unwrap().len() == 2 {
            assert_eq!(
                listed["resources"][0]["labels"]["site"], "berlin",
                "token labels reach the agent's resources"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "resources never appeared: {listed}"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A developer role: env=dev only.
    admin
        .post(
            "/roles",
            json!({"name": "dev", "allow": {"labels": {"env": "dev"}}}),
        )
        .await
        .expect(201);
    admin
        .post(
            "/users",
            json!({"email": "dev@corp.example", "password": "developer pass", "roles": ["dev"]}),
        )
        .await
        .expect(201);
    let dev = anon.login("dev@corp.example", "developer pass").await;
    let seen = dev.get("/resources").await.expect(200);
    let names: Vec<&str> = seen["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web-1"]);

    let agents = admin.get("/agents").await.expect(200);
    assert_eq!(agents["agents"][0]["online"], true);
    assert_eq!(agents["agents"][0]["resources"], 2);

    // Deleted: no renewal, not listed, resources gone.
    admin
        .delete(&format!("/agents/{agent_id}"))
        .await
        .expect(204);
    let renew = anon
        .post(
            "/agents/renew",
            json!({"certificate": joined["certificate"], "csr": key.csr_pem().unwrap()}),
        )
        .await;
    assert_eq!(renew.status, 403);
    assert!(admin.get("/resources").await.expect(200)["resources"]
        .as_array()
        .unwrap()
        .is_empty());
    api.stop().await;
}

/// The last audit record on `subject` in BAMF_AUDIT, decoded as an envelope.
async fn last_audit(js: &bamf_events::jetstream::Context, subject: &str) -> serde_json::Value {
    let stream = js.get_stream("BAMF_AUDIT").await.unwrap();
    let message = stream
        .get_last_raw_message_by_subject(subject)
        .await
        .unwrap();
    let envelope = bamf_domain::Envelope::decode(&message.payload).expect("a valid envelope");
    assert!(envelope.event.is_audit_only());
    serde_json::from_slice(&message.payload).unwrap()
}

#[tokio::test]
async fn failed_logins_and_refusals_are_audited_with_the_request_id() {
    let backends = Backends::start().await;
    let api = backends.replica().await;
    let anon = api.client();
    let js = bamf_events::jetstream::new(bamf_events::connect(backends.nats.url()).await.unwrap());

    let secret = "not the admin password";
    let failed = anon
        .post(
            "/auth/local/login",
            json!({"email": ADMIN_EMAIL, "password": secret}),
        )
        .await;
    assert_eq!(failed.status, 401);
    let record = last_audit(&js, "bamf.audit.login.failed").await;
    assert_eq!(record["type"], "login.failed");
    assert_eq!(record["data"]["reason"], "wrong_password");
    assert_eq!(record["data"]["email"], ADMIN_EMAIL);
    assert_eq!(record["request_id"].as_str(), failed.request_id.as_deref());
    assert!(
        !record.to_string().contains(secret),
        "the password never reaches the audit stream"
    );

    let admin = anon.admin().await;
    admin
        .post(
            "/users",
            json!({"email": "bob@corp.example", "password": "bob password 12"}),
        )
        .await
        .expect(201);
    let bob = anon.login("bob@corp.example", "bob password 12").await;
    let refused = bob.get("/users").await;
    assert_eq!(refused.status, 403);
    let record = last_audit(&js, "bamf.audit.access.denied").await;
    assert_eq!(record["data"]["action"], "users.list");
    assert_eq!(record["actor"]["email"], "bob@corp.example");
    assert_eq!(record["request_id"].as_str(), refused.request_id.as_deref());

    // A password set is recorded without the hash; the hash is only in BAMF_CREDENTIALS.
    let record = last_audit(&js, "bamf.audit.user.password_changed").await;
    assert!(!record.to_string().contains("argon2"), "{record}");
    // Domain events reach BAMF_AUDIT too (sourced from BAMF_EVENTS), and no
    // record anywhere in it holds a password or a hash.
    // Sourcing is asynchronous: read until every expected type has arrived.
    let audit = js.get_stream("BAMF_AUDIT").await.unwrap();
    let wanted = [
        "user.created",
        "login.succeeded",
        "login.failed",
        "access.denied",
    ];
    let mut types = std::collections::BTreeSet::new();
    let (mut next, deadline) = (
        1,
        tokio::time::Instant::now() + std::time::Duration::from_secs(10),
    );
    while !wanted.iter().all(|t| types.contains(*t)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "missing from BAMF_AUDIT: {types:?}"
        );
        let Ok(message) = audit.get_raw_message(next).await else {
            tokio::task::yield_now().await;
            continue;
        };
        next += 1;
        let text = String::from_utf8_lossy(&message.payload).to_string();
        assert!(
            !text.contains("argon2") && !text.contains("bob password"),
            "{text}"
        );
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        types.insert(value["type"].as_str().unwrap().to_string());
    }
    api.stop().await;
}

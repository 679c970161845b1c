//! A replica stopped and started again rebuilds the same control state: its
//! listings equal the other replica's, and a projection restarted from the
//! replicas' snapshot has the digest of a cold replay of the whole log.

use std::time::Duration;

use bamf_domain::control::ControlView;
use bamf_events::runner::SnapshotPolicy;
use bamf_events::snapshot::SNAPSHOT_BUCKET;
use bamf_events::streams::EVENTS_STREAM;
use bamf_events::{ProjectionRunner, RunnerConfig, SnapshotStore};
use bamf_pki::KeyAndCsr;
use serde_json::json;

use super::common::{Backends, Client, Replica};
use super::{admin_on, create_user, until_same, until_status, DEADLINE, USER_PASSWORD};

/// A mix of commands over both replicas: users, roles, bindings, tokens,
/// joins, logins, revocations, a disabled user, a deleted role.
async fn command_mix(a: &Replica, b: &Replica, admin_a: &Client, admin_b: &Client, tag: &str) {
    for i in 0..3 {
        let role = format!("{tag}-role-{i}");
        admin_b
            .post(
                "/roles",
                json!({"name": role, "allow": {"labels": {"env": ["dev", "staging"]}, "names": [format!("{tag}-web-*")]}}),
            )
            .await
            .expect(201);
        create_user(admin_a, &format!("{tag}-user-{i}@corp.example"), &[&role]).await;
    }
    admin_a
        .post(
            "/role-bindings",
            json!({"email": format!("{tag}-user-0@corp.example"), "role": format!("{tag}-role-1")}),
        )
        .await
        .expect(201);
    admin_b
        .send(
            "PUT",
            &format!("/roles/{tag}-role-2"),
            Some(json!({"name": format!("{tag}-role-2"), "deny": {"labels": {"env": "prod"}}})),
        )
        .await
        .expect(200);

    // Logins on both replicas; one logs out, one is revoked by the admin.
    let u0 = b
        .client()
        .login(&format!("{tag}-user-0@corp.example"), USER_PASSWORD)
        .await;
    let u1 = a
        .client()
        .login(&format!("{tag}-user-1@corp.example"), USER_PASSWORD)
        .await;
    a.client()
        .login(&format!("{tag}-user-2@corp.example"), USER_PASSWORD)
        .await;
    u0.post("/auth/logout", json!({})).await.expect(204);
    admin_a
        .delete(&format!("/auth/sessions?email={tag}-user-1@corp.example"))
        .await
        .expect(200);
    assert_eq!(u1.get("/auth/whoami").await.status, 401);

    // Tokens and joins: one used up, one revoked, one with uses left.
    let token = admin_b
        .post(
            "/join-tokens",
            json!({"name": format!("{tag}-edge"), "max_uses": 2, "labels": {"site": "berlin"}}),
        )
        .await
        .expect(201);
    for (i, replica) in [a, b].into_iter().enumerate() {
        let csr = KeyAndCsr::generate().unwrap().csr_pem().unwrap();
        replica
            .client()
            .post(
                "/agents/join",
                json!({"token": token["token"], "name": format!("{tag}-agent-{i}"), "csr": csr}),
            )
            .await
            .expect(201);
    }
    let revoked = admin_a
        .post("/join-tokens", json!({"name": format!("{tag}-revoked")}))
        .await
        .expect(201);
    admin_a
        .delete(&format!("/join-tokens/{}", revoked["id"].as_str().unwrap()))
        .await
        .expect(204);
    admin_b
        .post(
            "/join-tokens",
            json!({"name": format!("{tag}-spare"), "max_uses": 5}),
        )
        .await
        .expect(201);

    // A disabled user, a deleted role, an unbound role.
    admin_a
        .post(
            &format!("/users/{tag}-user-2@corp.example/disable"),
            json!({"reason": "left"}),
        )
        .await
        .expect(200);
    admin_b
        .delete(&format!(
            "/role-bindings?email={tag}-user-0@corp.example&role={tag}-role-1"
        ))
        .await
        .expect(204);
    admin_a
        .post("/roles", json!({"name": format!("{tag}-gone")}))
        .await
        .expect(201);
    admin_b
        .delete(&format!("/roles/{tag}-gone"))
        .await
        .expect(204);
}

/// Listings that must agree between replicas (the admin's own login is the
/// same token on both, so `current` agrees too).
const LISTINGS: &[&str] = &[
    "/users",
    "/roles",
    "/role-bindings",
    "/join-tokens",
    "/agents",
    "/auth/sessions",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_replica_rebuilds_the_same_control_state() {
    let backends = Backends::start().await;
    let (a, b) = (backends.replica().await, backends.replica().await);
    let js = backends.jetstream().await;
    let admin_a = a.client().admin().await;
    let admin_b = admin_on(&b, &admin_a);
    until_status(&admin_b, "/auth/whoami", 200).await;

    command_mix(&a, &b, &admin_a, &admin_b, "before").await;
    // A clean stop writes B's final control snapshot.
    b.stop().await;
    let b = backends.replica().await;
    let admin_b = admin_on(&b, &admin_a);
    admin_b.get("/auth/whoami").await.expect(200);
    // More change after the restart, so the snapshot has a tail to replay.
    command_mix(&a, &b, &admin_a, &admin_b, "after").await;

    for path in LISTINGS {
        until_same(&admin_a, &admin_b, path).await;
    }

    let last = bamf_events::feed::last_sequence(&js, EVENTS_STREAM)
        .await
        .unwrap();
    let cold = ProjectionRunner::<ControlView>::start(
        &js,
        RunnerConfig {
            snapshots: None,
            ..RunnerConfig::default()
        },
        None,
    )
    .await
    .unwrap();
    let store = SnapshotStore::open(&js, SNAPSHOT_BUCKET).await.unwrap();
    let warm = ProjectionRunner::<ControlView>::start(
        &js,
        RunnerConfig {
            // Read the replicas' snapshot, never write one.
            snapshots: Some(SnapshotPolicy {
                every_events: u64::MAX,
                every: Duration::from_secs(86_400),
                on_stop: false,
            }),
            ..RunnerConfig::default()
        },
        Some(store),
    )
    .await
    .unwrap();
    cold.wait_for(last, DEADLINE).await.unwrap();
    warm.wait_for(last, DEADLINE).await.unwrap();
    assert_eq!(cold.started_from(), 0);
    assert!(
        warm.started_from() > 0 && warm.started_from() < last,
        "the warm runner starts from a snapshot inside the log: {} of {last}",
        warm.started_from()
    );
    assert_eq!(
        cold.digest(),
        warm.digest(),
        "snapshot + tail differs from a cold replay"
    );
    // The replicas' own state, as the API shows it, is that state.
    let users = cold.read(|v| v.logins.users.by_id.values().filter(|u| !u.deleted).count());
    let listed = admin_a.get("/users").await.expect(200);
    assert_eq!(listed["users"].as_array().unwrap().len(), users);
    cold.abort().await;
    warm.abort().await;

    a.stop().await;
    b.stop().await;
}

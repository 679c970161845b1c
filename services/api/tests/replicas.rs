//! Two bamf-api replicas on one nats-server and one PostgreSQL database
//! (sharing one data_dir, so one CA): what one replica writes the other
//! honours — users, revocations (here) — a join token's use limit holds when
//! joins race across replicas (`joins`), and a restarted replica rebuilds the
//! same control state as a cold replay (`restart`).
//!
//! The revocation delay is printed (`-- --nocapture`); the figures in
//! BENCHMARKS.md come from `bamf-bench revocation`, not from this test.

mod common;

#[path = "replicas/joins.rs"]
mod joins;
#[path = "replicas/restart.rs"]
mod restart;

use std::time::{Duration, Instant};

use common::{Answer, Backends, Client, Replica};
use serde_json::{json, Value};

/// Bound on every polling loop and projection wait.
const DEADLINE: Duration = Duration::from_secs(10);
/// Revocation rounds.
const REVOCATION_ROUNDS: usize = 50;
/// Generous bound on one revocation delay: this is not a timing test.
const REVOCATION_BOUND: Duration = Duration::from_secs(2);

const USER_PASSWORD: &str = "replica password 1";

/// Polls `path` on `client` until it answers `status`, yielding between
/// tries (never sleeping), for at most [`DEADLINE`].
async fn until_status(client: &Client, path: &str, status: u16) -> Answer {
    let start = Instant::now();
    loop {
        let answer = client.get(path).await;
        if answer.status == status {
            return answer;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "GET {path} still answers {} after {DEADLINE:?}: {:?}",
            answer.status,
            answer.body
        );
        tokio::task::yield_now().await;
    }
}

/// Polls `path` on both replicas until they answer the same body, for at
/// most [`DEADLINE`]. Both are asked each round: the last write may have
/// been made on either, and the other folds it a moment later.
async fn until_same(a: &Client, b: &Client, path: &str) {
    let start = Instant::now();
    loop {
        let on_a = a.get(path).await.expect(200);
        let on_b = b.get(path).await.expect(200);
        if on_a == on_b {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "GET {path} differs between replicas after {DEADLINE:?}:\n{on_b}\non A:\n{on_a}"
        );
        tokio::task::yield_now().await;
    }
}

async fn create_user(admin: &Client, email: &str, roles: &[&str]) -> Value {
    admin
        .post(
            "/users",
            json!({"email": email, "password": USER_PASSWORD, "roles": roles}),
        )
        .await
        .expect(201)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `admin`'s token on another replica.
fn admin_on(replica: &Replica, admin: &Client) -> Client {
    replica
        .client()
        .with_token(admin.token.as_deref().expect("admin is logged in"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_created_on_one_replica_logs_in_on_the_other() {
    let backends = Backends::start().await;
    let (a, b) = (backends.replica().await, backends.replica().await);
    let admin_a = a.client().admin().await;

    let created = create_user(&admin_a, "bob@corp.example", &[]).await;
    // Login decides over a caught-up projection: B needs no wait.
    let bob_b = b.client().login("bob@corp.example", USER_PASSWORD).await;
    let me = bob_b.get("/auth/whoami").await.expect(200);
    assert_eq!(me["user"]["id"], created["id"]);
    // A accepts B's login at once: a token it does not know yet makes it
    // catch up with the log before calling it unknown.
    let bob_a = Client::new(a.addr).with_token(bob_b.token.as_deref().unwrap());
    let me = bob_a.get("/auth/whoami").await.expect(200);
    assert_eq!(me["user"]["email"], "bob@corp.example");

    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_revoked_on_one_replica_is_refused_by_the_other() {
    let backends = Backends::start().await;
    let (a, b) = (backends.replica().await, backends.replica().await);
    let admin_a = a.client().admin().await;
    create_user(&admin_a, "carol@corp.example", &[]).await;

    let mut delays = Vec::with_capacity(REVOCATION_ROUNDS);
    for round in 0..REVOCATION_ROUNDS {
        // Log in on B; wait until A knows the login too (logout on A
        // authenticates the token against A's projection).
        let on_b = b.client().login("carol@corp.example", USER_PASSWORD).await;
        let token = on_b.token.clone().unwrap();
        let on_a = Client::new(a.addr).with_token(&token);
        until_status(&on_a, "/auth/whoami", 200).await;
        on_b.get("/auth/whoami").await.expect(200);

        // Revoke on A: every other round by the admin's revoke-all, else by logout.
        let answered = if round % 2 == 0 {
            let body = admin_a
                .delete("/auth/sessions?email=carol@corp.example")
                .await
                .expect(200);
            assert_eq!(body["revoked"], 1, "round {round}: one live login");
            Instant::now()
        } else {
            on_a.post("/auth/logout", json!({})).await.expect(204);
            Instant::now()
        };
        // Poll B in a tight loop until it refuses.
        let delay = loop {
            let answer = on_b.get("/auth/whoami").await;
            if answer.status == 401 {
                assert_eq!(answer.code(), "unauthenticated");
                break answered.elapsed();
            }
            assert_eq!(answer.status, 200, "round {round}: {:?}", answer.body);
            assert!(
                answered.elapsed() < REVOCATION_BOUND,
                "round {round}: B still accepts a login revoked on A {:?} ago",
                answered.elapsed()
            );
            tokio::task::yield_now().await;
        };
        // A itself refuses at once (read-your-writes).
        assert_eq!(on_a.get("/auth/whoami").await.status, 401);
        delays.push(delay);
    }
    delays.sort();
    println!(
        "revocation delay A→B over {REVOCATION_ROUNDS} rounds: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&delays, 50.0),
        percentile(&delays, 99.0),
        delays[delays.len() - 1]
    );

    a.stop().await;
    b.stop().await;
}

//! Two bamf-api replicas on one nats-server and one PostgreSQL database
//! (sharing one data_dir, so one CA): what one replica writes the other
//! honours — users, revocations — a join token's use limit holds when joins
//! race across replicas, and a restarted replica rebuilds the same control
//! state as a cold replay.
//!
//! The revocation delay is printed (`-- --nocapture`); the figures in
//! BENCHMARKS.md come from `bamf-bench revocation`, not from this test.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bamf_domain::control::ControlView;
use bamf_domain::Event;
use bamf_events::runner::SnapshotPolicy;
use bamf_events::snapshot::SNAPSHOT_BUCKET;
use bamf_events::streams::EVENTS_STREAM;
use bamf_events::{jetstream, Feed, ProjectionRunner, RunnerConfig, SnapshotStore};
use bamf_pki::KeyAndCsr;
use common::{Answer, Backends, Client, Replica};
use serde_json::{json, Value};
use tokio::sync::Barrier;

/// Bound on every polling loop and projection wait.
const DEADLINE: Duration = Duration::from_secs(10);
/// Revocation rounds.
const REVOCATION_ROUNDS: usize = 50;
/// Generous bound on one revocation delay: this is not a timing test.
const REVOCATION_BOUND: Duration = Duration::from_secs(2);
/// Joins racing for one token.
const RACERS: usize = 20;

const USER_PASSWORD: &str = "replica password 1";

async fn jetstream(backends: &Backends) -> jetstream::Context {
    let client = bamf_events::connect(backends.nats.url())
        .await
        .expect("test connects to nats-server");
    jetstream::new(client)
}

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

/// Polls `path` on `client` until its body equals `want`, for at most [`DEADLINE`].
async fn until_body(client: &Client, path: &str, want: &Value) {
    let start = Instant::now();
    loop {
        let body = client.get(path).await.expect(200);
        if &body == want {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "GET {path} differs between replicas after {DEADLINE:?}:\n{body}\nwanted:\n{want}"
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
    // A accepts B's login once its projection has folded it.
    let bob_a = Client::new(a.addr).with_token(bob_b.token.as_deref().unwrap());
    let me = until_status(&bob_a, "/auth/whoami", 200).await.body;
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

/// Starts `RACERS` joins with one token, spread over `replicas` and released
/// together by a barrier; answers (status, code) per racer.
async fn race_joins(replicas: &[&Replica], token: &str, prefix: &str) -> Vec<(u16, String)> {
    // Keys are made before the race: generating them is not what races.
    let csrs: Vec<String> = (0..RACERS)
        .map(|_| KeyAndCsr::generate().unwrap().csr_pem().unwrap())
        .collect();
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut racers = Vec::with_capacity(RACERS);
    for (i, csr) in csrs.into_iter().enumerate() {
        let client = replicas[i % replicas.len()].client();
        let barrier = Arc::clone(&barrier);
        let body = json!({"token": token, "name": format!("{prefix}-{i}"), "csr": csr});
        racers.push(tokio::spawn(async move {
            barrier.wait().await;
            let answer = client.post("/agents/join", body).await;
            (answer.status, answer.code().to_string())
        }));
    }
    let mut answers = Vec::with_capacity(RACERS);
    for racer in racers {
        answers.push(racer.await.expect("racer task"));
    }
    answers
}

/// The `BAMF_EVENTS` messages on `filter`, decoded, read to the end.
async fn events_on(js: &jetstream::Context, filter: &str) -> Vec<Event> {
    let mut feed = Feed::open(js, EVENTS_STREAM, Some(filter), 1)
        .await
        .expect("feed opens");
    let mut events = Vec::new();
    loop {
        let item = tokio::time::timeout(DEADLINE, feed.next())
            .await
            .unwrap_or_else(|_| panic!("no event on {filter} within {DEADLINE:?}"))
            .expect("feed goes on")
            .expect("feed reads");
        events.push(item.decoded.expect("valid envelope").event);
        if item.pending == 0 {
            return events;
        }
    }
}

/// Races `RACERS` joins for a `max_uses` token across both replicas and
/// checks that exactly `max_uses` win, on the answers, the agent list and
/// the event log.
async fn token_admits_exactly(
    js: &jetstream::Context,
    admin: &Client,
    replicas: &[&Replica],
    max_uses: u32,
) {
    let prefix = format!("racer{max_uses}");
    let created = admin
        .post(
            "/join-tokens",
            json!({"name": prefix, "max_uses": max_uses}),
        )
        .await
        .expect(201);
    let token_id = created["id"].as_str().unwrap();
    let answers = race_joins(replicas, created["token"].as_str().unwrap(), &prefix).await;

    let won = answers.iter().filter(|(s, _)| *s == 201).count();
    let lost = answers
        .iter()
        .filter(|(s, c)| *s == 409 && c == "conflict")
        .count();
    assert_eq!(
        (won, lost),
        (max_uses as usize, RACERS - max_uses as usize),
        "answers: {answers:?}"
    );

    // Joins read-your-writes on their own replica; the listing replica
    // catches up by the deadline.
    for replica in replicas {
        let client = admin_on(replica, admin);
        let start = Instant::now();
        loop {
            let agents = client.get("/agents").await.expect(200);
            let joined = agents["agents"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| {
                    a["name"]
                        .as_str()
                        .unwrap()
                        .starts_with(&format!("{prefix}-"))
                })
                .count();
            if joined == max_uses as usize {
                break;
            }
            assert!(
                joined < max_uses as usize,
                "{joined} agents joined: {agents}"
            );
            assert!(start.elapsed() < DEADLINE, "agents never listed: {agents}");
            tokio::task::yield_now().await;
        }
    }
    let listed = admin.get("/join-tokens").await.expect(200);
    let token = listed["join_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == token_id)
        .expect("token listed")
        .clone();
    assert_eq!(token["uses"], max_uses);

    let used = events_on(js, &format!("bamf.evt.join_token.{token_id}.used")).await;
    assert_eq!(used.len(), max_uses as usize, "join_token.used events");
    assert!(used.iter().all(|e| matches!(e, Event::JoinTokenUsed(_))));
}

/// `admin`'s token on another replica.
fn admin_on(replica: &Replica, admin: &Client) -> Client {
    replica
        .client()
        .with_token(admin.token.as_deref().expect("admin is logged in"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_racing_across_replicas_use_a_token_exactly_max_uses_times() {
    let backends = Backends::start().await;
    let (a, b) = (backends.replica().await, backends.replica().await);
    let js = jetstream(&backends).await;
    let admin = a.client().admin().await;
    // B must know A's admin login before it lists agents with it.
    until_status(&admin_on(&b, &admin), "/auth/whoami", 200).await;

    token_admits_exactly(&js, &admin, &[&a, &b], 1).await;
    token_admits_exactly(&js, &admin, &[&a, &b], 3).await;
    let joined = events_on(&js, "bamf.evt.agent.*.joined").await;
    assert_eq!(joined.len(), 4, "agent.joined events");

    a.stop().await;
    b.stop().await;
}

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
    let js = jetstream(&backends).await;
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
        let on_a = admin_a.get(path).await.expect(200);
        until_body(&admin_b, path, &on_a).await;
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

//! Joins racing across replicas for one join token: a single-use token
//! admits exactly one agent and a 3-use token exactly three, on the answers,
//! the agent list and the event log.

use std::sync::Arc;
use std::time::Instant;

use bamf_domain::Event;
use bamf_events::streams::EVENTS_STREAM;
use bamf_events::{jetstream, Feed};
use bamf_pki::KeyAndCsr;
use serde_json::json;
use tokio::sync::Barrier;

use super::common::{Backends, Client, Replica};
use super::{admin_on, until_status, DEADLINE};

/// Joins racing for one token.
const RACERS: usize = 20;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_racing_across_replicas_use_a_token_exactly_max_uses_times() {
    let backends = Backends::start().await;
    let (a, b) = (backends.replica().await, backends.replica().await);
    let js = backends.jetstream().await;
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

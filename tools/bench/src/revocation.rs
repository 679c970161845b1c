//! `bamf-bench revocation`: how long another replica keeps accepting a login
//! after one replica has answered its revocation.
//!
//! Two replicas in-process on one nats-server and one PostgreSQL. Each round:
//! log in on B, wait until A accepts the token too, revoke it on A (even
//! rounds the admin's `DELETE /auth/sessions?email=`, odd rounds the user's
//! own `POST /auth/logout`), then poll `GET /auth/whoami` on B back to back
//! (no sleeps) until it answers 401. The delay runs from A's answer to B's
//! first 401, so it includes one request to B; the baseline is that request:
//! a `whoami` on B that answers 200, timed in the same round just before the
//! revocation. With `--busy-clients`, B serves `GET /resources` to that many
//! clients meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::load::{self, Load};
use crate::resources::{self, Catalog};
use crate::stack::{Client, Stack};
use crate::stats::{ms, print_table, Latencies};

/// Options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Revocations measured.
    #[arg(long, default_value_t = 200)]
    pub rounds: usize,
    /// Longest acceptable delay of one round, in milliseconds (the run fails beyond).
    #[arg(long, default_value_t = 2_000)]
    pub bound_ms: u64,
    /// Clients keeping B busy with `GET /resources` (1,000 resources, 100
    /// roles, as in `bamf-bench resources`) while revocations are measured;
    /// 0 for an idle B.
    #[arg(long, default_value_t = 0)]
    pub busy_clients: usize,
}

const EMAIL: &str = "leaver@bench.example";
const PASSWORD: &str = "bench leaver password";
/// How long one replica may take to know another's login.
const DEADLINE: Duration = Duration::from_secs(10);
/// Upper bound on the background load (it is stopped after the last round).
const BUSY_MAX: Duration = Duration::from_secs(600);

/// Polls `whoami` on `client` until it answers `status`, yielding between
/// tries; answers how many requests it took.
async fn until_status(client: &Client, status: u16) -> anyhow::Result<usize> {
    let start = Instant::now();
    let mut polls = 0;
    loop {
        polls += 1;
        if client.status("/auth/whoami").await? == status {
            return Ok(polls);
        }
        anyhow::ensure!(
            start.elapsed() < DEADLINE,
            "whoami never answered {status} within {DEADLINE:?}"
        );
        tokio::task::yield_now().await;
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.rounds >= 1, "--rounds must be at least 1");
    let bound = Duration::from_millis(args.bound_ms);
    let other = crate::mem::OtherLoad::start();
    let stack = Stack::start().await?;
    let (a, b) = (stack.replica().await?, stack.replica().await?);
    let admin = a.client()?.admin().await?;
    admin
        .post("/users", json!({"email": EMAIL, "password": PASSWORD}))
        .await?;
    let (anon_a, anon_b) = (a.client()?, b.client()?);

    // Optional background load on B, stopped after the last round.
    let stop = Arc::new(AtomicBool::new(false));
    let busy = if args.busy_clients > 0 {
        let catalog = Catalog::default();
        let populated = resources::populate(&stack, &a, catalog).await?;
        resources::wait_for_catalog(&anon_b.admin().await?, catalog.resources).await?;
        let user_b = anon_b.with_token(populated.user.token.as_deref().unwrap_or_default());
        until_status(&user_b, 200).await?;
        let load = Load {
            clients: args.busy_clients,
            requests: usize::MAX,
            max: BUSY_MAX,
        };
        let stop = Arc::clone(&stop);
        Some(tokio::spawn(async move {
            load::run_until(&user_b, "/api/v1/resources", load, stop).await
        }))
    } else {
        None
    };

    let mut delays = Vec::with_capacity(args.rounds);
    let mut baselines = Vec::with_capacity(args.rounds);
    let mut first_poll_refused = 0;
    let mut a_knew_at_once = 0;
    let mut polls_total = 0;
    for round in 0..args.rounds {
        let on_b = anon_b.login(EMAIL, PASSWORD).await?;
        let token = on_b.token.clone().expect("login answers a token");
        let on_a = anon_a.with_token(&token);
        if until_status(&on_a, 200).await? == 1 {
            a_knew_at_once += 1;
        }

        let t = Instant::now();
        anyhow::ensure!(
            on_b.status("/auth/whoami").await? == 200,
            "B refuses a live login"
        );
        baselines.push(t.elapsed());

        if round % 2 == 0 {
            let path = format!("/auth/sessions?email={EMAIL}");
            let body = admin
                .expect(reqwest::Method::DELETE, &path, None, 200)
                .await?;
            anyhow::ensure!(body["revoked"] == 1, "round {round}: revoked {body}");
        } else {
            on_a.expect(reqwest::Method::POST, "/auth/logout", Some(json!({})), 204)
                .await?;
        }
        let answered = Instant::now();
        let mut polls = 0;
        let delay = loop {
            let status = on_b.status("/auth/whoami").await?;
            polls += 1;
            if status == 401 {
                break answered.elapsed();
            }
            anyhow::ensure!(status == 200, "round {round}: B answered {status}");
            anyhow::ensure!(
                answered.elapsed() < bound,
                "round {round}: B still accepts the login {:?} after A revoked it",
                answered.elapsed()
            );
            tokio::task::yield_now().await;
        };
        if polls == 1 {
            first_poll_refused += 1;
        }
        polls_total += polls;
        delays.push(delay);
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(busy) = busy {
        let outcome = busy.await??;
        println!(
            "background on B: {} clients, GET /resources {:.0}/s, p50 {} ms",
            args.busy_clients,
            outcome.per_sec(),
            ms(outcome.latencies.percentile(50.0))
        );
    }
    println!(
        "A accepted B's fresh login on its first request in {a_knew_at_once} of {} rounds",
        args.rounds
    );
    println!("{}", other.summary());
    let delays = Latencies::new(delays);
    let baselines = Latencies::new(baselines);
    println!(
        "{} rounds: B refused on its first poll in {first_poll_refused}; {:.2} polls per round on average; max delay {} ms",
        args.rounds,
        polls_total as f64 / args.rounds as f64,
        ms(delays.max())
    );
    print_table(&[
        [
            "revocation on A → first 401 on B, p50 (ms)".into(),
            ms(delays.percentile(50.0)),
            format!("{} (one whoami on B)", ms(baselines.percentile(50.0))),
            format!(
                "{:.2}",
                delays.percentile(50.0).as_secs_f64() / baselines.percentile(50.0).as_secs_f64()
            ),
        ],
        [
            "revocation on A → first 401 on B, p99 (ms)".into(),
            ms(delays.percentile(99.0)),
            format!("{} (one whoami on B)", ms(baselines.percentile(99.0))),
            format!(
                "{:.2}",
                delays.percentile(99.0).as_secs_f64() / baselines.percentile(99.0).as_secs_f64()
            ),
        ],
    ]);
    a.stop().await?;
    b.stop().await?;
    Ok(())
}

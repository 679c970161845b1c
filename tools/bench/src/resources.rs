//! `bamf-bench resources`: authenticated `GET /api/v1/resources` with 1,000
//! resources and 100 roles under 64 concurrent keep-alive clients, against
//! `GET /api/v1/auth/whoami` (authenticates, no RBAC, small answer) and
//! `GET /healthz` (no authentication) on the same server in the same run.
//! Then the pure RBAC cost per resource ([`crate::rbac`]).
//!
//! The catalog: `agents` agents joined with one join token (label
//! `site=berlin`), each advertising `resources / agents` resources by
//! heartbeat, with labels `env`, `team`, `tier`, `region`. The roles mix
//! label selectors, name globs and deny rules; the user holds `user_roles`
//! of them.

use std::time::{Duration, Instant};

use anyhow::Context;
use bamf_domain::control::catalog::{AdvertisedResource, AgentHeartbeat};
use bamf_domain::{AggregateId, Timestamp};
use bamf_pki::KeyAndCsr;
use serde_json::{json, Value};

use crate::load::{self, Load, Outcome};
use crate::stack::{Client, Stack};
use crate::stats::{median, ms, print_table};

/// Options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Concurrent clients, one keep-alive connection each.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Requests per endpoint per round (at most).
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,
    /// Seconds per endpoint per round (at most).
    #[arg(long, default_value_t = 20)]
    pub max_secs: u64,
    /// Rounds (the endpoint order rotates); medians are reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Resources in the catalog.
    #[arg(long, default_value_t = 1_000)]
    pub resources: usize,
    /// Agents advertising them.
    #[arg(long, default_value_t = 10)]
    pub agents: usize,
    /// Custom roles.
    #[arg(long, default_value_t = 100)]
    pub roles: usize,
    /// Roles bound to the benchmark user.
    #[arg(long, default_value_t = 8)]
    pub user_roles: usize,
}

pub const USER_EMAIL: &str = "reader@bench.example";
const USER_PASSWORD: &str = "bench reader password";
const KINDS: [&str; 5] = ["ssh", "postgres", "http", "kubernetes", "mysql"];
const ENVS: [&str; 3] = ["dev", "staging", "prod"];
const TIERS: [&str; 4] = ["web", "db", "cache", "batch"];
const TEAMS: usize = 20;
/// Heartbeat TTL: longer than the benchmark, so no agent goes offline.
const HEARTBEAT_TTL: Duration = Duration::from_secs(3_600);
/// How long the catalog may take to appear on the replica.
const CATALOG_DEADLINE: Duration = Duration::from_secs(30);

/// Resource `j` of the catalog.
pub fn resource(j: usize) -> AdvertisedResource {
    let kind = KINDS[j % KINDS.len()];
    AdvertisedResource {
        name: format!("{kind}-{j:04}"),
        kind: kind.to_string(),
        labels: [
            ("env", ENVS[j % ENVS.len()].to_string()),
            ("team", format!("team-{}", j % TEAMS)),
            ("tier", TIERS[j % TIERS.len()].to_string()),
            ("region", ["eu", "us"][(j / 7) % 2].to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    }
}

/// Role `i`: four shapes in turn — team and env selector; name glob; tier
/// and team selector with a wildcard region; env selector with a deny.
pub fn role(i: usize) -> Value {
    let name = format!("role-{i:03}");
    let team = format!("team-{}", i % TEAMS);
    match i % 4 {
        0 => json!({"name": name, "allow": {"labels": {"team": team, "env": ["dev", "staging"]}}}),
        1 => {
            json!({"name": name, "allow": {"names": [format!("{}-0{}*", KINDS[i % KINDS.len()], i % 10)]}})
        }
        2 => {
            json!({"name": name, "allow": {"labels": {"tier": ["db", "cache"], "team": team, "region": "*"}}})
        }
        _ => {
            json!({"name": name, "allow": {"labels": {"env": "dev"}}, "deny": {"labels": {"tier": "batch"}}})
        }
    }
}

/// The shape of the catalog.
#[derive(Debug, Clone, Copy)]
pub struct Catalog {
    pub resources: usize,
    pub agents: usize,
    pub roles: usize,
    pub user_roles: usize,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            resources: 1_000,
            agents: 10,
            roles: 100,
            user_roles: 8,
        }
    }
}

/// What [`populate`] made.
pub struct Populated {
    pub admin: Client,
    pub user: Client,
    pub heartbeats: Vec<AgentHeartbeat>,
}

/// Creates the roles, the user, the agents and their heartbeats through
/// `replica`, and waits until it lists every resource.
pub async fn populate(
    stack: &Stack,
    replica: &crate::stack::Replica,
    catalog: Catalog,
) -> anyhow::Result<Populated> {
    anyhow::ensure!(
        catalog.agents >= 1 && catalog.resources.is_multiple_of(catalog.agents),
        "--resources must be a multiple of --agents"
    );
    anyhow::ensure!(
        catalog.user_roles <= catalog.roles,
        "--user-roles > --roles"
    );
    let admin = replica.client()?.admin().await?;
    let t = Instant::now();
    for i in 0..catalog.roles {
        admin.post("/roles", role(i)).await?;
    }
    let roles: Vec<String> = (0..catalog.user_roles)
        .map(|i| format!("role-{i:03}"))
        .collect();
    admin
        .post(
            "/users",
            json!({"email": USER_EMAIL, "password": USER_PASSWORD, "roles": roles}),
        )
        .await?;
    let user = replica.client()?.login(USER_EMAIL, USER_PASSWORD).await?;

    let token = admin
        .post(
            "/join-tokens",
            json!({"name": "bench", "max_uses": catalog.agents, "labels": {"site": "berlin"}}),
        )
        .await?;
    let js = stack.jetstream().await?;
    let per_agent = catalog.resources / catalog.agents;
    let mut heartbeats = Vec::with_capacity(catalog.agents);
    for a in 0..catalog.agents {
        let csr = KeyAndCsr::generate()?.csr_pem()?;
        let joined = replica
            .client()?
            .post(
                "/agents/join",
                json!({"token": token["token"], "name": format!("agent-{a:02}"), "csr": csr}),
            )
            .await?;
        let agent_id = joined["agent_id"].as_str().context("join answers an id")?;
        let beat = AgentHeartbeat {
            agent_id: AggregateId::new(agent_id.to_string())?,
            sent_at: Timestamp::new(time::OffsetDateTime::now_utc()),
            resources: (a * per_agent..(a + 1) * per_agent).map(resource).collect(),
        };
        bamf_events::heartbeat::publish_heartbeat(&js, &beat, HEARTBEAT_TTL).await?;
        heartbeats.push(beat);
    }
    wait_for_catalog(&admin, catalog.resources).await?;
    println!(
        "set-up: {} roles, {} agents, {} resources in {:.1?}",
        catalog.roles,
        catalog.agents,
        catalog.resources,
        t.elapsed()
    );
    Ok(Populated {
        admin,
        user,
        heartbeats,
    })
}

/// Waits until `admin`'s replica lists `resources` resources.
pub async fn wait_for_catalog(admin: &Client, resources: usize) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let listed = admin
            .expect(reqwest::Method::GET, "/resources", None, 200)
            .await?;
        let n = listed["resources"].as_array().map_or(0, Vec::len);
        if n == resources {
            return Ok(());
        }
        anyhow::ensure!(
            start.elapsed() < CATALOG_DEADLINE,
            "the replica lists {n} of {resources} resources after {CATALOG_DEADLINE:?}"
        );
        // A probe interval, not a guess at readiness.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Healthz,
    Whoami,
    Resources,
}

impl Target {
    fn path(self) -> &'static str {
        match self {
            Target::Healthz => "/healthz",
            Target::Whoami => "/api/v1/auth/whoami",
            Target::Resources => "/api/v1/resources",
        }
    }
}

#[derive(Default)]
struct Samples {
    per_sec: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    cpu_us: Vec<f64>,
}

impl Samples {
    fn push(&mut self, o: &Outcome) {
        self.per_sec.push(o.per_sec());
        self.p50.push(o.latencies.percentile(50.0).as_secs_f64());
        self.p99.push(o.latencies.percentile(99.0).as_secs_f64());
        self.cpu_us.push(o.cpu_us_per_request());
    }

    fn cpu_us(&mut self) -> f64 {
        median(&mut self.cpu_us)
    }

    fn medians(&mut self) -> (f64, Duration, Duration) {
        (
            median(&mut self.per_sec),
            Duration::from_secs_f64(median(&mut self.p50)),
            Duration::from_secs_f64(median(&mut self.p99)),
        )
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.rounds >= 1 && args.clients >= 1, "nothing to run");
    let other = crate::mem::OtherLoad::start();
    let stack = Stack::start().await?;
    let replica = stack.replica().await?;
    let catalog = Catalog {
        resources: args.resources,
        agents: args.agents,
        roles: args.roles,
        user_roles: args.user_roles,
    };
    let setup = populate(&stack, &replica, catalog).await?;
    let load = Load {
        clients: args.clients,
        requests: args.requests,
        max: Duration::from_secs(args.max_secs),
    };
    let visible = setup
        .user
        .expect(reqwest::Method::GET, "/resources", None, 200)
        .await?["resources"]
        .as_array()
        .map_or(0, Vec::len);
    println!(
        "the user (roles role-000..{:03}) sees {visible} of {} resources",
        args.user_roles.saturating_sub(1),
        args.resources
    );

    // Warm-up: connections, allocator, caches.
    let warm = Load {
        requests: args.clients * 20,
        ..load
    };
    for target in [Target::Healthz, Target::Whoami, Target::Resources] {
        load::run(&setup.user, target.path(), warm).await?;
    }

    let order = [Target::Healthz, Target::Whoami, Target::Resources];
    let (mut health, mut whoami, mut resources) =
        (Samples::default(), Samples::default(), Samples::default());
    let (mut ratios, mut cpu_ratios) = (Vec::new(), Vec::new());
    let mut body = 0;
    for round in 0..args.rounds {
        let mut per_sec = [0.0; 3];
        let mut cpu = [0.0; 3];
        for k in 0..order.len() {
            let target = order[(k + round) % order.len()];
            let outcome = load::run(&setup.user, target.path(), load).await?;
            println!(
                "round {round}: GET {} {} requests in {:.2?}: {:.0}/s, p50 {} ms, p99 {} ms, {:.0} µs CPU/request, {} B",
                target.path(),
                outcome.completed,
                outcome.elapsed,
                outcome.per_sec(),
                ms(outcome.latencies.percentile(50.0)),
                ms(outcome.latencies.percentile(99.0)),
                outcome.cpu_us_per_request(),
                outcome.body_bytes
            );
            let (samples, i) = match target {
                Target::Healthz => (&mut health, 0),
                Target::Whoami => (&mut whoami, 1),
                Target::Resources => (&mut resources, 2),
            };
            samples.push(&outcome);
            per_sec[i] = outcome.per_sec();
            cpu[i] = outcome.cpu_us_per_request();
            if target == Target::Resources {
                body = outcome.body_bytes;
            }
        }
        ratios.push(per_sec[2] / per_sec[1]);
        cpu_ratios.push(cpu[2] / cpu[1]);
    }
    // Diagnostic: the admin's listing (every resource, no selector matched).
    let admin = load::run(&setup.admin, Target::Resources.path(), load).await?;

    let mut rows = Vec::new();
    let (h, hp50, hp99) = health.medians();
    let (w, wp50, wp99) = whoami.medians();
    let (r, rp50, rp99) = resources.medians();
    rows.push([
        format!(
            "GET /resources, {visible} of {} visible ({body} B), {} clients (req/s)",
            args.resources, args.clients
        ),
        format!("{r:.0}"),
        format!("{w:.0} (whoami)"),
        format!("{:.3}", median(&mut ratios)),
    ]);
    rows.push([
        "latency p50 / p99 (ms)".into(),
        format!("{} / {}", ms(rp50), ms(rp99)),
        format!("{} / {} (whoami)", ms(wp50), ms(wp99)),
        format!("{:.1}", rp50.as_secs_f64() / wp50.as_secs_f64()),
    ]);
    rows.push([
        "process CPU per request, server and clients (µs)".into(),
        format!("{:.0}", resources.cpu_us()),
        format!("{:.0} (whoami)", whoami.cpu_us()),
        format!("{:.1}", median(&mut cpu_ratios)),
    ]);
    rows.push([
        "GET /auth/whoami (req/s)".into(),
        format!("{w:.0}"),
        format!("{h:.0} (healthz)"),
        format!("{:.2}", w / h),
    ]);
    rows.push([
        "healthz latency p50 / p99 (ms)".into(),
        format!("{} / {}", ms(hp50), ms(hp99)),
        "—".into(),
        "—".into(),
    ]);
    rows.push([
        format!(
            "diagnostic: GET /resources as admin, all {} ({} B) (req/s)",
            args.resources, admin.body_bytes
        ),
        format!(
            "{:.0} (p50 {} ms, {:.0} µs CPU)",
            admin.per_sec(),
            ms(admin.latencies.percentile(50.0)),
            admin.cpu_us_per_request()
        ),
        format!("{w:.0} (whoami)"),
        format!("{:.3}", admin.per_sec() / w),
    ]);
    let js = stack.jetstream().await?;
    rows.extend(crate::rbac::measure(&js, &setup.heartbeats).await?);
    println!("{}", other.summary());
    print_table(&rows);
    replica.stop().await?;
    Ok(())
}

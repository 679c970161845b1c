//! The pure cost of RBAC in the resource listing, per resource, without HTTP:
//! the control state is the benchmark's own (a cold replay of its
//! `BAMF_EVENTS`), the heartbeat table holds the heartbeats it published.
//!
//! Figures, each a loop over the whole catalog repeated while bounded in
//! count and time:
//! - `rbac::evaluate` per resource, against cloning the resource's label map
//!   (the cheapest per-resource work a listing does anyway);
//! - `visible_resources` (join of agents and beats, label merge, sort, RBAC)
//!   against `HeartbeatTable::resources` (the same without RBAC).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bamf_domain::control::bindings::LOCAL_PROVIDER;
use bamf_domain::control::catalog::AgentHeartbeat;
use bamf_domain::control::heartbeats::{visible_resources, HeartbeatTable};
use bamf_domain::control::rbac::{evaluate, Principal, ResourceRef};
use bamf_domain::control::ControlView;
use bamf_domain::Timestamp;
use bamf_events::streams::EVENTS_STREAM;
use bamf_events::{jetstream, ProjectionRunner, RunnerConfig};

use crate::resources::USER_EMAIL;

/// Most passes over the catalog per figure.
const MAX_PASSES: usize = 20_000;
/// Most time per figure.
const MAX_TIME: Duration = Duration::from_secs(3);
/// Paired rounds (the order alternates); medians are reported.
const ROUNDS: usize = 5;

/// Nanoseconds per item of `f`, which handles `items` items per pass.
fn ns_per_item(items: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm
    let start = Instant::now();
    let mut passes = 0;
    while passes < MAX_PASSES && start.elapsed() < MAX_TIME {
        f();
        passes += 1;
    }
    start.elapsed().as_secs_f64() * 1e9 / (passes * items) as f64
}

/// Paired measurements of `bamf` and `baseline`; medians and median ratio.
fn paired(mut bamf: impl FnMut() -> f64, mut baseline: impl FnMut() -> f64) -> (f64, f64, f64) {
    let (mut b, mut base, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (x, y) = if round % 2 == 0 {
            let x = bamf();
            (x, baseline())
        } else {
            let y = baseline();
            (bamf(), y)
        };
        b.push(x);
        base.push(y);
        ratio.push(x / y);
    }
    (
        crate::stats::median(&mut b),
        crate::stats::median(&mut base),
        crate::stats::median(&mut ratio),
    )
}

/// Measures and answers table rows `[figure, bamf, baseline, ratio]`.
pub async fn measure(
    js: &jetstream::Context,
    heartbeats: &[AgentHeartbeat],
) -> anyhow::Result<Vec<[String; 4]>> {
    let last = bamf_events::feed::last_sequence(js, EVENTS_STREAM).await?;
    let runner = ProjectionRunner::<ControlView>::start(
        js,
        RunnerConfig {
            snapshots: None,
            ..RunnerConfig::default()
        },
        None,
    )
    .await?;
    runner.wait_for(last, Duration::from_secs(60)).await?;
    let view = runner.read(ControlView::clone);
    runner.abort().await;

    let now = Timestamp::new(time::OffsetDateTime::now_utc());
    let expires = Timestamp::new(now.get() + time::Duration::hours(1));
    let mut table = HeartbeatTable::default();
    for beat in heartbeats {
        table.apply_beat(beat.clone(), now, expires);
    }
    let roles = &view.assignments.roles;
    let agents = &view.agents;
    let user = view.assignments.principal(LOCAL_PROVIDER, USER_EMAIL);
    let catalog = table.resources(agents, now);
    let n = catalog.len();
    anyhow::ensure!(n > 0, "empty catalog");
    let visible = visible_resources(roles, &user, &table, agents, now).len();
    println!(
        "pure RBAC: {n} resources, {} roles defined, the user holds {} ({visible} visible)",
        roles.defs.len(),
        user.roles.len()
    );

    let evaluate_all = |p: &Principal| {
        for r in &catalog {
            black_box(evaluate(
                roles,
                p,
                ResourceRef {
                    name: &r.name,
                    labels: &r.labels,
                },
            ));
        }
    };
    let clone_labels = || {
        for r in &catalog {
            black_box(r.labels.clone());
        }
    };
    let (eval, clone, eval_ratio) = paired(
        || ns_per_item(n, || evaluate_all(&user)),
        || ns_per_item(n, clone_labels),
    );
    let (listed, bare, list_ratio) = paired(
        || {
            ns_per_item(n, || {
                black_box(visible_resources(roles, &user, &table, agents, now));
            })
        },
        || {
            ns_per_item(n, || {
                black_box(table.resources(agents, now));
            })
        },
    );
    Ok(vec![
        [
            format!(
                "rbac::evaluate per resource, user with {} roles (ns)",
                user.roles.len()
            ),
            format!("{eval:.0}"),
            format!("{clone:.0} (clone of its label map)"),
            format!("{eval_ratio:.2}"),
        ],
        [
            format!("visible_resources over {n} resources, per resource (ns)"),
            format!("{listed:.0}"),
            format!("{bare:.0} (HeartbeatTable::resources, no RBAC)"),
            format!("{list_ratio:.2}"),
        ],
    ])
}

//! `bamf-bench tunnel`: the data path, measured in one run on loopback.
//!
//! 1. Throughput through one session of the real path — client QUIC →
//!    bamf-bridge → agent QUIC → TCP sink — single stream and N parallel
//!    streams, against relays built into the benchmark with the same
//!    topology, plain TCP and TCP + TLS 1.3 (rustls, *ring*) (`relays.rs`).
//! 2. Session set-up latency, `POST /api/v1/connect` → first byte echoed,
//!    with concurrent clients, against a new connection through the TLS
//!    relays to the same echo target (`setup.rs`).
//! 3. Bridge memory per idle paired session, the `bamf-bridge` binary in a
//!    process of its own (`idle.rs`, `bridge_process.rs`).
//!
//! Parts 1 and 2 run the API, the bridge and the agent in this process as
//! the end-to-end tests do (`path.rs`); the benchmark shares the machine's
//! cores with them, as the baselines do.

mod bridge_process;
mod idle;
mod path;
mod pki;
mod relays;
mod setup;
mod targets;
mod throughput;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::mem::OtherLoad;
use crate::stack::Stack;
use crate::stats::ms;

/// Options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// MiB sent per throughput figure per round.
    #[arg(long, default_value_t = 256)]
    pub mib: u64,
    /// Paired throughput rounds.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Parallel streams (bamf) / connections (relays) for the parallel figure.
    #[arg(long, default_value_t = 8)]
    pub streams: usize,
    /// Session set-ups measured per kind.
    #[arg(long, default_value_t = 200)]
    pub setups: usize,
    /// Set-ups in flight at once.
    #[arg(long, default_value_t = 20)]
    pub concurrency: usize,
    /// Idle paired sessions for the memory figure.
    #[arg(long, default_value_t = 2_000)]
    pub idle_sessions: usize,
    /// The bamf-bridge binary [default: built with cargo, next to this program].
    #[arg(long, value_name = "PATH")]
    pub bridge_bin: Option<PathBuf>,
    /// Extra line for the bridge process's TOML config (repeatable), to
    /// measure a setting's effect on memory, e.g. `max_streams_per_session = 64`.
    #[arg(long = "bridge-set", value_name = "TOML")]
    pub bridge_set: Vec<String>,
    /// Run one part only.
    #[arg(long, value_enum)]
    pub only: Option<Part>,
}

/// The parts of the benchmark.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Throughput,
    Setup,
    Memory,
}

/// The targets BENCHMARKS.md holds these figures to.
const TARGET_VS_TLS: f64 = 0.5;
const TARGET_SETUP_P50_MS: f64 = 15.0;
const TARGET_SETUP_P99_MS: f64 = 40.0;
const TARGET_KIB_PER_SESSION: f64 = 40.0;

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.mib > 0 && args.rounds > 0 && args.streams > 0,
        "--mib, --rounds and --streams must be at least 1"
    );
    anyhow::ensure!(
        args.setups > 0 && args.concurrency > 0 && args.idle_sessions > 0,
        "--setups, --concurrency and --idle-sessions must be at least 1"
    );
    let wants = |part| args.only.is_none_or(|only| only == part);
    // Built (or found fresh) before the clock of the whole run starts.
    let bridge_bin = match (&args.bridge_bin, wants(Part::Memory)) {
        (Some(path), _) => Some(path.clone()),
        (None, true) => Some(bridge_process::binary()?),
        (None, false) => None,
    };
    let other = OtherLoad::start();
    let stack = Stack::start().await?;
    let api = stack.replica().await?;
    let path = Arc::new(path::DataPath::start(&stack, &api).await?);
    // rows: figure, bamf, baseline, ratio, target
    let mut rows: Vec<[String; 5]> = Vec::new();

    if wants(Part::Throughput) {
        println!(
            "throughput: {} MiB per figure, {} rounds, 1 and {} streams",
            args.mib, args.rounds, args.streams
        );
        let report = throughput::measure(&path, args.mib << 20, args.streams, args.rounds).await?;
        println!("{}", report.quic_diagnostics);
        for f in [report.single, report.parallel] {
            let what = match f.streams {
                1 => "1 stream (MB/s)".to_string(),
                n => format!("{n} parallel streams, aggregate (MB/s)"),
            };
            rows.push([
                format!("throughput, {what}"),
                format!("{:.0}", f.bamf.mb_per_s),
                format!("{:.0} (TLS relay)", f.tls.mb_per_s),
                format!("{:.2}", f.vs_tls),
                format!("≥ {TARGET_VS_TLS} — {}", verdict(f.vs_tls >= TARGET_VS_TLS)),
            ]);
            rows.push([
                format!("throughput, {what}"),
                format!("{:.0}", f.bamf.mb_per_s),
                format!("{:.0} (TCP relay)", f.tcp.mb_per_s),
                format!("{:.2}", f.vs_tcp),
                "—".into(),
            ]);
            println!(
                "process CPU per MB, {} stream(s): bamf {:.0} µs, TLS relay {:.0} µs, TCP relay {:.0} µs",
                f.streams, f.bamf.cpu_us_per_mb, f.tls.cpu_us_per_mb, f.tcp.cpu_us_per_mb
            );
        }
    }

    if wants(Part::Setup) {
        println!(
            "set-up: {} per kind, {} at once",
            args.setups, args.concurrency
        );
        let paired_before = path.sessions_paired();
        let r = setup::measure(&path, args.setups, args.concurrency).await?;
        println!(
            "bridge paired {} sessions during the set-up part",
            path.sessions_paired() - paired_before
        );
        let p = |l: &crate::stats::Latencies, q| l.percentile(q).as_secs_f64() * 1e3;
        println!(
            "bamf phases p50 / p99 (ms from POST /connect): answered {} / {}, QUIC open {} / {}, first byte {} / {}",
            ms(r.answered.percentile(50.0)),
            ms(r.answered.percentile(99.0)),
            ms(r.opened.percentile(50.0)),
            ms(r.opened.percentile(99.0)),
            ms(r.bamf.percentile(50.0)),
            ms(r.bamf.percentile(99.0)),
        );
        println!(
            "one at a time, p50 / max (ms): bamf {} / {} (answered {}, QUIC open {}), TLS relay {} / {}",
            ms(r.alone.percentile(50.0)),
            ms(r.alone.max()),
            ms(r.alone_answered.percentile(50.0)),
            ms(r.alone_opened.percentile(50.0)),
            ms(r.tls_alone.percentile(50.0)),
            ms(r.tls_alone.max()),
        );
        println!(
            "CPU per set-up (this process + nats-server): bamf {} ms, TLS relay {} ms",
            ms(r.bamf_cpu),
            ms(r.tls_cpu)
        );
        println!(
            "baselines p50 / p99 (ms): TLS relay {} / {}, TCP relay {} / {}, whoami {} / {}",
            ms(r.tls.percentile(50.0)),
            ms(r.tls.percentile(99.0)),
            ms(r.tcp.percentile(50.0)),
            ms(r.tcp.percentile(99.0)),
            ms(r.whoami.percentile(50.0)),
            ms(r.whoami.percentile(99.0)),
        );
        for (q, target) in [(50.0, TARGET_SETUP_P50_MS), (99.0, TARGET_SETUP_P99_MS)] {
            let bamf = p(&r.bamf, q);
            rows.push([
                format!(
                    "set-up, /connect → first echoed byte, p{q:.0}, {} at once (ms)",
                    args.concurrency
                ),
                format!("{bamf:.2}"),
                format!("{:.2} (TLS relay connect + echo)", p(&r.tls, q)),
                format!("{:.1}", bamf / p(&r.tls, q)),
                format!("≤ {target} ms — {}", verdict(bamf <= target)),
            ]);
        }
        rows.push([
            "set-up, one at a time, p50 (ms)".into(),
            ms(r.alone.percentile(50.0)),
            format!(
                "{} (TLS relay, one at a time)",
                ms(r.tls_alone.percentile(50.0))
            ),
            format!(
                "{:.1}",
                r.alone.percentile(50.0).as_secs_f64() / r.tls_alone.percentile(50.0).as_secs_f64()
            ),
            "—".into(),
        ]);
        rows.push([
            "set-up, CPU per set-up: this process (API, bridge, agent, client) + nats-server (ms)"
                .into(),
            ms(r.bamf_cpu),
            format!("{} (TLS relay)", ms(r.tls_cpu)),
            format!("{:.1}", r.bamf_cpu.as_secs_f64() / r.tls_cpu.as_secs_f64()),
            "—".into(),
        ]);
    }

    if wants(Part::Memory) {
        println!("memory: {} idle paired sessions", args.idle_sessions);
        let r = idle::measure(
            &bridge_bin.context("the bridge binary is resolved above")?,
            &args.bridge_set,
            &path.pki,
            &stack.nats.url(),
            args.idle_sessions,
        )
        .await?;
        println!(
            "bamf-bridge RSS: idle {} KiB, paired {} KiB, after all closed {} KiB, peak {} KiB; pairing took {:.1} s",
            r.idle_kib,
            r.paired_kib,
            r.closed_kib,
            r.peak_kib,
            r.pairing_time.as_secs_f64()
        );
        let per = r.kib_per_session();
        rows.push([
            format!(
                "bridge memory per idle paired session ({} sessions, KiB)",
                r.sessions
            ),
            format!("{per:.1}"),
            format!(
                "{:.1} MiB (bridge RSS, no sessions)",
                r.idle_kib as f64 / 1024.0
            ),
            "—".into(),
            format!(
                "≤ {TARGET_KIB_PER_SESSION} KiB — {}",
                verdict(per <= TARGET_KIB_PER_SESSION)
            ),
        ]);
    }

    println!("{}", other.summary());
    println!();
    println!("| figure | bamf | baseline | ratio | target |");
    println!("|---|---|---|---|---|");
    for [figure, bamf, baseline, ratio, target] in &rows {
        println!("| {figure} | {bamf} | {baseline} | {ratio} | {target} |");
    }
    let path = Arc::try_unwrap(path)
        .map_err(|_| anyhow::anyhow!("the data path is still in use at the end"))?;
    path.stop().await?;
    api.stop().await
}

//! `bamf-bench audit`: the live views and the SIEM path, measured in one run.
//!
//! 1. `sessions watch` event-to-output latency, p50/p99: a session event
//!    appended to the log until `bamfctl sessions watch --json` (its own
//!    process, through the API's SSE stream) prints the line, against a bare
//!    ordered consumer receiving the same event ([`watch`]).
//! 2. Export throughput: `bamfctl audit export` to a file sink against a bare
//!    durable JetStream consume (fetch, ack) of the same records ([`export`]).

pub mod export;
pub mod watch;

use crate::mem::OtherLoad;
use crate::stack::Stack;
use crate::stats::{ms, print_table};

/// Options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Session events measured for the watch latency.
    #[arg(long, default_value_t = 300)]
    pub events: usize,
    /// Audit records in the stream for the export figure.
    #[arg(long, default_value_t = 50_000)]
    pub records: usize,
    /// Paired export rounds (the order alternates by round).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Records fetched (and acked) per batch, by both sides.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Run one part only.
    #[arg(long, value_enum)]
    pub only: Option<Part>,
}

/// The parts of the benchmark.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Watch,
    Export,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.events > 0 && args.records > 0 && args.rounds > 0 && args.batch > 0,
        "--events, --records, --rounds and --batch must be at least 1"
    );
    let wants = |part| args.only.is_none_or(|only| only == part);
    let bamfctl = if wants(Part::Watch) {
        Some(crate::bins::binary("bamfctl", "bamfctl")?)
    } else {
        None
    };
    let other = OtherLoad::start();
    let stack = Stack::start().await?;
    let mut rows: Vec<[String; 4]> = Vec::new();

    if let Some(bamfctl) = &bamfctl {
        println!(
            "sessions watch: {} session events, one at a time",
            args.events
        );
        let api = stack.replica().await?;
        let f = watch::measure(&stack, &api, bamfctl, args.events).await?;
        api.stop().await?;
        for (p, name) in [(50.0, "p50"), (99.0, "p99")] {
            let (bamf, bare) = (f.bamf.percentile(p), f.bare.percentile(p));
            rows.push([
                format!("sessions watch, append → line printed, {name} (ms)"),
                ms(bamf),
                format!("{} (bare ordered consumer)", ms(bare)),
                format!("{:.1}", bamf.as_secs_f64() / bare.as_secs_f64().max(1e-9)),
            ]);
        }
        println!(
            "append ack p50 {} ms, p99 {} ms; watch max {} ms",
            ms(f.ack.percentile(50.0)),
            ms(f.ack.percentile(99.0)),
            ms(f.bamf.max())
        );
    }

    if wants(Part::Export) {
        println!(
            "export: {} records, {} rounds, batches of {}",
            args.records, args.rounds, args.batch
        );
        let f = export::measure(&stack, args.records, args.rounds, args.batch).await?;
        rows.push([
            "export to a file sink, jsonl (records/s)".into(),
            format!("{:.0}", f.bamf_per_s),
            format!("{:.0} (bare durable fetch + ack)", f.bare_per_s),
            format!("{:.2}", f.ratio),
        ]);
        rows.push([
            "export to a file sink, ocsf (records/s)".into(),
            format!("{:.0}", f.ocsf_per_s),
            format!("{:.0} (bare durable fetch + ack)", f.bare_per_s),
            format!("{:.2}", f.ocsf_per_s / f.bare_per_s),
        ]);
    }

    print_table(&rows);
    println!("\n{}", other.summary());
    Ok(())
}

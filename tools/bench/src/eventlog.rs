//! `bamf-bench eventlog`: the event log against bare async-nats.
//!
//! Each bamf figure has a baseline measured in the same process on the same
//! nats-server: a bare `jetstream.publish` of the same payload with the same
//! ack mode, and a bare ordered-consumer read of the same stream.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::Context;
use bamf_domain::events::*;
use bamf_domain::{Actor, AggregateId, Envelope, Event, RuntimeView, Timestamp};
use bamf_events::runner::{RunnerConfig, SnapshotPolicy};
use bamf_events::snapshot::{SnapshotStore, SNAPSHOT_BUCKET};
use bamf_events::streams::EVENTS_STREAM;
use bamf_events::{
    ensure_streams, jetstream, EventLog, Expected, LogConfig, ProjectionRunner, StreamOptions,
};
use bamf_testkit::NatsServer;
use futures::StreamExt;

use crate::mem;

/// Options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Appends measured one at a time (each side, per round).
    #[arg(long, default_value_t = 10_000)]
    pub single: usize,
    /// Appends measured pipelined (each side, per round).
    #[arg(long, default_value_t = 100_000)]
    pub pipelined: usize,
    /// Publishes in flight when pipelining.
    #[arg(long, default_value_t = 256)]
    pub in_flight: usize,
    /// Rounds (which side goes first alternates); medians are reported.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Events in the replay stream.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    /// Paired rounds of bare read and cold replay.
    #[arg(long, default_value_t = 3)]
    pub replay_rounds: usize,
    /// Events after the snapshot, replayed on restart (the tail).
    #[arg(long, default_value_t = 10_000)]
    pub tail: usize,
}

struct Row {
    name: &'static str,
    bamf: String,
    baseline: String,
    ratio: f64,
    target: &'static str,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.rounds >= 1 && args.replay_rounds >= 1,
        "--rounds and --replay-rounds must be at least 1"
    );
    anyhow::ensure!(
        args.tail < args.events,
        "--tail must be smaller than --events"
    );
    let mut rows = Vec::new();
    append(&args, &mut rows).await?;
    replay(&args, &mut rows).await?;
    println!();
    println!("| figure | bamf | baseline | ratio | target |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.2} | {} |",
            r.name, r.bamf, r.baseline, r.ratio, r.target
        );
    }
    Ok(())
}

async fn connect(server: &NatsServer) -> anyhow::Result<jetstream::Context> {
    let client = bamf_events::connect(server.url()).await?;
    let js = jetstream::new(client);
    ensure_streams(&js, &StreamOptions::default()).await?;
    Ok(js)
}

fn at() -> Timestamp {
    Timestamp::from_unix_micros(1_790_000_000_000_000)
}

fn session_envelope(session: &AggregateId, event: Event) -> Envelope {
    Envelope::new(
        ulid::Ulid::new(),
        at(),
        Actor::system(),
        session.clone(),
        event,
    )
}

fn requested(user: &AggregateId) -> Event {
    Event::SessionRequested(SessionRequested {
        user_id: user.clone(),
        resource: "orders-db".into(),
        resource_type: "postgres".into(),
    })
}

/// Fresh envelopes (unique ids) of one representative event.
fn append_envelopes(n: usize) -> Vec<(Envelope, Expected)> {
    let user = AggregateId::from_ulid(ulid::Ulid::new());
    (0..n)
        .map(|_| {
            let s = AggregateId::from_ulid(ulid::Ulid::new());
            (session_envelope(&s, requested(&user)), Expected::Any)
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Bare,
    Bamf,
}

fn sides(bamf_first: bool) -> [Side; 2] {
    if bamf_first {
        [Side::Bamf, Side::Bare]
    } else {
        [Side::Bare, Side::Bamf]
    }
}

/// Per-round figures of bamf and its baseline; reported as medians, with the
/// median of the per-round ratios (rounds are paired, so machine noise that
/// hits one round hits both sides of it).
#[derive(Default)]
struct Samples {
    bamf: Vec<f64>,
    baseline: Vec<f64>,
    ratios: Vec<f64>,
}

impl Samples {
    fn push(&mut self, bamf: f64, baseline: f64) {
        self.bamf.push(bamf);
        self.baseline.push(baseline);
        self.ratios.push(bamf / baseline);
    }

    fn row(mut self, name: &'static str, target: &'static str) -> Row {
        Row {
            name,
            bamf: format!("{:.0}", median(&mut self.bamf)),
            baseline: format!("{:.0}", median(&mut self.baseline)),
            ratio: median(&mut self.ratios),
            target,
        }
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The baseline's payloads: the same bytes bamf sends, encoded up front.
fn encoded(events: &[(Envelope, Expected)]) -> Vec<(String, bytes::Bytes)> {
    events
        .iter()
        .map(|(e, _)| (e.subject().to_string(), e.encode().expect("valid").into()))
        .collect()
}

/// Bare pipelined publishes with at most `in_flight` acks outstanding.
async fn bare_pipelined(
    js: &jetstream::Context,
    bare: &[(String, bytes::Bytes)],
    in_flight: usize,
) -> anyhow::Result<()> {
    let mut window = VecDeque::with_capacity(in_flight);
    for (subject, payload) in bare {
        if window.len() == in_flight {
            let ack: jetstream::context::PublishAckFuture = window.pop_front().expect("non-empty");
            ack.await?;
        }
        window.push_back(js.publish(subject.clone(), payload.clone()).await?);
    }
    for ack in window {
        ack.await?;
    }
    Ok(())
}

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

async fn append(args: &Args, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let server = NatsServer::start().await?;
    let js = connect(&server).await?;
    let log = EventLog::new(
        js.clone(),
        LogConfig {
            max_in_flight: args.in_flight,
            ..LogConfig::default()
        },
    );
    let (mut single, mut pipelined) = (Samples::default(), Samples::default());
    for round in 0..args.rounds {
        // Which side goes first alternates, so neither always meets the
        // smaller stream, the colder cache or the other's leftover acks.
        let bamf_first = round % 2 == 1;

        // One at a time: await every ack.
        let events = append_envelopes(args.single);
        let bare = encoded(&events);
        let mut bare1 = 0.0;
        let mut bamf1 = 0.0;
        for side in sides(bamf_first) {
            let t = Instant::now();
            if side == Side::Bamf {
                for (e, x) in &events {
                    log.append(e, *x).await?;
                }
                bamf1 = per_sec(events.len(), t.elapsed());
            } else {
                for (subject, payload) in &bare {
                    js.publish(subject.clone(), payload.clone()).await?.await?;
                }
                bare1 = per_sec(bare.len(), t.elapsed());
            }
        }

        // Pipelined: bounded in flight.
        let events = append_envelopes(args.pipelined);
        let bare = encoded(&events);
        let mut barep = 0.0;
        let mut bamfp = 0.0;
        for side in sides(bamf_first) {
            let t = Instant::now();
            if side == Side::Bamf {
                for r in log.append_pipelined(&events).await {
                    r?;
                }
                bamfp = per_sec(events.len(), t.elapsed());
            } else {
                bare_pipelined(&js, &bare, args.in_flight).await?;
                barep = per_sec(bare.len(), t.elapsed());
            }
        }
        println!(
            "round {round} ({} first): one-at-a-time bare {bare1:.0}/s bamf {bamf1:.0}/s; pipelined bare {barep:.0}/s bamf {bamfp:.0}/s",
            if bamf_first { "bamf" } else { "bare" }
        );
        single.push(bamf1, bare1);
        pipelined.push(bamfp, barep);
    }
    // Diagnostic: the bare publish carrying bamf's own headers (message id for
    // server-side de-duplication, expected stream), which splits the gap into
    // the server's share and the client's.
    let events = append_envelopes(args.pipelined);
    let bare = encoded(&events);
    let t = Instant::now();
    let mut window = VecDeque::with_capacity(args.in_flight);
    for ((subject, payload), (e, x)) in bare.iter().zip(&events) {
        if window.len() == args.in_flight {
            let ack: jetstream::context::PublishAckFuture = window.pop_front().expect("non-empty");
            ack.await?;
        }
        let filter = e.subject().aggregate_filter();
        let headers = bamf_events::append::headers_for(e, *x, &filter);
        window.push_back(
            js.publish_with_headers(subject.clone(), headers, payload.clone())
                .await?,
        );
    }
    for ack in window {
        ack.await?;
    }
    println!(
        "diagnostic: bare pipelined with bamf's headers {:.0}/s",
        per_sec(bare.len(), t.elapsed())
    );
    rows.push(single.row("append, one at a time (events/s)", "≥ 0.8"));
    rows.push(pipelined.row("append, pipelined (events/s)", "≥ 0.8"));
    Ok(())
}

/// A mix of 1,000,000 events: users and logins, then session lifecycles
/// (requested, granted, connected, closed; every tenth left open).
fn replay_event(i: usize, users: &[AggregateId], session: &mut AggregateId) -> Envelope {
    let user = &users[i % users.len()];
    let bridge = &users[0];
    let phase = i % 4;
    if phase == 0 {
        *session = AggregateId::from_ulid(ulid::Ulid::new());
    }
    let event = match phase {
        0 => requested(user),
        1 => Event::SessionGranted(SessionGranted {
            bridge_id: bridge.clone(),
            agent_id: bridge.clone(),
            roles: vec!["dba".into()],
            expires_at: at(),
        }),
        2 => Event::SessionConnected(SessionConnected {
            bridge_id: bridge.clone(),
        }),
        _ if (i / 4).is_multiple_of(10) => Event::CertIssued(CertIssued {
            serial: format!("{i:x}"),
            kind: CertKind::SessionClient,
            subject: "alice@corp.example".into(),
            sans: vec![format!("bamf://session/{session}")],
            not_after: at(),
            requester: "user".into(),
        }),
        _ => Event::SessionClosed(SessionClosed {
            bytes_up: i as u64,
            bytes_down: 2 * i as u64,
            reason: "client closed".into(),
        }),
    };
    let id = match &event {
        Event::CertIssued(c) => AggregateId::new(c.serial.clone()).expect("hex is a token"),
        _ => session.clone(),
    };
    Envelope::new(ulid::Ulid::new(), at(), Actor::system(), id, event)
}

async fn fill(
    log: &EventLog,
    from: usize,
    to: usize,
    users: &[AggregateId],
    session: &mut AggregateId,
) -> anyhow::Result<u64> {
    const CHUNK: usize = 20_000;
    let mut last = 0;
    let mut i = from;
    while i < to {
        let end = (i + CHUNK).min(to);
        let chunk: Vec<_> = (i..end)
            .map(|k| (replay_event(k, users, session), Expected::Any))
            .collect();
        for r in log.append_pipelined(&chunk).await {
            last = r?.seq;
        }
        i = end;
    }
    Ok(last)
}

async fn replay(args: &Args, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let server = NatsServer::start().await?;
    let js = connect(&server).await?;
    let log = EventLog::new(js.clone(), LogConfig::default());
    let users: Vec<AggregateId> = (0..1_000)
        .map(|_| AggregateId::from_ulid(ulid::Ulid::new()))
        .collect();
    let mut session = users[0].clone();
    let t = Instant::now();
    let snapshot_at = args.events - args.tail;
    let mut last = fill(&log, 0, args.events, &users, &mut session).await?;
    println!("filled {} events in {:.1?}", args.events, t.elapsed());
    anyhow::ensure!(last == args.events as u64, "stream holds {last} events");

    // Diagnostic: decoding alone, on one thread, without NATS.
    let sample: Vec<(String, Vec<u8>)> = (0..200_000)
        .map(|i| {
            let e = replay_event(i, &users, &mut session);
            (e.subject().to_string(), e.encode().expect("valid"))
        })
        .collect();
    let t = Instant::now();
    for (subject, payload) in &sample {
        bamf_events::feed::decode(subject, payload).map_err(|p| anyhow::anyhow!("{p:?}"))?;
    }
    println!(
        "diagnostic: decode alone {:.2} µs/event",
        t.elapsed().as_secs_f64() * 1e6 / sample.len() as f64
    );
    drop(sample);

    // Paired rounds of a bare ordered-consumer read and a cold replay of the
    // same stream, which goes first alternating. Each cold replay has its own
    // snapshot bucket, so it starts from nothing and writes one snapshot
    // `tail` events before the end, which the restart below then uses.
    let mut samples = Samples::default();
    let mut cold_times = Vec::new();
    let mut cold_run = None;
    let mut peak = 0f64;
    let mut peak_reset = true;
    for round in 0..args.replay_rounds {
        let mut bare = Duration::ZERO;
        for side in sides(round % 2 == 1) {
            if side == Side::Bare {
                bare = bare_read(&js, last).await?;
                continue;
            }
            let store =
                SnapshotStore::open(&js, &format!("{SNAPSHOT_BUCKET}_bench_{round}")).await?;
            peak_reset &= mem::reset_peak();
            let t = Instant::now();
            let cold = ProjectionRunner::<RuntimeView>::start(
                &js,
                config(snapshot_at),
                Some(store.clone()),
            )
            .await?;
            cold.wait_for(last, Duration::from_secs(600)).await?;
            let cold_time = t.elapsed();
            peak = peak.max(mem::peak_mib());
            let digest = cold.digest();
            let open_sessions = cold.read(|v| v.sessions.len());
            let deadline = Instant::now() + Duration::from_secs(60);
            while cold.snapshots_written() == 0 {
                anyhow::ensure!(Instant::now() < deadline, "snapshot not written");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            cold.abort().await;
            cold_times.push(cold_time);
            cold_run = Some((store, digest, open_sessions));
        }
        let cold_time = *cold_times.last().expect("a cold replay ran this round");
        println!(
            "round {round}: cold replay {cold_time:.2?} ({:.0} events/s), bare read {bare:.2?} ({:.0} events/s)",
            per_sec(args.events, cold_time),
            per_sec(args.events, bare)
        );
        samples.push(per_sec(args.events, cold_time), per_sec(args.events, bare));
    }
    let (store, digest, open_sessions) = cold_run.context("no replay rounds")?;
    cold_times.sort();
    let cold_time = cold_times[cold_times.len() / 2];

    // Restart from the snapshot: load it, replay the tail.
    let t = Instant::now();
    let warm =
        ProjectionRunner::<RuntimeView>::start(&js, config(snapshot_at), Some(store)).await?;
    warm.wait_for(last, Duration::from_secs(600)).await?;
    let warm_time = t.elapsed();
    anyhow::ensure!(
        warm.digest() == digest,
        "restart state differs from cold replay"
    );
    let from = warm.started_from();
    let tail = warm.handled();
    warm.abort().await;
    last = last.max(from);

    println!(
        "{open_sessions} open sessions; peak RSS {peak:.0} MiB{}",
        if peak_reset {
            ""
        } else {
            " (process peak; reset unsupported)"
        }
    );
    println!(
        "restart from snapshot at {from} of {last}: {tail} events replayed in {warm_time:.2?}"
    );
    rows.push(samples.row(
        "cold replay of 1M events into the runtime projection (events/s)",
        "≥ 0.7",
    ));
    rows.push(Row {
        name: "peak RSS during cold replay (MiB)",
        bamf: format!("{peak:.0}"),
        baseline: "—".into(),
        ratio: f64::NAN,
        target: "—",
    });
    rows.push(Row {
        name: "restart from snapshot (s; ratio = share of cold replay)",
        bamf: format!("{:.3} (tail {tail})", warm_time.as_secs_f64()),
        baseline: format!("{:.2}", cold_time.as_secs_f64()),
        ratio: warm_time.as_secs_f64() / cold_time.as_secs_f64(),
        target: "≤ 0.10",
    });
    Ok(())
}

/// The runner's settings: one snapshot `at` events in, none on stop.
fn config(at: usize) -> RunnerConfig {
    RunnerConfig {
        snapshots: Some(SnapshotPolicy {
            every_events: at as u64,
            every: Duration::from_secs(3600),
            on_stop: false,
        }),
        ..RunnerConfig::default()
    }
}

/// A bare ordered-consumer read of the whole stream (the replay baseline).
async fn bare_read(js: &jetstream::Context, last: u64) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let stream = js.get_stream(EVENTS_STREAM).await?;
    let mut messages = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
        .await?
        .messages()
        .await?;
    let mut read = 0u64;
    while let Some(m) = messages.next().await {
        let m = m?;
        read += 1;
        if m.info().map_err(|e| anyhow::anyhow!(e))?.stream_sequence >= last {
            break;
        }
    }
    anyhow::ensure!(read == last, "bare read {read} of {last}");
    Ok(t.elapsed())
}

//! `bamf-bench eventlog`: the event log against bare async-nats.
//!
//! Each bamf figure has a baseline measured in the same process on the same
//! nats-server: a bare `jetstream.publish` of the same payload with the same
//! ack mode, and a bare ordered-consumer read of the same stream.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

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
    /// Rounds (alternating baseline and bamf); the best of each is reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Events in the replay stream.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
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
    let (mut best_bare1, mut best_bamf1, mut best_barep, mut best_bamfp) = (0f64, 0f64, 0f64, 0f64);
    for round in 0..args.rounds {
        // One at a time: await every ack.
        let events = append_envelopes(args.single);
        let bare: Vec<(String, bytes::Bytes)> = events
            .iter()
            .map(|(e, _)| (e.subject().to_string(), e.encode().expect("valid").into()))
            .collect();
        let t = Instant::now();
        for (subject, payload) in &bare {
            js.publish(subject.clone(), payload.clone()).await?.await?;
        }
        let bare1 = per_sec(bare.len(), t.elapsed());
        let t = Instant::now();
        for (e, x) in &events {
            log.append(e, *x).await?;
        }
        let bamf1 = per_sec(events.len(), t.elapsed());

        // Pipelined: bounded in flight.
        let events = append_envelopes(args.pipelined);
        let bare: Vec<(String, bytes::Bytes)> = events
            .iter()
            .map(|(e, _)| (e.subject().to_string(), e.encode().expect("valid").into()))
            .collect();
        let t = Instant::now();
        let mut window = VecDeque::with_capacity(args.in_flight);
        for (subject, payload) in &bare {
            if window.len() == args.in_flight {
                let ack: jetstream::context::PublishAckFuture =
                    window.pop_front().expect("non-empty");
                ack.await?;
            }
            window.push_back(js.publish(subject.clone(), payload.clone()).await?);
        }
        for ack in window {
            ack.await?;
        }
        let barep = per_sec(bare.len(), t.elapsed());
        let t = Instant::now();
        for r in log.append_pipelined(&events).await {
            r?;
        }
        let bamfp = per_sec(events.len(), t.elapsed());
        println!(
            "round {round}: one-at-a-time bare {bare1:.0}/s bamf {bamf1:.0}/s; pipelined bare {barep:.0}/s bamf {bamfp:.0}/s"
        );
        best_bare1 = best_bare1.max(bare1);
        best_bamf1 = best_bamf1.max(bamf1);
        best_barep = best_barep.max(barep);
        best_bamfp = best_bamfp.max(bamfp);
    }
    rows.push(Row {
        name: "append, one at a time (events/s)",
        bamf: format!("{best_bamf1:.0}"),
        baseline: format!("{best_bare1:.0}"),
        ratio: best_bamf1 / best_bare1,
        target: "≥ 0.8",
    });
    rows.push(Row {
        name: "append, pipelined (events/s)",
        bamf: format!("{best_bamfp:.0}"),
        baseline: format!("{best_barep:.0}"),
        ratio: best_bamfp / best_barep,
        target: "≥ 0.8",
    });
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

    // Baseline: a bare ordered-consumer read of the whole stream.
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
    drop(messages);
    let bare = t.elapsed();
    anyhow::ensure!(read == last, "bare read {read} of {last}");

    // Cold replay into the runtime projection, with a periodic snapshot
    // falling `tail` events before the end.
    let store = SnapshotStore::open(&js, SNAPSHOT_BUCKET).await?;
    let config = RunnerConfig {
        snapshots: Some(SnapshotPolicy {
            every_events: snapshot_at as u64,
            every: Duration::from_secs(3600),
            on_stop: false,
        }),
        ..RunnerConfig::default()
    };
    let peak_reset = mem::reset_peak();
    let rss_before = mem::rss_mib();
    let t = Instant::now();
    let cold =
        ProjectionRunner::<RuntimeView>::start(&js, config.clone(), Some(store.clone())).await?;
    cold.wait_for(last, Duration::from_secs(600)).await?;
    let cold_time = t.elapsed();
    let peak = mem::peak_mib();
    let rss_after = mem::rss_mib();
    let digest = cold.digest();
    let open_sessions = cold.read(|v| v.sessions.len());
    let deadline = Instant::now() + Duration::from_secs(60);
    while cold.snapshots_written() == 0 {
        anyhow::ensure!(Instant::now() < deadline, "snapshot not written");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cold.abort().await;

    // Restart from the snapshot: load it, replay the tail.
    let t = Instant::now();
    let warm = ProjectionRunner::<RuntimeView>::start(&js, config, Some(store)).await?;
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

    let cold_rate = per_sec(args.events, cold_time);
    let bare_rate = per_sec(args.events, bare);
    println!(
        "cold replay {cold_time:.2?} ({cold_rate:.0} events/s), bare read {bare:.2?} ({bare_rate:.0} events/s), \
         {open_sessions} open sessions; peak RSS {peak:.0} MiB{} (RSS {rss_before:.0} → {rss_after:.0} MiB)",
        if peak_reset { "" } else { " (process peak; reset unsupported)" }
    );
    println!(
        "restart from snapshot at {from} of {last}: {tail} events replayed in {warm_time:.2?}"
    );
    rows.push(Row {
        name: "cold replay of 1M events into the runtime projection (events/s)",
        bamf: format!("{cold_rate:.0} ({:.2} s)", cold_time.as_secs_f64()),
        baseline: format!("{bare_rate:.0} ({:.2} s)", bare.as_secs_f64()),
        ratio: cold_rate / bare_rate,
        target: "≥ 0.7",
    });
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

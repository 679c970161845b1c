//! Export throughput: `bamfctl audit export` (its library: a durable pull
//! consumer, records formatted, written to a file and `sync_data`'d, then
//! acked) against a bare durable consume of the same stream with the same
//! batch size and ack discipline (fetch, ack each, the last one's round trip
//! awaited), which writes nothing. Each side reads the whole of `BAMF_AUDIT`
//! through a durable consumer of its own; which side goes first alternates
//! by round.

use std::time::{Duration, Instant};

use anyhow::Context;
use bamf_domain::{Actor, AggregateId, Envelope, Timestamp};
use bamf_events::jetstream;
use bamf_events::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use bamf_events::streams::AUDIT_STREAM;
use bamf_events::{ensure_streams, AuditLog, EventLog, Expected, LogConfig, StreamOptions};
use bamfctl::cmd::audit::export::{self, ExportOptions, Format, Sink, SinkOptions, SinkSpec};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::stack::Stack;
use crate::stats::median;

/// Records published at once while filling the stream.
const FILL_IN_FLIGHT: usize = 256;
/// Unacked records the server allows each consumer (bamf's default).
const MAX_ACK_PENDING: usize = export::DEFAULT_MAX_PENDING;
/// Longest wait for one fetch, and for the sourced events to arrive.
const WAIT: Duration = Duration::from_secs(30);

/// Medians over the rounds.
pub struct ExportFigures {
    pub bamf_per_s: f64,
    pub ocsf_per_s: f64,
    pub bare_per_s: f64,
    /// Median of the per-round jsonl/bare ratios.
    pub ratio: f64,
}

pub async fn measure(
    stack: &Stack,
    records: usize,
    rounds: usize,
    batch: usize,
) -> anyhow::Result<ExportFigures> {
    anyhow::ensure!(
        batch <= MAX_ACK_PENDING,
        "--batch must not exceed {MAX_ACK_PENDING}"
    );
    let js = stack.jetstream().await?;
    ensure_streams(&js, &StreamOptions::default()).await?;
    let total = fill(&js, records).await?;
    println!("BAMF_AUDIT holds {total} records (every catalogue type, in turn)");
    let dir = tempfile::tempdir()?;

    let (mut bamf, mut ocsf, mut bare, mut ratios) = (vec![], vec![], vec![], vec![]);
    for round in 0..rounds {
        let run_bare = |name: String| bare_consume(js.clone(), name, total, batch);
        let (b, j) = if round % 2 == 0 {
            let b = run_bare(format!("BARE_{round}")).await?;
            let j = bamf_export(&js, dir.path(), round, Format::Jsonl, total, batch).await?;
            (b, j)
        } else {
            let j = bamf_export(&js, dir.path(), round, Format::Jsonl, total, batch).await?;
            let b = run_bare(format!("BARE_{round}")).await?;
            (b, j)
        };
        let o = bamf_export(&js, dir.path(), round, Format::Ocsf, total, batch).await?;
        let per_s = |d: Duration| total as f64 / d.as_secs_f64();
        println!(
            "round {}: bare {:.0}/s, export jsonl {:.0}/s, export ocsf {:.0}/s",
            round + 1,
            per_s(b),
            per_s(j),
            per_s(o)
        );
        bare.push(per_s(b));
        bamf.push(per_s(j));
        ocsf.push(per_s(o));
        ratios.push(per_s(j) / per_s(b));
    }
    Ok(ExportFigures {
        bamf_per_s: median(&mut bamf),
        ocsf_per_s: median(&mut ocsf),
        bare_per_s: median(&mut bare),
        ratio: median(&mut ratios),
    })
}

/// Publishes `records` records: each catalogue example in turn, audit-only
/// types straight to `BAMF_AUDIT`, domain events to `BAMF_EVENTS` (sourced
/// into `BAMF_AUDIT`). Answers how many records `BAMF_AUDIT` then holds.
async fn fill(js: &jetstream::Context, records: usize) -> anyhow::Result<u64> {
    let before = audit_messages(js).await?;
    let audit = AuditLog::new(js.clone());
    let log = EventLog::new(js.clone(), LogConfig::default());
    let examples = bamf_domain::events::examples();
    let now = Timestamp::new(time::OffsetDateTime::now_utc());
    let envelopes = (0..records).map(|i| {
        Envelope::new(
            ulid::Ulid::new(),
            now,
            Actor::system(),
            AggregateId::from_ulid(ulid::Ulid::new()),
            examples[i % examples.len()].clone(),
        )
    });
    let mut sent = futures::stream::iter(envelopes)
        .map(|envelope: Envelope| {
            let (audit, log) = (audit.clone(), &log);
            async move {
                if envelope.event.is_audit_only() {
                    audit.record(&envelope).await.map(|_| ())
                } else {
                    log.append(&envelope, Expected::Any).await.map(|_| ())
                }
            }
        })
        .buffer_unordered(FILL_IN_FLIGHT);
    while let Some(done) = sent.next().await {
        done.context("cannot publish a benchmark record")?;
    }
    // Sourcing is asynchronous: wait until every record is in BAMF_AUDIT.
    let want = before + records as u64;
    let start = Instant::now();
    loop {
        let have = audit_messages(js).await?;
        if have >= want {
            return Ok(have);
        }
        anyhow::ensure!(
            start.elapsed() < WAIT,
            "BAMF_AUDIT holds {have} of {want} records after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn audit_messages(js: &jetstream::Context) -> anyhow::Result<u64> {
    let mut stream = js.get_stream(AUDIT_STREAM).await?;
    Ok(stream.info().await?.state.messages)
}

/// The baseline: a durable pull consumer read to the end, every record acked.
async fn bare_consume(
    js: jetstream::Context,
    name: String,
    total: u64,
    batch: usize,
) -> anyhow::Result<Duration> {
    let consumer = js
        .get_stream(AUDIT_STREAM)
        .await?
        .create_consumer(pull::Config {
            durable_name: Some(name.clone()),
            ack_policy: AckPolicy::Explicit,
            deliver_policy: DeliverPolicy::All,
            max_ack_pending: MAX_ACK_PENDING as i64,
            ack_wait: Duration::from_secs(30),
            ..Default::default()
        })
        .await?;
    let start = Instant::now();
    let mut got = 0u64;
    while got < total {
        let mut messages = consumer
            .fetch()
            .max_messages(batch)
            .expires(WAIT)
            .messages()
            .await?;
        let mut held = Vec::with_capacity(batch);
        while let Some(m) = messages.next().await {
            match m {
                Ok(m) => held.push(m),
                Err(_) if !held.is_empty() => break,
                Err(e) => return Err(anyhow::anyhow!(e)).context("bare fetch"),
            }
        }
        anyhow::ensure!(
            !held.is_empty(),
            "bare consumer {name}: nothing in {WAIT:?}"
        );
        got += held.len() as u64;
        let last = held.pop().expect("not empty");
        for m in &held {
            m.ack().await.map_err(|e| anyhow::anyhow!(e))?;
        }
        last.double_ack().await.map_err(|e| anyhow::anyhow!(e))?;
    }
    Ok(start.elapsed())
}

/// bamf: the export library into a fresh file.
async fn bamf_export(
    js: &jetstream::Context,
    dir: &std::path::Path,
    round: usize,
    format: Format,
    total: u64,
    batch: usize,
) -> anyhow::Result<Duration> {
    let tag = match format {
        Format::Jsonl => "JSONL",
        Format::Ocsf => "OCSF",
    };
    let path = dir.join(format!("export-{tag}-{round}.out"));
    let mut sink = Sink::open(&SinkSpec::File(path.clone()), &SinkOptions::default()).await?;
    let options = ExportOptions {
        consumer: format!("{tag}_{round}"),
        format,
        batch,
        max_ack_pending: MAX_ACK_PENDING,
        progress_every: None,
        ..ExportOptions::default()
    };
    let start = Instant::now();
    let stats = export::export(js, &options, &mut sink, &CancellationToken::new()).await?;
    let took = start.elapsed();
    anyhow::ensure!(
        stats.records >= total,
        "export {tag} round {round}: {} of {total} records",
        stats.records
    );
    std::fs::remove_file(&path)?;
    Ok(took)
}

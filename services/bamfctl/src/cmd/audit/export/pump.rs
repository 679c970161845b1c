//! The export loop (see the module above for what it promises): bind the
//! durable consumer, rewind what an earlier run left unacked, then fetch,
//! format, hand to the sink, ack — one batch at a time — until caught up or
//! asked to stop. [`export`] is what `audit export` and the benchmark call.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bamf_events::durable::{Bound, ConsumerState, Delivery, DurableConfig, StartAt};
use bamf_events::streams::AUDIT_STREAM;
use bamf_events::{jetstream, Durable, DurableError};
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::sink::{self, Sink, SinkError};
use super::{
    Format, DEFAULT_BATCH, DEFAULT_CONSUMER, DEFAULT_MAX_PENDING, FETCH_WAIT, MAX_BATCH,
    MAX_BATCH_BYTES, NATS_GIVE_UP, NATS_MAX_BACKOFF, PROGRESS_EVERY,
};

/// What [`export`] does.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub stream: String,
    pub consumer: String,
    pub format: Format,
    pub start: StartAt,
    pub follow: bool,
    pub batch: usize,
    pub max_ack_pending: usize,
    pub ack_wait: Duration,
    pub fetch_wait: Duration,
    /// Progress lines on stderr this often (`None`: only the summary).
    pub progress_every: Option<Duration>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            stream: AUDIT_STREAM.to_string(),
            consumer: DEFAULT_CONSUMER.to_string(),
            format: Format::Jsonl,
            start: StartAt::First,
            follow: false,
            batch: DEFAULT_BATCH,
            max_ack_pending: DEFAULT_MAX_PENDING,
            ack_wait: Duration::from_secs(30),
            fetch_wait: FETCH_WAIT,
            progress_every: Some(PROGRESS_EVERY),
        }
    }
}

impl ExportOptions {
    /// Refuses settings the server or the loop could not honour.
    pub fn check(&self) -> Result<()> {
        if self.batch == 0 {
            bail!("--batch must be at least 1");
        }
        if self.max_ack_pending == 0 {
            bail!("--max-pending must be at least 1");
        }
        if self.batch > MAX_BATCH {
            bail!("--batch must be at most {MAX_BATCH}");
        }
        if self.batch > self.max_ack_pending {
            bail!(
                "--batch ({}) must not exceed --max-pending ({}): the server would never deliver a whole batch",
                self.batch,
                self.max_ack_pending
            );
        }
        if self.ack_wait < Duration::from_secs(1) {
            bail!("--ack-wait must be at least 1s");
        }
        if self.consumer.is_empty()
            || !self
                .consumer
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            bail!(
                "--consumer {:?}: use letters, digits, '_' and '-' only",
                self.consumer
            );
        }
        Ok(())
    }
}

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Records accepted by the sink and acked.
    pub records: u64,
    pub batches: u64,
    /// Of those, deliveries of records delivered before (an earlier run or a
    /// failed ack): the sink may hold these twice.
    pub redelivered: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Batches whose ack failed (they come again: duplicates, not loss).
    pub ack_failures: u64,
    /// Stopped by a shutdown request rather than by catching up.
    pub stopped: bool,
    /// Records in hand, not acked, when a shutdown interrupted a retrying sink.
    pub unacked_at_stop: u64,
    pub elapsed: Duration,
}

/// One record on its way to the sink.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub seq: u64,
    /// The record as stored.
    pub payload: Bytes,
    /// The formatted record, without a newline.
    pub line: Vec<u8>,
}

impl Outgoing {
    fn new(format: Format, d: &Delivery) -> Outgoing {
        Outgoing {
            seq: d.seq,
            payload: d.payload.clone(),
            line: format_record(format, d.seq, &d.payload),
        }
    }
}

/// One record in `format`, without a newline.
pub fn format_record(format: Format, seq: u64, payload: &[u8]) -> Vec<u8> {
    match format {
        Format::Jsonl => export_line(seq, payload),
        // Infallible by contract: an undecodable record becomes a base event.
        Format::Ocsf => serde_json::to_vec(&bamf_domain::ocsf::record_to_ocsf(seq, payload))
            .unwrap_or_else(|_| b"{}".to_vec()),
    }
}

/// `{"seq":N,"record":<payload byte for byte>}` — what `audit verify` reads.
/// A payload that is not one line of JSON (bamf never writes one) can't be
/// embedded verbatim: it becomes `{"seq":N,"raw_base64":"…"}`, which verify
/// reports as a bad line rather than reading as some other record.
pub fn export_line(seq: u64, payload: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let one_json_line = !payload.contains(&b'\n')
        && serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_ok();
    if one_json_line {
        let mut line = Vec::with_capacity(payload.len() + 32);
        line.extend_from_slice(format!("{{\"seq\":{seq},\"record\":").as_bytes());
        line.extend_from_slice(payload);
        line.push(b'}');
        line
    } else {
        format!(
            "{{\"seq\":{seq},\"raw_base64\":\"{}\"}}",
            base64::engine::general_purpose::STANDARD.encode(payload)
        )
        .into_bytes()
    }
}

/// Exports from `js` into `sink` until caught up (or, with `follow`, until
/// `shutdown`). Every record the sink accepted is acked; nothing is acked
/// that it did not accept.
pub async fn export(
    js: &jetstream::Context,
    options: &ExportOptions,
    sink: &mut Sink,
    shutdown: &CancellationToken,
) -> Result<ExportStats> {
    options.check()?;
    let config = DurableConfig {
        stream: options.stream.clone(),
        name: options.consumer.clone(),
        ack_wait: options.ack_wait,
        max_ack_pending: options.max_ack_pending,
        start: options.start,
        description: Some("bamfctl audit export (docs/audit.md)".into()),
    };
    let mut durable = Durable::bind(js, &config)
        .await
        .context("cannot set up the export's consumer")?;
    let name = options.consumer.as_str();
    match durable.bound() {
        Bound::Created => {}
        Bound::Existing { updated } => {
            if options.start != StartAt::First {
                eprintln!(
                    "bamfctl: consumer {name} exists: --from-seq/--since apply only when it is created; resuming where it stopped (delete it to start elsewhere)"
                );
            }
            if !updated.is_empty() {
                eprintln!("bamfctl: consumer {name}: set {}", updated.join(" and "));
            }
        }
    }
    let state = durable
        .state()
        .await
        .context("cannot read the export's consumer")?;
    // Records up to here were delivered to an earlier run (the server's
    // delivery count starts again after a rewind, so keep the mark).
    let mut delivered_before = 0;
    if state.num_ack_pending > 0 {
        delivered_before = state.delivered;
        // This process owns the consumer: whatever is delivered and unacked
        // was in the hands of a run that ended without acking it.
        eprintln!(
            "bamfctl: consumer {name}: {} records delivered to an earlier run were never acknowledged; delivering again from sequence {}",
            state.num_ack_pending,
            state.ack_floor + 1
        );
        durable
            .redeliver_unacked()
            .await
            .context("cannot rewind the export's consumer")?;
    }

    let started = Instant::now();
    let mut stats = ExportStats::default();
    if !options.follow
        && caught_up(&durable, false)
            .await
            .context("cannot read the export's consumer")?
    {
        stats.elapsed = started.elapsed();
        return Ok(stats);
    }
    let mut progress = Progress::new(options.progress_every);
    let mut failing: Option<(Instant, Duration)> = None;
    loop {
        if shutdown.is_cancelled() {
            stats.stopped = true;
            break;
        }
        let fetched = tokio::select! {
            biased;
            _ = shutdown.cancelled() => { stats.stopped = true; break; }
            r = durable.fetch(options.batch, MAX_BATCH_BYTES, options.fetch_wait) => r,
        };
        let batch = match fetched {
            Ok(b) => b,
            Err(e) => {
                nats_trouble(e, &mut failing, options.follow, shutdown).await?;
                continue;
            }
        };
        failing = None;
        if batch.is_empty() {
            match caught_up(&durable, options.follow).await {
                Ok(true) => break,
                Ok(false) => continue,
                Err(e) => {
                    nats_trouble(e, &mut failing, options.follow, shutdown).await?;
                    continue;
                }
            }
        }
        let out: Vec<Outgoing> = batch
            .iter()
            .map(|d| Outgoing::new(options.format, d))
            .collect();
        match hand_over(sink, &durable, &batch, &out, shutdown, options.ack_wait).await {
            Ok(()) => {}
            Err(SinkError::Stopped) => {
                stats.stopped = true;
                stats.unacked_at_stop = batch.len() as u64;
                break;
            }
            Err(SinkError::Failed(e)) => return Err(e),
        }
        if let Err(e) = durable.ack(&batch).await {
            stats.ack_failures += 1;
            eprintln!(
                "bamfctl: {}; the sink has {} but the server will deliver them again",
                crate::error_report(&anyhow::Error::new(e)),
                sink::span(&out)
            );
        }
        stats.records += batch.len() as u64;
        stats.batches += 1;
        stats.redelivered += batch
            .iter()
            .filter(|d| d.delivered > 1 || d.seq <= delivered_before)
            .count() as u64;
        let (first, last) = (batch[0].seq, batch[batch.len() - 1].seq);
        stats.first_seq = Some(stats.first_seq.map_or(first, |s| s.min(first)));
        stats.last_seq = Some(stats.last_seq.map_or(last, |s| s.max(last)));
        let pending = batch[batch.len() - 1].pending;
        progress.maybe_report(&stats, pending, started);
        if !options.follow && pending == 0 {
            match caught_up(&durable, options.follow).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => nats_trouble(e, &mut failing, options.follow, shutdown).await?,
            }
        }
    }
    stats.elapsed = started.elapsed();
    Ok(stats)
}

/// Whether a one-shot export is done: nothing left to deliver and nothing
/// delivered and unacked (records in flight elsewhere come back to us).
async fn caught_up(durable: &Durable, follow: bool) -> Result<bool, DurableError> {
    if follow {
        return Ok(false);
    }
    let ConsumerState {
        num_pending,
        num_ack_pending,
        ..
    } = durable.state().await?;
    Ok(num_pending == 0 && num_ack_pending == 0)
}

/// Gives the batch to the sink, telling the server it is in progress every
/// half `ack_wait` so a sink that retries for long does not cause a
/// redelivery of what it is still working on.
async fn hand_over(
    sink: &mut Sink,
    durable: &Durable,
    batch: &[Delivery],
    out: &[Outgoing],
    shutdown: &CancellationToken,
    ack_wait: Duration,
) -> Result<(), SinkError> {
    let every = ack_wait / 2;
    let accept = sink.accept(out, shutdown);
    tokio::pin!(accept);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            r = &mut accept => return r,
            _ = tick.tick() => {
                // Best effort: if it fails, the worst is a redelivery (a duplicate).
                let _ = durable.in_progress(batch).await;
            }
        }
    }
}

/// Reports a NATS failure, waits before the next attempt, and gives up on
/// errors that can't pass (the consumer or stream is gone) or, in a one-shot
/// export, after [`NATS_GIVE_UP`] of failures.
async fn nats_trouble(
    e: DurableError,
    failing: &mut Option<(Instant, Duration)>,
    follow: bool,
    shutdown: &CancellationToken,
) -> Result<()> {
    if matches!(
        e,
        DurableError::Gone { .. } | DurableError::StreamNotFound { .. }
    ) {
        return Err(e.into());
    }
    let (since, delay) = failing.get_or_insert((Instant::now(), Duration::from_millis(100)));
    if !follow && since.elapsed() > NATS_GIVE_UP {
        return Err(anyhow::Error::new(e).context(format!(
            "NATS kept failing for {NATS_GIVE_UP:?}; giving up (the next run resumes where this one stopped)"
        )));
    }
    let wait = *delay;
    *delay = (*delay * 2).min(NATS_MAX_BACKOFF);
    eprintln!(
        "bamfctl: {}; trying again in {wait:?}",
        crate::error_report(&anyhow::Error::new(e))
    );
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = shutdown.cancelled() => {}
    }
    Ok(())
}

/// Progress lines on stderr.
struct Progress {
    every: Option<Duration>,
    last: Instant,
}

impl Progress {
    fn new(every: Option<Duration>) -> Self {
        Progress {
            every,
            last: Instant::now(),
        }
    }

    fn maybe_report(&mut self, s: &ExportStats, pending: u64, started: Instant) {
        let Some(every) = self.every else { return };
        if self.last.elapsed() < every {
            return;
        }
        self.last = Instant::now();
        let secs = started.elapsed().as_secs_f64().max(0.001);
        eprintln!(
            "bamfctl: exported {} records ({:.0}/s), up to sequence {}; {pending} pending on the server",
            s.records,
            s.records as f64 / secs,
            s.last_seq.unwrap_or(0)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_line_embeds_the_record_byte_for_byte() {
        let payload = br#"{"id":"x","b":1,"a":"\u00e9"}"#;
        let line = export_line(7, payload);
        assert_eq!(line, br#"{"seq":7,"record":{"id":"x","b":1,"a":"\u00e9"}}"#);
        let parsed = bamf_domain::seal::parse_line(std::str::from_utf8(&line).unwrap()).unwrap();
        assert_eq!((parsed.seq, parsed.payload.as_slice()), (7, &payload[..]));
        // Not JSON: never passed off as a record.
        assert_eq!(
            export_line(8, b"not json"),
            br#"{"seq":8,"raw_base64":"bm90IGpzb24="}"#
        );
    }

    #[test]
    fn limits_are_checked() {
        let o = ExportOptions {
            batch: 10,
            max_ack_pending: 5,
            ..ExportOptions::default()
        };
        assert!(o.check().unwrap_err().to_string().contains("--max-pending"));
        let o = ExportOptions {
            consumer: "a.b".into(),
            ..ExportOptions::default()
        };
        assert!(o.check().is_err());
    }
}

//! `audit export`: copies `BAMF_AUDIT` to a sink (docs/audit.md,
//! "Exporting") through a durable JetStream consumer with explicit acks.
//!
//! One loop, one batch in hand: fetch up to `--batch` records (the server
//! never has more than `--max-pending` delivered and unacked), format them,
//! hand them to the sink, and ack them only once the sink accepted them. A
//! slow sink slows the loop; the rest stays pending on the server. A crash
//! anywhere loses nothing: unacked records are delivered again — at once on
//! the next start, which rewinds the consumer to its ack floor — so a sink
//! may see a record twice (same `seq`, same bytes), never zero times.
//!
//! Without `--follow` the export ends when it has caught up (nothing pending,
//! nothing unacked); with it, on SIGINT/SIGTERM after the batch in hand.
//!
//! Layout: this file (arguments, signals, the summary), [`pump`] (the loop:
//! [`export`] for callers such as the benchmark), [`sink`] (the sinks and
//! their promises), [`syslog`] (RFC 5424 over TCP), [`http`] (POST with
//! retries).

pub mod http;
pub mod pump;
pub mod sink;
pub mod syslog;

use std::time::Duration;

use anyhow::{bail, Context, Result};
use bamf_events::durable::StartAt;
use clap::{Args, ValueEnum};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::nats::NatsArgs;
pub use pump::{export, export_line, format_record, ExportOptions, ExportStats, Outgoing};
pub use sink::{Sink, SinkError, SinkOptions, SinkSpec};
/// The shutdown signal [`export`] takes (re-exported for its callers).
pub use tokio_util::sync::CancellationToken;

/// The consumer an export uses unless `--consumer` says otherwise.
pub const DEFAULT_CONSUMER: &str = "BAMF_EXPORT";
pub const DEFAULT_BATCH: usize = 500;
pub const DEFAULT_MAX_PENDING: usize = 1000;
/// Largest `--batch`: a batch is held in memory, formatted, at once.
pub const MAX_BATCH: usize = 10_000;
/// Bound on the bytes of one fetched batch (records are at most 1 MiB, so
/// a batch always holds at least one).
pub const MAX_BATCH_BYTES: usize = 8 << 20;
/// How long one fetch waits on the server when nothing is pending.
pub const FETCH_WAIT: Duration = Duration::from_secs(2);
/// How often a long export reports progress on stderr.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// A one-shot export gives up after NATS failed for this long in a row
/// (`--follow` never does).
pub const NATS_GIVE_UP: Duration = Duration::from_secs(60);
/// Longest pause between two attempts after a NATS failure.
pub const NATS_MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What each exported record looks like.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `{"seq":N,"record":<the record verbatim>}`: what `audit verify --file` reads.
    #[default]
    Jsonl,
    /// One OCSF event per record (docs/ocsf.md).
    Ocsf,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Record format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    pub format: Format,
    /// Where records go: stdout, file:PATH, syslog+tcp://HOST:PORT, http(s)://URL.
    #[arg(long, value_name = "SINK", default_value = "stdout")]
    pub to: SinkSpec,
    /// Durable consumer name; a second run with the same name resumes where the first stopped.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_CONSUMER)]
    pub consumer: String,
    /// Start at this stream sequence (only when the consumer is created).
    #[arg(long, value_name = "N", conflicts_with = "since")]
    pub from_seq: Option<u64>,
    /// Start at the first record stored at or after this RFC 3339 time (only when the consumer is created).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Keep exporting new records until SIGINT/SIGTERM (default: stop once caught up).
    #[arg(long)]
    pub follow: bool,
    /// Records per batch (the sink gets one batch at a time).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BATCH)]
    pub batch: usize,
    /// Most records delivered and not yet acked (the consumer's max_ack_pending).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PENDING)]
    pub max_pending: usize,
    /// How long the sink may hold a batch before the server delivers it again (e.g. 30s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub ack_wait: Duration,
    /// Extra HTTP header for an http(s) sink, `Name: value` (repeatable; values are never printed).
    #[arg(long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    #[command(flatten)]
    pub nats: NatsArgs,
}

/// `audit export`.
pub async fn run(args: ExportArgs) -> Result<()> {
    let start = match (args.from_seq, &args.since) {
        (Some(0), _) => bail!("--from-seq starts at 1"),
        (Some(seq), _) => StartAt::Sequence(seq),
        (None, Some(t)) => {
            StartAt::Time(OffsetDateTime::parse(t, &Rfc3339).with_context(|| {
                format!("--since {t:?} is not an RFC 3339 time such as 2026-11-22T00:00:00Z")
            })?)
        }
        (None, None) => StartAt::First,
    };
    let options = ExportOptions {
        consumer: args.consumer,
        format: args.format,
        start,
        follow: args.follow,
        batch: args.batch,
        max_ack_pending: args.max_pending,
        ack_wait: args.ack_wait,
        ..ExportOptions::default()
    };
    options.check()?;
    let mut sink = Sink::open(
        &args.to,
        &SinkOptions {
            headers: args.headers,
        },
    )
    .await?;
    let (_client, js) = args.nats.connect().await?;

    let shutdown = CancellationToken::new();
    let signals = tokio::spawn(stop_on_signal(shutdown.clone()));
    let result = export(&js, &options, &mut sink, &shutdown).await;
    signals.abort();
    let stats = result?;
    eprintln!("bamfctl: {}", summary(&stats, &options));
    Ok(())
}

/// Cancels `token` on SIGINT or SIGTERM.
async fn stop_on_signal(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("bamfctl: stopping after the batch in hand");
    token.cancel();
}

fn summary(s: &ExportStats, o: &ExportOptions) -> String {
    let secs = s.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        s.records as f64 / secs
    } else {
        0.0
    };
    let range = match (s.first_seq, s.last_seq) {
        (Some(a), Some(b)) => format!(", sequences {a}..={b}"),
        _ => String::new(),
    };
    let mut line = format!(
        "exported {} records in {} batches in {secs:.1}s ({rate:.0} records/s{range}); {} redelivered",
        s.records, s.batches, s.redelivered
    );
    if s.ack_failures > 0 {
        line.push_str(&format!(
            "; {} batch acks failed (those records come again)",
            s.ack_failures
        ));
    }
    if s.stopped {
        line.push_str(&format!(
            "; stopped on request, consumer {} resumes from here",
            o.consumer
        ));
        if s.unacked_at_stop > 0 {
            line.push_str(&format!(
                " ({} records the sink had not accepted come first)",
                s.unacked_at_stop
            ));
        }
    } else if !o.follow {
        line.push_str(&format!("; consumer {} is caught up", o.consumer));
    }
    line
}

/// `30s`, `2m`, `1h`, `500ms`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{s:?} needs a unit: ms, s, m or h (e.g. 30s)"))?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 30s"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("{s:?}: unknown unit {unit:?}; use ms, s, m or h")),
    };
    Ok(d)
}

/// `Name: value`.
fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| "a header is `Name: value`".to_string())?;
    let name = name.trim();
    if name.is_empty() {
        return Err("a header is `Name: value`; the name is empty".into());
    }
    Ok((name.to_string(), value.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_headers_are_checked() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("3d").is_err());
        assert_eq!(
            parse_header("Authorization: Bearer abc"),
            Ok(("Authorization".into(), "Bearer abc".into()))
        );
        assert!(parse_header("no colon").is_err());
    }
}

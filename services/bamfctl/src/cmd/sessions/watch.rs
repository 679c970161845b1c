//! `sessions watch`: tunnel sessions as they change, from the API's
//! `GET /sessions/watch` Server-Sent Events (bamfctl never talks to NATS).
//!
//! Output: `--json` prints one JSON line per change (the server's row),
//! flushed at once; on a terminal a table redrawn on each change (and each
//! second, for the age column), closed sessions lingering a few seconds; into
//! a pipe or file one plain line per change.
//!
//! The snapshot the server sends on connect (rows without an `id:`) is held
//! until its `ready` event and printed whole, so a connection lost mid-snapshot
//! prints nothing twice. A lost connection is resumed with backoff, sending
//! `Last-Event-ID` = the id of the last event printed: the server replays what
//! happened meanwhile, nothing missed or repeated. Ctrl-C ends with status 0.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::field;
use crate::client::ApiClient;
use crate::output::Table;
use crate::sse::{is_broken_pipe, Lost, Reconnect, SseParser};

/// How long a closed or denied session stays in the live table.
const CLOSED_LINGER: time::Duration = time::Duration::seconds(10);
/// The live table's redraw interval when nothing changes (the age column).
const REDRAW: Duration = Duration::from_secs(1);

/// What to watch.
pub struct Watch {
    pub json: bool,
    pub user: Option<String>,
    pub resource: Option<String>,
}

/// Runs until Ctrl-C (status 0), a refusal, or stdout closing.
pub async fn run(client: &ApiClient, watch: Watch) -> Result<()> {
    let stdout = io::stdout();
    let mode = if watch.json {
        Mode::Json
    } else if stdout.is_terminal() {
        Mode::Table
    } else {
        Mode::Lines
    };
    let mut out = Printer::new(mode);
    let outcome = tokio::select! {
        r = follow(client, &watch, &mut out) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    out.finish();
    match outcome {
        None => Ok(()),
        Some(Err(e)) if is_broken_pipe(&e) => Ok(()),
        Some(r) => r,
    }
}

/// Connects, reads, and reconnects from the last id printed.
async fn follow(client: &ApiClient, watch: &Watch, out: &mut Printer) -> Result<()> {
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(u) = &watch.user {
        query.push(("user", u));
    }
    if let Some(r) = &watch.resource {
        query.push(("resource", r));
    }
    let mut last: Option<u64> = None;
    let mut reconnect = Reconnect::default();
    loop {
        match client
            .open_stream(&["sessions", "watch"], &query, last)
            .await
        {
            Ok(response) => {
                if reconnect.connected() {
                    let after = last.map_or("the snapshot".to_string(), |n| format!("event {n}"));
                    eprintln!("bamfctl: reconnected; resumed after {after}");
                }
                let lost = read(response, &mut last, out).await;
                // Printing failed (stdout closed): that ends the watch.
                let lost = match lost {
                    Err(Lost::Output(e)) => return Err(e),
                    Err(Lost::Stream(why)) => why,
                    Ok(()) => "the API ended the stream".to_string(),
                };
                eprintln!("bamfctl: connection lost ({lost}); resuming");
            }
            Err(e) if reconnect.retryable(&e) => {}
            Err(e) => return Err(e).context("cannot watch sessions"),
        }
        reconnect.pause().await;
    }
}

/// Reads one connection's events until it ends.
async fn read(
    mut response: reqwest::Response,
    last: &mut Option<u64>,
    out: &mut Printer,
) -> Result<(), Lost> {
    let mut parser = SseParser::default();
    let mut snapshot: Vec<Value> = Vec::new();
    let mut tick = tokio::time::interval(REDRAW);
    loop {
        let chunk = tokio::select! {
            chunk = response.chunk() => chunk,
            _ = tick.tick(), if out.mode == Mode::Table => {
                out.redraw(*last).map_err(Lost::Output)?;
                continue;
            }
        };
        let Some(events) = parser.events(chunk)? else {
            return Ok(());
        };
        for (id, event) in events {
            match event.event.as_str() {
                "session" => {
                    let row: Value = serde_json::from_str(&event.data)
                        .map_err(|e| Lost::Stream(format!("a session event is not JSON: {e}")))?;
                    match id {
                        // A snapshot row: printed with the rest at `ready`.
                        None => snapshot.push(row),
                        Some(id) => {
                            out.change(&row, Some(id)).map_err(Lost::Output)?;
                            *last = Some(id);
                        }
                    }
                }
                "ready" => {
                    for row in snapshot.drain(..) {
                        out.change(&row, id).map_err(Lost::Output)?;
                    }
                    if id.is_some() {
                        *last = id;
                    }
                    out.redraw(*last).map_err(Lost::Output)?;
                }
                _ => {}
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Json,
    Table,
    Lines,
}

/// Prints changes in the chosen mode.
struct Printer {
    mode: Mode,
    /// The live table's rows, by session id.
    rows: BTreeMap<String, Value>,
    drawn: bool,
}

impl Printer {
    fn new(mode: Mode) -> Self {
        Printer {
            mode,
            rows: BTreeMap::new(),
            drawn: false,
        }
    }

    fn change(&mut self, row: &Value, seq: Option<u64>) -> Result<()> {
        match self.mode {
            Mode::Json => write_flushed(&format!("{row}\n")),
            Mode::Lines => write_flushed(&format!("{}\n", line(row))),
            Mode::Table => {
                self.rows.insert(field(row, &["session_id"]), row.clone());
                self.redraw(seq)
            }
        }
    }

    /// Redraws the live table (table mode only).
    fn redraw(&mut self, seq: Option<u64>) -> Result<()> {
        if self.mode != Mode::Table {
            return Ok(());
        }
        let now = OffsetDateTime::now_utc();
        self.rows.retain(|_, r| {
            let ended = matches!(field(r, &["state"]).as_str(), "closed" | "denied");
            !ended || parse_time(&field(r, &["changed_at"])).is_none_or(|t| now - t < CLOSED_LINGER)
        });
        let mut table = Table::new([
            "USER", "RESOURCE", "AGENT", "BRIDGE", "STATE", "AGE", "UP", "DOWN",
        ]);
        let mut rows: Vec<&Value> = self.rows.values().collect();
        rows.sort_by_key(|r| field(r, &["started_at"]));
        for r in rows {
            let agent = match field(r, &["agent_name"]) {
                name if name.is_empty() => field(r, &["agent_id"]),
                name => name,
            };
            let age = parse_time(&field(r, &["started_at"]))
                .map(|t| age(now - t))
                .unwrap_or_default();
            table.row([
                field(r, &["email"]),
                field(r, &["resource"]),
                agent,
                field(r, &["bridge_id"]),
                field(r, &["state"]),
                age,
                bytes(r["bytes_up"].as_u64().unwrap_or(0)),
                bytes(r["bytes_down"].as_u64().unwrap_or(0)),
            ]);
        }
        let at = seq.map(|s| format!(" at event {s}")).unwrap_or_default();
        // Home, clear screen: plain ANSI, no terminal library.
        let screen = format!(
            "\x1b[H\x1b[2J{}\n{} session(s){at}; Ctrl-C to stop\n",
            table.render(),
            self.rows.len()
        );
        self.drawn = true;
        write_flushed(&screen)
    }

    fn finish(&self) {
        if self.drawn {
            let _ = write_flushed("\n");
        }
    }
}

fn write_flushed(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}

/// One change as a plain line (stdout not a terminal).
fn line(row: &Value) -> String {
    let mut line = format!(
        "{} {} {} {} {} agent={} bridge={} up={} down={} session={}",
        field(row, &["changed_at"]),
        field(row, &["state"]),
        field(row, &["email"]),
        field(row, &["resource"]),
        field(row, &["resource_type"]),
        dash(field(row, &["agent_id"])),
        dash(field(row, &["bridge_id"])),
        field(row, &["bytes_up"]),
        field(row, &["bytes_down"]),
        field(row, &["session_id"]),
    );
    let reason = field(row, &["reason"]);
    if !reason.is_empty() {
        line.push_str(&format!(" reason={reason:?}"));
    }
    line
}

fn dash(s: String) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// `42s`, `3m05s`, `2h07m`.
fn age(d: time::Duration) -> String {
    let s = d.whole_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// `512B`, `1.5KiB`, `3.2MiB`, `1.0GiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_short() {
        assert_eq!(age(time::Duration::seconds(42)), "42s");
        assert_eq!(age(time::Duration::seconds(185)), "3m05s");
        assert_eq!(age(time::Duration::seconds(7620)), "2h07m");
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(1536), "1.5KiB");
        assert_eq!(bytes(5 << 20), "5.0MiB");
    }
}

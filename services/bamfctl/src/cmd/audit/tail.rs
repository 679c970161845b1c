//! `audit tail [--follow]`: the last N audit records, oldest first, from the
//! API's `GET /audit`; with `--follow`, then each new record as it arrives,
//! from `GET /audit/stream` (Server-Sent Events; bamfctl never talks to NATS).
//!
//! No record is missed or printed twice between the two: the search answers
//! the `BAMF_AUDIT` sequence its read model had reached (`as_of_seq`), and the
//! stream is opened after exactly that sequence. A lost connection is resumed
//! with backoff, sending `Last-Event-ID` = the last position seen, so the
//! server replays what happened meanwhile. Ctrl-C ends with status 0.
//!
//! Output: one line per record (time, outcome, action, actor, target,
//! resource, reason), or with `--json` the API's item, one JSON object per
//! line; flushed at once either way.

use std::collections::HashSet;
use std::io::{self, Write};

use anyhow::{Context, Result};
use clap::Args;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::search::{explain_refusal, fetch, SearchArgs, View};
use crate::client::ApiClient;
use crate::error::ClientError;
use crate::sse::{is_broken_pipe, Lost, Reconnect, SseParser};

#[derive(Args, Debug)]
pub struct TailArgs {
    /// How many of the latest records to print first.
    #[arg(short = 'n', long = "lines", default_value_t = 20, value_name = "N")]
    pub lines: u32,
    /// Then keep printing new records as they arrive, until Ctrl-C.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Print each record as a JSON line (the API's item).
    #[arg(long)]
    pub json: bool,
    /// Records of this type (login.failed), or of an aggregate (session.*).
    #[arg(long, value_name = "TYPE")]
    pub action: Option<String>,
    /// Records by this actor: a user, agent or bridge id, or a user's e-mail.
    #[arg(long, value_name = "ID|EMAIL")]
    pub actor: Option<String>,
    /// Only successes or only failures.
    #[arg(long, value_parser = ["success", "failure"])]
    pub outcome: Option<String>,
}

/// `audit tail`.
pub async fn run(client: &ApiClient, args: TailArgs) -> Result<()> {
    let outcome = tokio::select! {
        r = tail(client, &args) => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    };
    match outcome {
        Err(e) if is_broken_pipe(&e) => Ok(()),
        other => other,
    }
}

async fn tail(client: &ApiClient, args: &TailArgs) -> Result<()> {
    let search = SearchArgs {
        since: None,
        until: None,
        actor: args.actor.clone(),
        action: args.action.clone(),
        resource: None,
        outcome: args.outcome.clone(),
        limit: args.lines.max(1),
        json: args.json,
    };
    let filters = super::search::filters(&search, OffsetDateTime::now_utc())?;
    let (mut records, as_of) = fetch(client, &filters, search.limit).await?;
    records.truncate(usize::try_from(args.lines).unwrap_or(usize::MAX));
    records.reverse();
    // Pages after the first may hold records the stream will also send
    // (applied after the first page, older by time): they print once.
    let mut printed_after: HashSet<u64> = HashSet::new();
    for r in &records {
        let view = View::of(r)?;
        if view.seq > as_of {
            printed_after.insert(view.seq);
        }
        print(r, &view, args.json)?;
    }
    if !args.follow {
        return Ok(());
    }
    follow(client, &filters, as_of, &printed_after, args.json).await
}

/// Streams records after `position`, reconnecting from the last one seen.
async fn follow(
    client: &ApiClient,
    filters: &[(&str, String)],
    mut position: u64,
    printed: &HashSet<u64>,
    json: bool,
) -> Result<()> {
    let query: Vec<(&str, &str)> = filters.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut reconnect = Reconnect::default();
    loop {
        match client
            .open_stream(&["audit", "stream"], &query, Some(position))
            .await
        {
            Ok(response) => {
                if reconnect.connected() {
                    eprintln!("bamfctl: reconnected; resumed after record {position}");
                }
                let why = match read(response, &mut position, printed, json).await {
                    Err(Lost::Output(e)) => return Err(e),
                    Err(Lost::Stream(why)) => why,
                    Ok(()) => "the API ended the stream".to_string(),
                };
                eprintln!("bamfctl: connection lost ({why}); resuming");
            }
            Err(e) if reconnect.retryable(&e) => {}
            Err(e) => {
                let e = match e.downcast::<ClientError>() {
                    Ok(client) => anyhow::Error::new(explain_refusal(client)),
                    Err(other) => other,
                };
                return Err(e).context("cannot follow the audit trail");
            }
        }
        reconnect.pause().await;
    }
}

/// Reads one connection's events until it ends; `position` follows every
/// `id:` seen (the `ready` event's too).
async fn read(
    mut response: reqwest::Response,
    position: &mut u64,
    printed: &HashSet<u64>,
    json: bool,
) -> Result<(), Lost> {
    let mut parser = SseParser::default();
    loop {
        let Some(events) = parser.events(response.chunk().await)? else {
            return Ok(());
        };
        for (id, event) in events {
            if event.event == "record" {
                let raw = RawValue::from_string(event.data)
                    .map_err(|e| Lost::Stream(format!("a record event is not JSON: {e}")))?;
                let view = View::of(&raw).map_err(|e| Lost::Stream(format!("{e:#}")))?;
                if !printed.contains(&view.seq) {
                    print(&raw, &view, json).map_err(Lost::Output)?;
                }
            }
            if let Some(id) = id {
                *position = (*position).max(id);
            }
        }
    }
}

/// One record on stdout, flushed.
fn print(raw: &RawValue, view: &View, json: bool) -> Result<()> {
    let text = if json {
        format!("{}\n", raw.get())
    } else {
        format!("{}\n", line(view))
    };
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}

/// A record as one line: time, outcome, action, actor, target, then the
/// resource and reason when it has them.
pub fn line(v: &View) -> String {
    let mut line = format!(
        "{} {} {} {} {}",
        v.time,
        v.outcome,
        v.action,
        v.actor(),
        v.target()
    );
    if let Some(r) = v.resource.as_deref().filter(|r| !r.is_empty()) {
        line.push_str(&format!(" resource={r}"));
    }
    if let Some(r) = v.reason.as_deref().filter(|r| !r.is_empty()) {
        line.push_str(&format!(" reason={r:?}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_the_record_and_says_why() {
        let mut v = View {
            seq: 1,
            time: "2026-11-22T10:00:00.000000Z".into(),
            action: "session.denied".into(),
            outcome: "failure".into(),
            ..View::default()
        };
        v.actor.kind = "user".into();
        v.actor.id = "01jdu".into();
        v.actor.email = Some("alice@corp.example".into());
        v.target.kind = "session".into();
        v.target.id = "01jds".into();
        assert_eq!(
            line(&v),
            "2026-11-22T10:00:00.000000Z failure session.denied alice@corp.example session:01jds"
        );
        v.resource = Some("orders-db".into());
        v.reason = Some("no role allows it".into());
        assert!(line(&v).ends_with(" resource=orders-db reason=\"no role allows it\""));
    }
}

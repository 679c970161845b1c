//! `sessions watch` event-to-output latency: a session event is appended to
//! `BAMF_EVENTS`, and the clock stops when the `bamfctl sessions watch --json`
//! process (a real child process reading the API's SSE stream) prints its line.
//! The baseline is a bare ordered consumer on the same subjects, in this
//! process, receiving the same event: what any reader of the log pays.
//! Both listen to every event at once; events go one at a time.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use bamf_domain::events::SessionRequested;
use bamf_domain::{Actor, AggregateId, Envelope, Event, Timestamp};
use bamf_events::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
use bamf_events::streams::EVENTS_STREAM;
use bamf_events::{EventLog, Expected, LogConfig};
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::stack::{Replica, Stack, ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::stats::Latencies;

/// Events appended before the measured ones (connections and caches warm).
const WARM_UP: usize = 10;
/// Longest wait for one event to reach both readers.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// What one run measured.
pub struct WatchFigures {
    /// Append call → line printed by `bamfctl sessions watch --json`.
    pub bamf: Latencies,
    /// Append call → message received by a bare ordered consumer.
    pub bare: Latencies,
    /// Append call → publish ack returned.
    pub ack: Latencies,
}

/// Measures `events` session events.
pub async fn measure(
    stack: &Stack,
    api: &Replica,
    bamfctl: &Path,
    events: usize,
) -> anyhow::Result<WatchFigures> {
    let url = format!("http://{}", api.addr);
    let home = tempfile::tempdir()?;
    login(bamfctl, home.path(), &url).await?;

    let js = stack.jetstream().await?;
    let log = EventLog::new(js.clone(), LogConfig::default());

    // The bare reader: an ordered consumer from the stream's end.
    let mut bare = js
        .get_stream(EVENTS_STREAM)
        .await?
        .create_consumer(OrderedConfig {
            filter_subject: "bamf.evt.session.>".into(),
            deliver_policy: DeliverPolicy::New,
            ..Default::default()
        })
        .await?
        .messages()
        .await?;
    let (bare_tx, mut bare_rx) = mpsc::channel::<(String, Instant)>(1024);
    let bare_task = tokio::spawn(async move {
        while let Some(Ok(message)) = bare.next().await {
            let at = Instant::now();
            // bamf.evt.session.<id>.<event>
            let id = message
                .subject
                .split('.')
                .nth(3)
                .unwrap_or_default()
                .to_string();
            if bare_tx.send((id, at)).await.is_err() {
                break;
            }
        }
    });

    // bamf: the CLI in a process of its own.
    let mut child = tokio::process::Command::new(bamfctl)
        .env("BAMF_HOME", home.path())
        .env_remove("BAMF_API_URL")
        .args(["--api-url", &url, "sessions", "watch", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", bamfctl.display()))?;
    let stdout = child.stdout.take().context("stdout is piped")?;
    let (watch_tx, mut watch_rx) = mpsc::channel::<(String, Instant)>(1024);
    let watch_task = tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let at = Instant::now();
            let row: serde_json::Value = match serde_json::from_str(&line) {
                Ok(row) => row,
                Err(_) => continue,
            };
            let id = row["session_id"].as_str().unwrap_or_default().to_string();
            if watch_tx.send((id, at)).await.is_err() {
                break;
            }
        }
    });

    let user = AggregateId::from_ulid(ulid::Ulid::new());
    let (mut bamf_l, mut bare_l, mut ack_l) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..WARM_UP + events {
        let session = AggregateId::from_ulid(ulid::Ulid::new());
        let envelope = Envelope::new(
            ulid::Ulid::new(),
            Timestamp::new(time::OffsetDateTime::now_utc()),
            Actor::system(),
            session.clone(),
            Event::SessionRequested(SessionRequested {
                user_id: user.clone(),
                resource: "orders-db".into(),
                resource_type: "postgres".into(),
            }),
        );
        let start = Instant::now();
        log.append(&envelope, Expected::NoEvents)
            .await
            .context("cannot append a session event")?;
        let acked = start.elapsed();
        let id = session.to_string();
        let bamf_at = tokio::time::timeout(EVENT_TIMEOUT, until(&mut watch_rx, &id))
            .await
            .with_context(|| format!("sessions watch did not print session {id} in time"))??;
        let bare_at = tokio::time::timeout(EVENT_TIMEOUT, until(&mut bare_rx, &id))
            .await
            .with_context(|| format!("the bare consumer did not get session {id} in time"))??;
        if i >= WARM_UP {
            bamf_l.push(bamf_at.saturating_duration_since(start));
            bare_l.push(bare_at.saturating_duration_since(start));
            ack_l.push(acked);
        }
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    watch_task.abort();
    bare_task.abort();
    Ok(WatchFigures {
        bamf: Latencies::new(bamf_l),
        bare: Latencies::new(bare_l),
        ack: Latencies::new(ack_l),
    })
}

/// The arrival time of `id`, skipping others (a snapshot, earlier events).
async fn until(rx: &mut mpsc::Receiver<(String, Instant)>, id: &str) -> anyhow::Result<Instant> {
    loop {
        let (got, at) = rx.recv().await.context("the reader stopped")?;
        if got == id {
            return Ok(at);
        }
    }
}

/// `bamfctl login` as the stack's admin, credentials under `home`.
async fn login(bamfctl: &Path, home: &Path, url: &str) -> anyhow::Result<()> {
    let mut child = tokio::process::Command::new(bamfctl)
        .env("BAMF_HOME", home)
        .env_remove("BAMF_API_URL")
        .args([
            "--api-url",
            url,
            "login",
            "--email",
            ADMIN_EMAIL,
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", bamfctl.display()))?;
    let mut stdin = child.stdin.take().context("stdin is piped")?;
    stdin
        .write_all(format!("{ADMIN_PASSWORD}\n").as_bytes())
        .await?;
    drop(stdin);
    let out = child.wait_with_output().await?;
    anyhow::ensure!(
        out.status.success(),
        "bamfctl login failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

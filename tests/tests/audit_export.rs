//! `bamfctl audit export` and `audit verify` over the stream, against a real
//! nats-server (and, for seals, a real bamf-api with PostgreSQL):
//!
//! - the real binary exporting to a file, SIGKILLed mid-way and started
//!   again, leaves every sequence in the file at least once (duplicates are
//!   counted and printed), each record byte-identical to the stream's;
//! - a slow HTTP sink that answers 503 to some batches gets every record: the
//!   refused batches are sent again, one request at a time, the server never
//!   holds more than max_ack_pending unacked while the rest waits there;
//! - a syslog receiver gets one octet-counted RFC 5424 message per record;
//! - `--format ocsf` writes one OCSF event per record;
//! - every exported record validates against `schemas/audit/record.json`;
//! - `audit verify --nats-url` checks the sealed stream of a real API, and
//!   bad flag combinations and an unreachable NATS get clear errors.

#[allow(dead_code)]
#[path = "cli_control/bamfctl.rs"]
mod bamfctl_bin;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bamf_domain::events::{Event, LoginFailed, UserCreated};
use bamf_domain::seal::{parse_line, SEAL_SUBJECT};
use bamf_domain::{Actor, AggregateId, Envelope, Timestamp};
use bamf_events::streams::AUDIT_STREAM;
use bamf_events::{
    ensure_streams, jetstream, AuditLog, EventLog, Expected, LogConfig, StreamOptions, StreamReader,
};
use bamf_testkit::{NatsServer, TestDatabase};
use bamfctl::cmd::audit::export::{export, ExportOptions, Format, Sink, SinkOptions, SinkSpec};
use bytes::Bytes;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio_util::sync::CancellationToken;

/// Bound on every wait in this file.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Pause between polls of a file or the server (a probe, not a wait for readiness).
const POLL: Duration = Duration::from_millis(10);

struct World {
    nats: NatsServer,
    js: jetstream::Context,
}

async fn world() -> World {
    let nats = NatsServer::start().await.expect("nats-server starts");
    let js = jetstream::new(bamf_events::connect(nats.url()).await.unwrap());
    ensure_streams(&js, &StreamOptions::default())
        .await
        .unwrap();
    World { nats, js }
}

fn envelope(n: u64, event: Event) -> Envelope {
    // Unique across calls: BAMF_AUDIT de-duplicates on the envelope id.
    let id = ulid::Ulid::new();
    Envelope::new(
        id,
        Timestamp::from_unix_micros(1_790_000_000_000_000 + i64::try_from(n).unwrap()),
        Actor::system(),
        AggregateId::from_ulid(id),
        event,
    )
}

/// `users` domain events (sourced into BAMF_AUDIT) and `failures` audit-only
/// records; returns once BAMF_AUDIT holds them all, with its last sequence.
async fn publish(js: &jetstream::Context, users: u64, failures: u64) -> u64 {
    let mut stream = js.get_stream(AUDIT_STREAM).await.unwrap();
    let before = stream.info().await.unwrap().state.messages;
    let log = EventLog::new(js.clone(), LogConfig::default());
    let created: Vec<_> = (0..users)
        .map(|n| {
            let e = envelope(
                n,
                Event::UserCreated(UserCreated {
                    email: format!("user{n}@corp.example"),
                    display_name: format!("User {n}"),
                    roles: vec!["everyone".into()],
                }),
            );
            (e, Expected::NoEvents)
        })
        .collect();
    for r in log.append_pipelined(&created).await {
        r.expect("the domain event is appended");
    }
    let audit = AuditLog::new(js.clone());
    for n in 0..failures {
        let e = envelope(
            users + n,
            Event::LoginFailed(LoginFailed {
                email: format!("mallory{n}@corp.example"),
                provider: "local".into(),
                reason: "wrong_password".into(),
            }),
        );
        audit.record(&e).await.expect("the audit record is stored");
    }
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let state = stream.info().await.unwrap().state.clone();
        if state.messages >= before + users + failures {
            return state.last_sequence;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "BAMF_AUDIT holds {} of {} records",
            state.messages,
            users + failures
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Every record of BAMF_AUDIT, by sequence.
async fn stream_payloads(js: &jetstream::Context) -> BTreeMap<u64, Bytes> {
    let mut reader = StreamReader::open(js, AUDIT_STREAM).await.unwrap();
    let mut out = BTreeMap::new();
    while let Some(r) = reader.next().await {
        let r = r.unwrap();
        out.insert(r.seq, r.payload);
    }
    out
}

fn record_validator() -> jsonschema::Validator {
    let path = bamf_testkit::repo_root().join("schemas/audit/record.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("record.json compiles")
}

#[track_caller]
fn assert_valid(v: &jsonschema::Validator, payload: &[u8]) {
    let record: Value = serde_json::from_slice(payload).expect("a record is JSON");
    let errors: Vec<String> = v.iter_errors(&record).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "not a valid audit record: {errors:?}\n{record}"
    );
}

/// Checks the export lines `lines` against the stream: each record
/// byte-identical and valid, every sequence present. Answers how many times
/// each sequence was written.
#[track_caller]
fn check_lines<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    stream: &BTreeMap<u64, Bytes>,
) -> BTreeMap<u64, usize> {
    let v = record_validator();
    let mut seen = BTreeMap::new();
    for line in lines {
        let r = parse_line(line).unwrap_or_else(|e| panic!("not an export line ({e}): {line}"));
        let stored = stream
            .get(&r.seq)
            .unwrap_or_else(|| panic!("sequence {} is not in the stream", r.seq));
        assert_eq!(
            r.payload.as_slice(),
            &stored[..],
            "record {} is not the stream's payload byte for byte",
            r.seq
        );
        assert_valid(&v, &r.payload);
        *seen.entry(r.seq).or_insert(0) += 1;
    }
    let missing: Vec<_> = stream.keys().filter(|s| !seen.contains_key(s)).collect();
    assert!(missing.is_empty(), "sequences never exported: {missing:?}");
    seen
}

fn options(consumer: &str, batch: usize, max_pending: usize) -> ExportOptions {
    ExportOptions {
        consumer: consumer.into(),
        batch,
        max_ack_pending: max_pending,
        progress_every: None,
        ..ExportOptions::default()
    }
}

/// `bamfctl <args>` without any NATS settings from this environment.
fn bamfctl(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(bamfctl_bin::binary());
    cmd.env_remove("BAMF_NATS_URL")
        .env_remove("BAMF_NATS_PASSWORD")
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Runs `bamfctl <args>` to its end: (exit code, stdout, stderr).
async fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = tokio::time::timeout(TIMEOUT, bamfctl(args).output())
        .await
        .unwrap_or_else(|_| panic!("bamfctl {args:?} did not finish"))
        .expect("bamfctl runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn count_lines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

#[tokio::test]
async fn an_export_killed_mid_way_and_restarted_misses_no_record() {
    let w = world().await;
    let last = publish(&w.js, 2000, 1000).await;
    assert_eq!(last, 3000);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.jsonl");
    let url = w.nats.url();
    let to = format!("file:{}", file.display());
    let args = [
        "audit",
        "export",
        "--nats-url",
        &url,
        "--to",
        &to,
        "--batch",
        "10",
        "--max-pending",
        "20",
    ];

    // Killed once some batches are in the file.
    let mut child = bamfctl(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bamfctl starts");
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while count_lines(&file) < 200 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the export ended before it could be killed"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "no progress in the file"
        );
        tokio::time::sleep(POLL).await;
    }
    child.start_kill().expect("SIGKILL is sent");
    let status = child.wait().await.unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "killed mid-way, not finished: {status:?}"
        );
    }
    let at_kill = count_lines(&file);
    assert!(at_kill < 3000, "the export had finished: {at_kill} lines");

    // Restarted: resumes, catches up and ends by itself.
    let (code, stdout, stderr) = run(&args).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.is_empty(), "records went to the file only: {stdout}");
    assert!(stderr.contains("is caught up"), "{stderr}");
    println!("the restarted export said:\n{stderr}");

    let stream = stream_payloads(&w.js).await;
    let text = std::fs::read_to_string(&file).unwrap();
    let seen = check_lines(text.lines(), &stream);
    let duplicates: Vec<_> = seen
        .iter()
        .filter(|(_, &n)| n > 1)
        .map(|(s, _)| *s)
        .collect();
    println!(
        "killed at {at_kill} lines; {} lines for {} records; {} duplicated sequences: {duplicates:?}",
        text.lines().count(),
        seen.len(),
        duplicates.len()
    );
    assert_eq!(seen.len(), 3000);
    // Only what the killed run had in hand (at most max-pending) can repeat.
    assert!(duplicates.len() <= 20, "{duplicates:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the export file is private");
    }

    // Nothing more to do: a third run exports nothing and appends nothing.
    let before = text.len();
    let (code, _, stderr) = run(&args).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("exported 0 records"), "{stderr}");
    assert_eq!(std::fs::metadata(&file).unwrap().len() as usize, before);
}

#[tokio::test]
async fn a_following_export_takes_new_records_and_stops_cleanly_on_sigterm() {
    let w = world().await;
    publish(&w.js, 10, 10).await;
    let url = w.nats.url();
    let mut child = bamfctl(&[
        "audit",
        "export",
        "--nats-url",
        &url,
        "--follow",
        "--consumer",
        "FOLLOW",
        "--batch",
        "8",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("bamfctl starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut lines = Vec::new();
    let mut read_until = async |n: usize, lines: &mut Vec<String>| {
        while lines.len() < n {
            let line = tokio::time::timeout(TIMEOUT, stdout.next_line())
                .await
                .unwrap_or_else(|_| panic!("record {} of {n} never arrived", lines.len() + 1))
                .unwrap()
                .expect("stdout stays open");
            lines.push(line);
        }
    };
    read_until(20, &mut lines).await;
    // New records, after it caught up, arrive without a restart.
    let last = publish(&w.js, 0, 5).await;
    read_until(25, &mut lines).await;
    assert_eq!(last, 25);

    let pid = child.id().expect("still running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::time::timeout(TIMEOUT, child.wait_with_output())
        .await
        .expect("it stops")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stopped on request"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing after the records");
    let stream = stream_payloads(&w.js).await;
    let seen = check_lines(lines.iter().map(String::as_str), &stream);
    assert!(seen.values().all(|&n| n == 1));
    let info =
        w.js.get_stream(AUDIT_STREAM)
            .await
            .unwrap()
            .consumer_info("FOLLOW")
            .await
            .unwrap();
    assert_eq!(
        (info.ack_floor.stream_sequence, info.num_ack_pending),
        (25, 0)
    );
}

/// What the in-test HTTP receiver saw.
#[derive(Default)]
struct Seen {
    /// Each request: answered status and the sequences of its lines.
    requests: Mutex<Vec<(u16, Vec<u64>, String)>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    accepted: AtomicU64,
}

#[derive(Clone)]
struct Receiver {
    seen: Arc<Seen>,
    delay: Duration,
    /// Every `fail_every`-th request (1-based) is answered 503.
    fail_every: usize,
    /// A fixed answer for every request instead.
    always: Option<u16>,
}

async fn ingest(
    axum::extract::State(r): axum::extract::State<Receiver>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    use axum::http::StatusCode;
    let now = r.seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    r.seen.max_in_flight.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(r.delay).await;
    let authorized =
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer s3cret-token");
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = String::from_utf8(body.to_vec()).expect("the body is UTF-8");
    let seqs: Vec<u64> = text
        .lines()
        .map(|l| parse_line(l).expect("an export line").seq)
        .collect();
    let mut requests = r.seen.requests.lock().unwrap();
    let status = if let Some(s) = r.always {
        StatusCode::from_u16(s).unwrap()
    } else if !authorized || content_type != "application/x-ndjson" {
        StatusCode::UNAUTHORIZED
    } else if (requests.len() + 1) % r.fail_every == 0 {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        r.seen
            .accepted
            .fetch_add(seqs.len() as u64, Ordering::SeqCst);
        StatusCode::OK
    };
    requests.push((status.as_u16(), seqs, text));
    r.seen.in_flight.fetch_sub(1, Ordering::SeqCst);
    status
}

async fn http_receiver(r: Receiver) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/ingest", axum::routing::post(ingest))
        .with_state(r);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn a_slow_failing_http_sink_gets_back_pressure_not_loss() {
    const RECORDS: u64 = 300;
    const MAX_PENDING: usize = 20;
    let w = world().await;
    publish(&w.js, 100, RECORDS - 100).await;
    let seen = Arc::new(Seen::default());
    let addr = http_receiver(Receiver {
        seen: seen.clone(),
        delay: Duration::from_millis(30),
        fail_every: 3,
        always: None,
    })
    .await;

    // The server's view of the consumer, sampled while the export runs.
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let js = w.js.clone();
        let done = done.clone();
        let seen = seen.clone();
        tokio::spawn(async move {
            let stream = js.get_stream(AUDIT_STREAM).await.unwrap();
            let (mut max_ack_pending, mut waiting_on_server) = (0, 0u64);
            while !done.load(Ordering::SeqCst) {
                if let Ok(info) = stream.consumer_info("HTTP").await {
                    // Read after the info: at most what the sink had then.
                    let accepted = seen.accepted.load(Ordering::SeqCst);
                    max_ack_pending = max_ack_pending.max(info.num_ack_pending);
                    // Whatever the sink has not accepted, the server still
                    // holds: not delivered yet, or delivered and not acked.
                    let unacked = info.num_pending + info.num_ack_pending as u64;
                    assert!(
                        unacked >= RECORDS - accepted,
                        "the server let go of records the sink never accepted: {info:?}, {accepted} accepted"
                    );
                    // Mid-way, the remainder waits on the server.
                    if accepted > 0 && RECORDS - accepted > MAX_PENDING as u64 {
                        waiting_on_server = waiting_on_server.max(info.num_pending);
                    }
                }
                tokio::time::sleep(POLL).await;
            }
            (max_ack_pending, waiting_on_server)
        })
    };
    let spec: SinkSpec = format!("http://{addr}/ingest").parse().unwrap();
    let mut sink = Sink::open(
        &spec,
        &SinkOptions {
            headers: vec![("Authorization".into(), "Bearer s3cret-token".into())],
        },
    )
    .await
    .unwrap();
    let stats = tokio::time::timeout(
        TIMEOUT,
        export(
            &w.js,
            &options("HTTP", MAX_PENDING, MAX_PENDING),
            &mut sink,
            &CancellationToken::new(),
        ),
    )
    .await
    .expect("the export ends")
    .expect("the export succeeds");
    done.store(true, Ordering::SeqCst);
    let (max_ack_pending, waiting_on_server) = sampler.await.expect("the invariant held");

    assert_eq!(stats.records, RECORDS);
    let requests = seen.requests.lock().unwrap().clone();
    let refused: Vec<_> = requests.iter().filter(|r| r.0 == 503).collect();
    assert!(!refused.is_empty(), "the sink never refused a batch");
    assert!(
        requests.iter().all(|r| r.0 == 200 || r.0 == 503),
        "unexpected answers"
    );
    // Each refused batch came again, whole, as the next request.
    for (i, r) in requests.iter().enumerate() {
        if r.0 == 503 {
            let next = requests.get(i + 1).expect("a refused batch is sent again");
            assert_eq!(next.1, r.1, "the retry carries the same batch");
        }
    }
    let stream = stream_payloads(&w.js).await;
    let accepted = check_lines(
        requests
            .iter()
            .filter(|r| r.0 == 200)
            .flat_map(|r| r.2.lines()),
        &stream,
    );
    assert_eq!(accepted.len() as u64, RECORDS);
    assert!(
        accepted.values().all(|&n| n == 1),
        "an accepted record was sent again"
    );
    assert_eq!(
        seen.max_in_flight.load(Ordering::SeqCst),
        1,
        "one batch at a time"
    );
    assert!(
        (1..=MAX_PENDING).contains(&max_ack_pending),
        "num_ack_pending peaked at {max_ack_pending}"
    );
    assert!(
        waiting_on_server > MAX_PENDING as u64,
        "the remainder should wait on the server while the sink is slow: {waiting_on_server}"
    );
    println!(
        "{} requests, {} refused with 503; num_ack_pending ≤ {max_ack_pending}; up to {waiting_on_server} records waited on the server",
        requests.len(),
        refused.len()
    );
    let info =
        w.js.get_stream(AUDIT_STREAM)
            .await
            .unwrap()
            .consumer_info("HTTP")
            .await
            .unwrap();
    assert_eq!(
        (
            info.ack_floor.stream_sequence,
            info.num_ack_pending,
            info.num_pending
        ),
        (RECORDS, 0, 0)
    );
}

#[tokio::test]
async fn a_refusing_http_sink_stops_the_export_and_nothing_is_acked() {
    let w = world().await;
    publish(&w.js, 0, 5).await;
    let seen = Arc::new(Seen::default());
    let addr = http_receiver(Receiver {
        seen: seen.clone(),
        delay: Duration::ZERO,
        fail_every: usize::MAX,
        always: Some(400),
    })
    .await;
    let spec: SinkSpec = format!("http://{addr}/ingest?token=secret")
        .parse()
        .unwrap();
    let mut sink = Sink::open(&spec, &SinkOptions::default()).await.unwrap();
    let err = export(
        &w.js,
        &options("REFUSED", 10, 10),
        &mut sink,
        &CancellationToken::new(),
    )
    .await
    .expect_err("a 400 stops the export");
    let text = format!("{err:#}");
    assert!(
        text.contains("refused sequences 1..=5 with HTTP 400 Bad Request"),
        "{text}"
    );
    assert!(!text.contains("secret"), "the query is never shown: {text}");
    assert_eq!(seen.requests.lock().unwrap().len(), 1, "not retried");
    let info =
        w.js.get_stream(AUDIT_STREAM)
            .await
            .unwrap()
            .consumer_info("REFUSED")
            .await
            .unwrap();
    assert_eq!(info.ack_floor.stream_sequence, 0, "nothing acked");
}

/// Reads octet-counted frames (`<len> <msg>`) until `n` have arrived.
async fn read_frames(conn: tokio::net::TcpStream, n: usize) -> Vec<String> {
    let mut reader = BufReader::new(conn);
    let mut frames = Vec::new();
    while frames.len() < n {
        let mut len = Vec::new();
        reader.read_until(b' ', &mut len).await.unwrap();
        let len: usize = std::str::from_utf8(&len[..len.len() - 1])
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("not an octet count: {len:?}"));
        let mut msg = vec![0; len];
        reader.read_exact(&mut msg).await.unwrap();
        frames.push(String::from_utf8(msg).unwrap());
    }
    frames
}

#[tokio::test]
async fn a_syslog_receiver_gets_one_rfc5424_message_per_record() {
    let w = world().await;
    let last = publish(&w.js, 20, 20).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = tokio::spawn(async move {
        let (conn, _) = listener.accept().await.unwrap();
        read_frames(conn, 40).await
    });
    let spec: SinkSpec = format!("syslog+tcp://{addr}").parse().unwrap();
    let mut sink = Sink::open(&spec, &SinkOptions::default()).await.unwrap();
    let stats = export(
        &w.js,
        &options("SYSLOG", 7, 14),
        &mut sink,
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!((stats.records, stats.last_seq), (40, Some(last)));
    let frames = tokio::time::timeout(TIMEOUT, receiver)
        .await
        .unwrap()
        .unwrap();

    let stream = stream_payloads(&w.js).await;
    let pid = std::process::id().to_string();
    let mut lines = Vec::new();
    for frame in &frames {
        // <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG
        let parts: Vec<&str> = frame.splitn(8, ' ').collect();
        assert_eq!(parts.len(), 8, "{frame}");
        let line = parts[7];
        let r = parse_line(line).unwrap();
        let record: Value = serde_json::from_slice(&r.payload).unwrap();
        let action = record["type"].as_str().unwrap();
        let pri = match action {
            // facility 13 (log audit) × 8 + warning (4) / notice (5)
            "login.failed" => "<108>1",
            "user.created" => "<109>1",
            other => panic!("unexpected {other}"),
        };
        assert_eq!(parts[0], pri, "{frame}");
        assert_eq!(parts[1], record["time"].as_str().unwrap());
        assert!(!parts[2].is_empty() && parts[2] != " ", "{frame}");
        assert_eq!(&parts[3..7], ["bamf", pid.as_str(), action, "-"]);
        lines.push(line.to_string());
    }
    let seen = check_lines(lines.iter().map(String::as_str), &stream);
    assert!(seen.values().all(|&n| n == 1));
}

#[tokio::test]
async fn an_ocsf_export_writes_one_ocsf_event_per_record() {
    let w = world().await;
    publish(&w.js, 5, 5).await;
    let stream = stream_payloads(&w.js).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.ocsf.jsonl");
    let spec: SinkSpec = format!("file:{}", file.display()).parse().unwrap();
    let mut sink = Sink::open(&spec, &SinkOptions::default()).await.unwrap();
    let stats = export(
        &w.js,
        &ExportOptions {
            format: Format::Ocsf,
            ..options("OCSF", 4, 8)
        },
        &mut sink,
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(stats.records, 10);
    let text = std::fs::read_to_string(&file).unwrap();
    let v = record_validator();
    let mut ids = Vec::new();
    for line in text.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        assert!(event["class_uid"].as_u64().is_some(), "{event}");
        let uid = event["metadata"]["uid"].as_str().expect("metadata.uid");
        // The record it came from: same id, in the stream.
        let record = stream
            .values()
            .map(|p| serde_json::from_slice::<Value>(p).unwrap())
            .find(|r| r["id"] == uid)
            .unwrap_or_else(|| panic!("no record has id {uid}"));
        assert_valid(&v, &serde_json::to_vec(&record).unwrap());
        ids.push(uid.to_string());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10);
}

#[tokio::test]
async fn verify_reads_the_sealed_stream_of_a_real_api() {
    use bamf_api::seal::SEAL_PUBLIC_KEY_FILE;
    use bamf_api::ApiConfig;
    use bamf_runtime::{probe, Shutdown};

    let _ = rustls::crypto::ring::default_provider().install_default();
    let nats = NatsServer::start().await.expect("nats-server starts");
    let db = TestDatabase::create().await.expect("database is created");
    let data = tempfile::tempdir().unwrap();
    let config = ApiConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        nats_url: nats.url(),
        database_url: db.url().into(),
        data_dir: data.path().join("api"),
        shutdown_grace: Duration::from_secs(3),
        admin_email: "admin@corp.example".into(),
        admin_password: "admin password 123".into(),
        audit_seal_interval: Duration::from_millis(200),
        ..ApiConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new(config.shutdown_grace);
    let api = tokio::spawn(bamf_api::run(config.clone(), listener, shutdown.clone()));
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !probe::get(addr, "/readyz", Duration::from_secs(5))
        .await
        .is_ok_and(|a| a.status == 200)
    {
        assert!(tokio::time::Instant::now() < deadline, "bamf-api not ready");
        tokio::time::sleep(POLL).await;
    }
    let http = reqwest::Client::new();
    for n in 0..5 {
        let answer = http
            .post(format!("http://{addr}/api/v1/auth/local/login"))
            .json(&serde_json::json!({"email": format!("mallory{n}@corp.example"), "password": "wrong"}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401);
    }
    // Wait until a seal covers everything so far.
    let js = jetstream::new(bamf_events::connect(nats.url()).await.unwrap());
    let mut stream = js.get_stream(AUDIT_STREAM).await.unwrap();
    let target = stream.info().await.unwrap().state.last_sequence;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Ok(m) = stream.get_last_raw_message_by_subject(SEAL_SUBJECT).await {
            if let Event::AuditSealed(s) = Envelope::decode(&m.payload).unwrap().event {
                if s.last_seq >= target {
                    break;
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no seal covers {target}"
        );
        tokio::time::sleep(POLL).await;
    }
    shutdown.trigger();
    api.await.unwrap().unwrap();

    let key = config.data_dir.join(SEAL_PUBLIC_KEY_FILE);
    let key = key.to_str().unwrap();
    let url = nats.url();
    let last = stream.info().await.unwrap().state.last_sequence;

    let (code, stdout, stderr) = run(&[
        "audit",
        "verify",
        "--nats-url",
        &url,
        "--public-key",
        key,
        "--json",
    ])
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["records"], last);
    assert_eq!(summary["verified"]["first_seq"], 1, "{summary}");
    assert!(summary["seals"].as_u64().unwrap() >= 1, "{summary}");
    // The plain output names the range too.
    let (code, stdout, _) =
        run(&["audit", "verify", "--nats-url", &url, "--public-key", key]).await;
    assert_eq!(code, Some(0));
    assert!(stdout.contains("sequences 1..="), "{stdout}");

    // The export of the same stream verifies as a file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.jsonl");
    let to = format!("file:{}", file.display());
    let (code, _, stderr) = run(&["audit", "export", "--nats-url", &url, "--to", &to]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let file_arg = file.to_str().unwrap();
    let (code, _, stderr) =
        run(&["audit", "verify", "--file", file_arg, "--public-key", key]).await;
    assert_eq!(code, Some(0), "{stderr}");

    // Bad combinations and an unreachable NATS: one clear error line each.
    for (args, says) in [
        (
            vec![
                "audit",
                "verify",
                "--file",
                file_arg,
                "--nats-url",
                &url,
                "--public-key",
                key,
            ],
            "give either --file",
        ),
        (
            vec!["audit", "verify", "--public-key", key],
            "nothing to verify: give --file FILE",
        ),
        (
            vec![
                "audit",
                "verify",
                "--nats-url",
                "nats://127.0.0.1:1",
                "--public-key",
                key,
            ],
            "cannot connect to NATS at nats://127.0.0.1:1",
        ),
        (
            vec!["audit", "export", "--nats-url", "nats://u:pw@127.0.0.1:1"],
            "cannot connect to NATS at nats://***@127.0.0.1:1",
        ),
        (
            vec![
                "audit",
                "export",
                "--nats-url",
                &url,
                "--batch",
                "50",
                "--max-pending",
                "10",
            ],
            "--batch (50) must not exceed --max-pending (10)",
        ),
        (
            vec!["audit", "export", "--nats-url", &url, "--nats-user", "siem"],
            "BAMF_NATS_PASSWORD",
        ),
    ] {
        let (code, stdout, stderr) = run(&args).await;
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(says),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains(":pw@"), "a password was shown: {stderr}");
    }
    // An unknown sink is a usage error.
    let (code, _, stderr) = run(&["audit", "export", "--to", "kafka://x"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("unknown sink"), "{stderr}");
}

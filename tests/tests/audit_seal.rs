//! Tamper evidence end to end: two real bamf-api replicas (sharing NATS,
//! PostgreSQL and data_dir) seal `BAMF_AUDIT` every 200 ms while records
//! arrive; the stream is dumped in the export format and `bamfctl audit
//! verify` accepts it, names the sequence of a record altered by one byte, and
//! names the gap where a record was removed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bamf_api::seal::SEAL_PUBLIC_KEY_FILE;
use bamf_api::ApiConfig;
use bamf_domain::events::Event;
use bamf_domain::seal::{export_line, VerifyError, SEAL_SUBJECT};
use bamf_domain::Envelope;
use bamf_events::jetstream;
use bamf_events::streams::AUDIT_STREAM;
use bamf_runtime::{probe, Shutdown};
use bamf_testkit::{NatsServer, TestDatabase};
use clap::Parser;

const ADMIN_EMAIL: &str = "admin@corp.example";
const ADMIN_PASSWORD: &str = "admin password 123";
const SEAL_INTERVAL: Duration = Duration::from_millis(200);
/// Bound on every wait in this test.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between polls of the stream (a probe, not a sleep in place of one).
const POLL: Duration = Duration::from_millis(20);

struct Replica {
    addr: SocketAddr,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn replica(config: ApiConfig) -> Replica {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new(config.shutdown_grace);
    let task = tokio::spawn(bamf_api::run(config, listener, shutdown.clone()));
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Ok(a) = probe::get(addr, "/readyz", Duration::from_secs(5)).await {
            if a.status == 200 {
                break;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "bamf-api not ready");
        tokio::time::sleep(POLL).await;
    }
    Replica {
        addr,
        shutdown,
        task,
    }
}

/// A failed login: one `login.failed` audit record.
async fn failed_login(http: &reqwest::Client, r: &Replica, n: usize) {
    let answer = http
        .post(format!("http://{}/api/v1/auth/local/login", r.addr))
        .json(&serde_json::json!({"email": format!("mallory{n}@corp.example"), "password": "wrong password"}))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(answer.status(), 401);
}

/// The last seal's stream sequence and the last sequence it covers.
async fn last_seal(stream: &jetstream::stream::Stream) -> Option<(u64, u64)> {
    let m = stream
        .get_last_raw_message_by_subject(SEAL_SUBJECT)
        .await
        .ok()?;
    match Envelope::decode(&m.payload).expect("a seal decodes").event {
        Event::AuditSealed(s) => Some((m.sequence, s.last_seq)),
        other => panic!("not a seal: {other:?}"),
    }
}

/// Waits until a seal covers `seq`.
async fn sealed_through(stream: &jetstream::stream::Stream, seq: u64) -> u64 {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some((seal, last)) = last_seal(stream).await {
            if last >= seq {
                return seal;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no seal covers {seq}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Every record of BAMF_AUDIT, one export line each.
async fn dump(stream: &mut jetstream::stream::Stream) -> Vec<String> {
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut lines = Vec::new();
    for seq in 1..=last {
        let m = stream.get_raw_message(seq).await.unwrap();
        lines.push(export_line(seq, &m.payload));
    }
    lines
}

fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn verify_error(file: &Path, key: &Path) -> VerifyError {
    let err = bamfctl::cmd::audit::verify_file(file, &[key.to_path_buf()])
        .expect_err("the file does not verify");
    err.downcast_ref::<VerifyError>()
        .unwrap_or_else(|| panic!("not a verification failure: {err:#}"))
        .clone()
}

// Two API replicas in one test: give them the worker threads a deployed API
// has, so neither the sealers nor the test's own waits share one thread with
// both replicas' projections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seals_from_a_real_api_verify_and_tampering_is_named() {
    // reqwest is built without a default TLS provider; another test may have set one.
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
        admin_email: ADMIN_EMAIL.into(),
        admin_password: ADMIN_PASSWORD.into(),
        audit_seal_interval: SEAL_INTERVAL,
        ..ApiConfig::default()
    };
    let a = replica(config.clone()).await;
    let b = replica(config.clone()).await;
    let js = jetstream::new(bamf_events::connect(nats.url()).await.unwrap());
    let mut stream = js.get_stream(AUDIT_STREAM).await.unwrap();
    let http = reqwest::Client::new();

    // Records in several rounds, each sealed before the next.
    for round in 0..3 {
        for n in 0..3 {
            failed_login(&http, if n % 2 == 0 { &a } else { &b }, round * 3 + n).await;
        }
        let last = stream.info().await.unwrap().state.last_sequence;
        sealed_through(&stream, last).await;
    }
    for r in [a, b] {
        r.shutdown.trigger();
        r.task.await.unwrap().unwrap();
    }

    let key = config.data_dir.join(SEAL_PUBLIC_KEY_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(config.data_dir.join(bamf_api::seal::SEAL_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the seal key is private");
    }
    let lines = dump(&mut stream).await;
    let dir = tempfile::tempdir().unwrap();

    // Intact: verifies from the first record, through at least two seals.
    let intact = write(dir.path(), "intact.jsonl", &lines);
    let summary = bamfctl::cmd::audit::verify_file(&intact, std::slice::from_ref(&key)).unwrap();
    assert!(summary.seals >= 2, "{summary:?}");
    assert_eq!(summary.verified.map(|v| v.0), Some(1));
    assert_eq!(summary.records, lines.len() as u64);
    assert_eq!(
        summary.key_ids.len(),
        1,
        "replicas sharing data_dir share the key"
    );
    let cli = bamfctl::Cli::try_parse_from([
        "bamfctl",
        "audit",
        "verify",
        "--file",
        intact.to_str().unwrap(),
        "--public-key",
        key.to_str().unwrap(),
    ])
    .unwrap();
    bamfctl::run(cli)
        .await
        .expect("the CLI accepts the intact file");

    // One byte of a sealed record altered: its sequence is named.
    let victim = lines
        .iter()
        .position(|l| l.contains(r#""type":"login.failed""#))
        .expect("a login.failed record");
    let mut altered = lines.clone();
    altered[victim] = altered[victim].replacen("mallory", "mallorz", 1);
    let file = write(dir.path(), "altered.jsonl", &altered);
    match verify_error(&file, &key) {
        VerifyError::Altered { seq, .. } => assert_eq!(seq, victim as u64 + 1),
        other => panic!("expected the altered record to be named, got: {other}"),
    }
    let cli = bamfctl::Cli::try_parse_from([
        "bamfctl",
        "audit",
        "verify",
        "--file",
        file.to_str().unwrap(),
        "--public-key",
        key.to_str().unwrap(),
    ])
    .unwrap();
    let err = bamfctl::run(cli).await.expect_err("the CLI refuses it");
    assert!(
        format!("{err:#}").contains(&format!("record {} (login.failed) was altered", victim + 1)),
        "{err:#}"
    );

    // One record removed: the gap is named.
    let mut removed = lines.clone();
    removed.remove(victim);
    let file = write(dir.path(), "removed.jsonl", &removed);
    assert_eq!(
        verify_error(&file, &key),
        VerifyError::Gap {
            missing: victim as u64 + 1,
            before: victim as u64,
            after: victim as u64 + 2
        }
    );

    // Another key than the API's is refused.
    let other_dir = tempfile::tempdir().unwrap();
    bamf_api::seal::load_or_create_key(other_dir.path()).unwrap();
    let other_key = other_dir.path().join(SEAL_PUBLIC_KEY_FILE);
    assert!(matches!(
        verify_error(&intact, &other_key),
        VerifyError::BadSignature { .. }
    ));
}

#[tokio::test]
async fn racing_sealers_append_one_seal_and_an_idle_stream_gets_none() {
    use bamf_api::seal::{load_or_create_key, seal_once, Round};
    use bamf_domain::events::LoginFailed;
    use bamf_domain::{Actor, AggregateId, Timestamp};

    let nats = NatsServer::start().await.expect("nats-server starts");
    let js = jetstream::new(bamf_events::connect(nats.url()).await.unwrap());
    bamf_events::ensure_streams(&js, &Default::default())
        .await
        .unwrap();
    let audit = bamf_events::AuditLog::new(js.clone());
    for n in 0..5u64 {
        let id = ulid::Ulid::from_parts(1_790_000_000_000 + n, u128::from(n));
        let record = Envelope::new(
            id,
            Timestamp::from_unix_micros(1_790_000_000_000_000),
            Actor::system(),
            AggregateId::from_ulid(id),
            Event::LoginFailed(LoginFailed {
                email: "mallory@corp.example".into(),
                provider: "local".into(),
                reason: "wrong_password".into(),
            }),
        );
        audit.record(&record).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let key = load_or_create_key(dir.path()).unwrap();
    let (x, y) = tokio::join!(seal_once(&js, &key), seal_once(&js, &key));
    let rounds = [x.unwrap(), y.unwrap()];
    let sealed: Vec<_> = rounds
        .iter()
        .filter_map(|r| match r {
            Round::Sealed { seq, first, last } => Some((*seq, *first, *last)),
            _ => None,
        })
        .collect();
    assert_eq!(sealed, [(6, 1, 5)], "{rounds:?}");
    // The loser either lost the append (and read the winner's seal) or read
    // the winner's seal before computing: nothing new.
    let other: Vec<_> = rounds
        .iter()
        .filter(|r| !matches!(r, Round::Sealed { .. }))
        .collect();
    assert!(
        matches!(
            other[..],
            [Round::LostRace { winner: 6 } | Round::NothingNew]
        ),
        "{rounds:?}"
    );
    // Only the seal itself is new: no seal of a seal.
    assert_eq!(seal_once(&js, &key).await.unwrap(), Round::NothingNew);
    let stream = js.get_stream(AUDIT_STREAM).await.unwrap();
    assert_eq!(last_seal(&stream).await, Some((6, 5)));
}

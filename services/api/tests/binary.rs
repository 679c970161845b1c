//! The real `bamf-api` binary: exit codes for bad config and for SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use bamf_runtime::probe;
use bamf_testkit::{NatsServer, TestDatabase};

const BIN: &str = env!("CARGO_BIN_EXE_bamf-api");
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);

fn api() -> Command {
    let mut cmd = Command::new(BIN);
    // A clean slate: nothing from the developer's shell leaks into the config.
    for (key, _) in std::env::vars() {
        if key.starts_with("BAMF_") || key.starts_with("OTEL_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

#[test]
fn bad_config_exits_2_naming_the_key() {
    let out = api()
        .env("BAMF_API_DATABASE_URL", "postgres://postgres@127.0.0.1/x")
        .env("BAMF_API_LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "error: invalid config: key \"listen\": invalid socket address syntax (from environment variable BAMF_API_LISTEN)"
        ),
        "{stderr}"
    );
}

#[test]
fn missing_database_url_exits_2_naming_the_key() {
    let out = api().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("key \"database_url\": missing"), "{stderr}");
}

#[test]
fn bamfctl_s_url_variable_is_not_an_error() {
    // BAMF_API_URL belongs to bamfctl; bamf-api must not reject it as unknown.
    let out = api()
        .env("BAMF_API_URL", "http://127.0.0.1:1")
        .env("BAMF_API_LISTEN", "nonsense")
        .env("BAMF_API_DATABASE_URL", "postgres://postgres@127.0.0.1/x")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("key \"listen\""), "{stderr}");
}

#[test]
fn a_taken_port_exits_1_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let out = api()
        .env("BAMF_API_DATABASE_URL", "postgres://postgres@127.0.0.1/x")
        .env("BAMF_API_LISTEN", addr.to_string())
        .env("BAMF_API_DATA_DIR", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
}

/// A started bamf-api: the child, its address, and its remaining log lines.
struct Started {
    child: std::process::Child,
    addr: SocketAddr,
    lines: std::io::Lines<BufReader<std::process::ChildStderr>>,
}

/// A real nats-server and a fresh database for one binary run.
struct Backing {
    nats: NatsServer,
    db: TestDatabase,
}

fn backing() -> Backing {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        Backing {
            nats: NatsServer::start().await.unwrap(),
            db: TestDatabase::create().await.unwrap(),
        }
    })
}

/// Starts the binary on a free port with JSON logs and waits for "ready".
fn start(data: &std::path::Path, backing: &Backing, extra_env: &[(&str, &str)]) -> Started {
    let mut child = api()
        .args(["--log-format", "json", "serve"])
        .env("BAMF_API_NATS_URL", backing.nats.url())
        .env("BAMF_API_DATABASE_URL", backing.db.url())
        .env("BAMF_API_LISTEN", "127.0.0.1:0")
        .env("BAMF_API_DATA_DIR", data)
        .envs(extra_env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The log says where it listens (port 0 was resolved by the OS) and when ready.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut addr: Option<SocketAddr> = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        let record: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        let fields = &record["fields"];
        if fields["message"] == "bamf-api listening" {
            addr = Some(fields["addr"].as_str().unwrap().parse().unwrap());
        }
        if fields["message"] == "bamf-api ready" {
            break;
        }
    }
    let addr = addr.expect("the listening line comes before ready");
    Started { child, addr, lines }
}

/// Sends SIGTERM and returns the exit status and the rest of the log.
fn terminate(started: Started) -> (std::process::ExitStatus, Vec<String>) {
    let Started {
        mut child, lines, ..
    } = started;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Collect the rest of the log (so the child never blocks on a full pipe) and
    // the exit status on a helper thread, bounded by EXIT_TIMEOUT.
    let (done, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let _ = done.send((child.wait(), rest));
    });
    let (status, rest) = exited
        .recv_timeout(EXIT_TIMEOUT)
        .expect("bamf-api exits within the timeout after SIGTERM");
    (status.unwrap(), rest)
}

fn get(addr: SocketAddr, path: &str) -> probe::Response {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(probe::get(addr, path, Duration::from_secs(5)))
        .unwrap()
}

#[test]
fn sigterm_stops_it_with_exit_0() {
    let data = tempfile::tempdir().unwrap();
    let backing = backing();
    let started = start(data.path(), &backing, &[]);
    assert_eq!(get(started.addr, "/readyz").status, 200);
    let (status, rest) = terminate(started);
    assert!(status.success(), "exit status {status}; log: {rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("bamf-api stopped")),
        "{rest:?}"
    );
}

#[test]
fn spans_are_exported_over_otlp_and_flushed_at_exit() {
    // A stand-in OTLP/HTTP collector: answers 200 and reports each request line.
    let collector = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", collector.local_addr().unwrap());
    let (seen_tx, seen) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for stream in collector.incoming() {
            let Ok(stream) = stream else { break };
            let seen_tx = seen_tx.clone();
            std::thread::spawn(move || serve_collector(stream, seen_tx));
        }
    });

    let data = tempfile::tempdir().unwrap();
    let backing = backing();
    let started = start(
        data.path(),
        &backing,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())],
    );
    assert_eq!(get(started.addr, "/api/v1/traced").status, 404);
    let (status, rest) = terminate(started);
    assert!(status.success(), "exit status {status}; log: {rest:?}");
    let request = seen
        .recv_timeout(EXIT_TIMEOUT)
        .expect("the request span reached the collector by exit");
    assert!(request.starts_with("POST /v1/traces "), "{request}");
}

/// Reads HTTP/1.1 requests on one connection, answering each with 200.
fn serve_collector(stream: std::net::TcpStream, seen: std::sync::mpsc::Sender<String>) {
    use std::io::{Read, Write};
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let _ = seen.send(request_line.trim_end().to_string());
        let answer =
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn projections_rebuild_replays_the_log_into_the_read_models() {
    let backing = backing();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // Three events in the log before the read models exist.
    runtime.block_on(async {
        let client = bamf_events::connect(backing.nats.url()).await.unwrap();
        let js = bamf_events::jetstream::new(client);
        bamf_events::ensure_streams(&js, &Default::default())
            .await
            .unwrap();
        let log = bamf_events::EventLog::new(js, Default::default());
        for n in 0..3 {
            let event = bamf_domain::Event::UserCreated(bamf_domain::events::UserCreated {
                email: format!("user{n}@corp.example"),
                display_name: format!("User {n}"),
                roles: vec!["everyone".into()],
            });
            let envelope = bamf_domain::Envelope::new(
                ulid::Ulid::new(),
                bamf_domain::Timestamp::from_unix_micros(1_790_000_000_000_000),
                bamf_domain::Actor::system(),
                bamf_domain::AggregateId::from_ulid(ulid::Ulid::new()),
                event,
            );
            log.append(&envelope, bamf_events::Expected::NoEvents)
                .await
                .unwrap();
        }
    });
    let out = api()
        .args(["projections", "rebuild"])
        .env("BAMF_API_NATS_URL", backing.nats.url())
        .env("BAMF_API_DATABASE_URL", backing.db.url())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("event_history: replayed 3 events, now at stream sequence 3"),
        "{stdout}"
    );
    let rows: i64 = runtime.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(backing.db.url()).await.unwrap();
        sqlx::query_scalar("SELECT count(*) FROM event_history WHERE event_type = 'user.created'")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    });
    assert_eq!(rows, 3);
}

/// Runs the binary until ready, stops it, and answers (stdout, stderr).
fn run_once(data: &std::path::Path, backing: &Backing) -> (String, String) {
    let mut child = api()
        .args(["--log-format", "json", "serve"])
        .env("BAMF_API_NATS_URL", backing.nats.url())
        .env("BAMF_API_DATABASE_URL", backing.db.url())
        .env("BAMF_API_LISTEN", "127.0.0.1:0")
        .env("BAMF_API_DATA_DIR", data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());
    let mut log = Vec::new();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let ready = line.contains("\"bamf-api ready\"");
        log.push(line);
        if ready {
            break;
        }
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let (done, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let _ = done.send((child.wait(), rest));
    });
    let (status, rest) = exited
        .recv_timeout(EXIT_TIMEOUT)
        .expect("exits after SIGTERM");
    assert!(status.unwrap().success());
    log.extend(rest);
    (out.join().unwrap(), log.join("\n"))
}

#[test]
fn the_generated_first_admin_password_is_printed_once_and_never_logged() {
    let data = tempfile::tempdir().unwrap();
    let backing = backing();
    let (out, log) = run_once(data.path(), &backing);
    let password = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .unwrap_or_else(|| panic!("no password line on stdout: {out:?}"))
        .to_string();
    assert_eq!(password.len(), 24, "{out}");
    assert!(out.contains("e-mail:   admin@bamf.local"), "{out}");
    assert!(!log.contains(&password), "the password reached the log");
    assert!(log.contains("first admin created"));

    // The second start finds the admin and prints nothing.
    let (out, log) = run_once(data.path(), &backing);
    assert!(!out.contains("password"), "{out}");
    assert!(!log.contains("first admin created"));
}

//! The real bamf-devstack binary: it starts nats-server and bamf-api (against
//! `DATABASE_URL` when set, else its own PostgreSQL cluster), says it is ready,
//! serves, and on SIGTERM stops everything and exits 0.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_bamf-devstack");
/// Start-up includes building bamf-api and maybe creating a cluster.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tools/devstack sits two levels below the repository root")
        .to_path_buf()
}

/// The pinned nats-server, installed by tools/install-nats when missing.
fn nats_server() -> PathBuf {
    let out = Command::new(repo_root().join("tools/install-nats"))
        .stderr(Stdio::inherit())
        .output()
        .expect("tools/install-nats runs");
    assert!(out.status.success(), "tools/install-nats failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// bamf-api from this build. cargo builds another package's binary only on
/// request, so ask for it — with the same command a workspace test run uses
/// (`cargo test --no-run --workspace`): the same feature set, so after
/// `tools/test`'s own build this only checks fingerprints, and after an edit it
/// rebuilds just what changed. (`cargo build -p bamf-api` would resolve other
/// features and rebuild dependencies for minutes on a cold target dir.)
fn api_binary() -> PathBuf {
    let mut cargo = bamf_testkit::cargo::command();
    let status = cargo
        .args(["test", "--no-run", "--workspace", "--quiet"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo test --no-run --workspace failed");
    Path::new(BIN).with_file_name("bamf-api")
}

fn free_ports<const N: usize>() -> [u16; N] {
    // Held together so the OS hands out N different ports.
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

fn devstack(state: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(repo_root())
        .arg("--state-dir")
        .arg(state)
        .arg("--nats-server")
        .arg(nats_server())
        .env_remove("BAMF_API_URL")
        .stdin(Stdio::null());
    cmd
}

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn starts_serves_and_stops_on_sigterm() {
    let state = tempfile::tempdir().unwrap();
    let [nats_port, monitor_port, api_port] = free_ports();
    let mut child = devstack(state.path())
        .arg("--api-bin")
        .arg(api_binary())
        .args(["--nats-port", &nats_port.to_string()])
        .args(["--nats-monitor-port", &monitor_port.to_string()])
        .args(["--api-port", &api_port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    // Read the output on a helper thread so waiting is bounded.
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut pids = std::collections::HashMap::new();
    loop {
        let line = lines
            .recv_timeout(READY_TIMEOUT)
            .unwrap_or_else(|_| panic!("no ready line; output so far: {seen:#?}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [name @ ("nats" | "api"), pid, ..] = words.as_slice() {
            pids.insert(name.to_string(), pid.parse::<u32>().unwrap());
        }
        let ready = line.starts_with("bamf stack ready");
        seen.push(line);
        if ready {
            break;
        }
    }
    assert!(
        seen.iter()
            .any(|l| l.contains(&format!("http://127.0.0.1:{api_port}"))),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.contains("login --email admin@bamf.local --password-stdin")),
        "the summary says how to log in: {seen:#?}"
    );
    let password_file = state.path().join("admin-password");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&password_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the admin password file is private");
    let (nats_pid, api_pid) = (pids["nats"], pids["api"]);
    assert!(process_alive(nats_pid) && process_alive(api_pid));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let api = SocketAddr::from(([127, 0, 0, 1], api_port));
    let live = runtime
        .block_on(bamf_runtime::probe::get(
            api,
            "/healthz",
            Duration::from_secs(5),
        ))
        .unwrap();
    assert_eq!(live.status, 200);
    assert!(
        state.path().join("nats/jetstream").is_dir(),
        "JetStream store in the state dir"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let (done, exited) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let status = exited
        .recv_timeout(EXIT_TIMEOUT)
        .expect("bamf-devstack exits after SIGTERM")
        .unwrap();
    // The child has exited, so its stdout reaches EOF: read to the end (the
    // reader thread may not have forwarded the last lines yet), bounded.
    let mut rest = Vec::new();
    while let Ok(line) = lines.recv_timeout(EXIT_TIMEOUT) {
        rest.push(line);
    }
    assert!(status.success(), "exit {status}; output: {rest:#?}");
    assert!(rest.iter().any(|l| l == "stack stopped"), "{rest:#?}");
    assert!(
        !process_alive(api_pid),
        "bamf-api (pid {api_pid}) still running"
    );
    assert!(
        !process_alive(nats_pid),
        "nats-server (pid {nats_pid}) still running"
    );
    let api_log = std::fs::read_to_string(state.path().join("logs/api.log")).unwrap();
    assert!(api_log.contains("bamf-api stopped"), "{api_log}");
}

#[test]
fn a_requested_port_in_use_is_a_clear_error() {
    let state = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = devstack(state.path())
        .args(["--api-port", &port.to_string()])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/unused")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "--api-port {port}: port {port} on 127.0.0.1 is already in use"
        )),
        "{stderr}"
    );
}

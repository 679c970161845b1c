//! The real bamf-devstack binary: it starts PostgreSQL, nats-server,
//! bamf-api, the demo sshd and demo PostgreSQL, bamf-bridge and bamf-agent,
//! says it is ready, and the real bamfctl logs in as the printed admin, sees
//! the demo resources online and runs ssh and psql through the tunnel. On
//! SIGTERM everything stops in order and it exits 0; a second run on the same
//! state resumes (the agent and the bridge reuse their identities).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_bamf-devstack");
/// Start-up may create two PostgreSQL clusters.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest one bamfctl run may take (its own request timeout is 30 s).
const BAMFCTL_TIMEOUT: Duration = Duration::from_secs(60);

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

/// The folder of this build's programs (bamf-api, bamf-bridge, bamf-agent,
/// bamfctl). cargo builds another package's binary only on request, so ask
/// for them — with the same command a workspace test run uses
/// (`cargo test --no-run --workspace`, which builds every binary that has
/// integration tests): the same feature set, so after `tools/test`'s own
/// build this only checks fingerprints, and after an edit it rebuilds just
/// what changed. (`cargo build -p bamf-api …` would resolve other features
/// and rebuild dependencies for minutes on a cold target dir.)
fn programs() -> PathBuf {
    let mut cargo = bamf_testkit::cargo::command();
    let status = cargo
        .args(["test", "--no-run", "--workspace", "--quiet"])
        .stdout(Stdio::null())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo test --no-run --workspace failed");
    let dir = Path::new(BIN).parent().unwrap().to_path_buf();
    for program in ["bamf-api", "bamf-bridge", "bamf-agent", "bamfctl"] {
        assert!(dir.join(program).is_file(), "{program} built in {dir:?}");
    }
    dir
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

/// Whether `pid` runs (a zombie does not).
fn process_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, None | Some("Z" | "X"))
}

/// Whether `pid` is gone within [`EXIT_TIMEOUT`]: `pg_ctl stop -w` returns
/// once the postmaster removed its pid file, a moment before it exits.
fn gone_soon(pid: u32) -> bool {
    let deadline = std::time::Instant::now() + EXIT_TIMEOUT;
    while process_alive(pid) {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// A running bamf-devstack and what it printed up to "ready".
struct Stack {
    /// Taken by [`Stack::stop`]; a stack still here when dropped (a failed
    /// assertion) is stopped by `Drop`, so it leaves no clusters behind.
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    /// Summary rows: component → pid.
    pids: HashMap<String, u32>,
}

impl Stack {
    /// Spawns `command` and reads its output until the ready line.
    fn start(command: Command) -> Stack {
        Stack::start_within(command, READY_TIMEOUT)
    }

    /// [`Stack::start`], waiting at most `timeout` for each line.
    fn start_within(mut command: Command, timeout: Duration) -> Stack {
        let mut child = command
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
        let mut pids = HashMap::new();
        loop {
            let line = lines
                .recv_timeout(timeout)
                .unwrap_or_else(|_| panic!("no ready line; output so far: {seen:#?}"));
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [name, pid, ..] = words.as_slice() {
                if let Ok(pid) = pid.parse::<u32>() {
                    pids.insert(name.to_string(), pid);
                }
            }
            let ready = line.starts_with("bamf stack ready");
            seen.push(line);
            if ready {
                break;
            }
        }
        Stack {
            child: Some(child),
            lines,
            seen,
            pids,
        }
    }

    fn printed(&self, text: &str) -> bool {
        self.seen.iter().any(|l| l.contains(text))
    }

    /// The URL of bamf-api, from the summary.
    fn api_url(&self) -> String {
        self.seen
            .iter()
            .find_map(|l| l.strip_prefix("bamfctl: export BAMF_API_URL="))
            .unwrap_or_else(|| panic!("the summary gives the API URL: {:#?}", self.seen))
            .to_string()
    }

    /// SIGTERM; waits (bounded) for exit 0 and answers the rest of the output.
    fn stop(mut self) -> Vec<String> {
        let mut child = self.child.take().expect("stopped once");
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
        while let Ok(line) = self.lines.recv_timeout(EXIT_TIMEOUT) {
            rest.push(line);
        }
        assert!(status.success(), "exit {status}; output: {rest:#?}");
        assert!(rest.iter().any(|l| l == "stack stopped"), "{rest:#?}");
        rest
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // Stop it the orderly way, bounded; kill it if that takes too long.
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + EXIT_TIMEOUT;
        while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Runs this build's bamfctl with its own bamf home, bounded.
fn bamfctl(programs: &Path, home: &Path, api_url: &str, args: &[&str], stdin: Stdio) -> Output {
    let child = Command::new(programs.join("bamfctl"))
        .env("BAMF_HOME", home)
        .env_remove("BAMF_API_URL")
        .args(["--api-url", api_url])
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bamfctl starts");
    let pid = child.id();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(BAMFCTL_TIMEOUT) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("bamfctl {args:?} did not finish in {BAMFCTL_TIMEOUT:?}");
        }
    }
}

fn stdout_of(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// `ssh-keygen` an ed25519 key without passphrase at `path`.
fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success());
}

/// `bamfctl ssh demo -- <ssh options> <command>` with exactly `key`, checking
/// the host key against the stack's known_hosts; ssh's own config and the
/// developer's real known_hosts stay out of it.
fn ssh_demo(
    programs: &Path,
    home: &Path,
    api_url: &str,
    state: &Path,
    key: &Path,
    command: &[&str],
) -> Output {
    let known = format!(
        "UserKnownHostsFile={}",
        state.join("ssh/known_hosts").display()
    );
    let mut args = vec![
        "ssh",
        "demo",
        "--",
        "-F",
        "none",
        "-i",
        key.to_str().unwrap(),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        &known,
    ];
    args.extend_from_slice(command);
    bamfctl(programs, home, api_url, &args, Stdio::null())
}

fn login(programs: &Path, home: &Path, api_url: &str, state: &Path) {
    let password = std::fs::File::open(state.join("admin-password")).unwrap();
    let login = bamfctl(
        programs,
        home,
        api_url,
        &["login", "--email", "admin@bamf.local", "--password-stdin"],
        Stdio::from(password),
    );
    let out = stdout_of(&login, "login with the admin password file");
    assert!(out.starts_with("Logged in as admin@bamf.local"), "{out}");
}

/// The demo resources `bamfctl resources --json` lists, with their agent.
fn listed_demo_resources(programs: &Path, home: &Path, api_url: &str) -> Vec<(String, String)> {
    let out = bamfctl(
        programs,
        home,
        api_url,
        &["resources", "--json"],
        Stdio::null(),
    );
    let list: serde_json::Value = serde_json::from_str(&stdout_of(&out, "resources")).unwrap();
    let mut found: Vec<(String, String)> = list
        .as_array()
        .expect("a JSON array")
        .iter()
        .filter(|r| r["name"].as_str().is_some_and(|n| n.starts_with("demo")))
        .map(|r| {
            (
                format!(
                    "{}:{}",
                    r["name"].as_str().unwrap(),
                    r["type"].as_str().unwrap()
                ),
                r["agent_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

fn psql_demo(programs: &Path, home: &Path, api_url: &str, args: &[&str]) -> String {
    let mut all = vec!["psql", "demo-db", "-X", "-tA"];
    all.extend_from_slice(args);
    let out = bamfctl(programs, home, api_url, &all, Stdio::null());
    stdout_of(&out, "bamfctl psql demo-db")
}

#[test]
fn runs_the_whole_stack_with_demo_targets_and_stops_on_sigterm() {
    let programs = programs();
    let state = tempfile::tempdir().unwrap();
    // When we are root, PostgreSQL runs as the postgres account, which must
    // be able to reach its cluster folders inside the state dir.
    std::fs::set_permissions(state.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // The developer's home: a key in ~/.ssh that the demo sshd must accept.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".ssh")).unwrap();
    let my_key = home.path().join(".ssh/id_ed25519");
    keygen(&my_key);
    let bamf_home = tempfile::tempdir().unwrap();
    let [nats_port, monitor_port, api_port] = free_ports();
    let with_programs = |command: &mut Command| {
        command
            .arg("--api-bin")
            .arg(programs.join("bamf-api"))
            .arg("--bridge-bin")
            .arg(programs.join("bamf-bridge"))
            .arg("--agent-bin")
            .arg(programs.join("bamf-agent"))
            .env("HOME", home.path())
            // The stack's own cluster, not a shared server: the API's read
            // models must match this run's JetStream store.
            .env_remove("DATABASE_URL");
    };
    let mut command = devstack(state.path());
    with_programs(&mut command);
    command
        .args(["--nats-port", &nats_port.to_string()])
        .args(["--nats-monitor-port", &monitor_port.to_string()])
        .args(["--api-port", &api_port.to_string()]);
    let stack = Stack::start(command);

    // What it printed: where the API is, how to log in, what to try.
    let api_url = stack.api_url();
    assert_eq!(api_url, format!("http://127.0.0.1:{api_port}"));
    for text in [
        "login --email admin@bamf.local --password-stdin",
        "bamfctl ssh demo -- uname -a    # with your key(s) from ~/.ssh (1 accepted)",
        "bamfctl psql demo-db -c 'select 1'",
    ] {
        assert!(stack.printed(text), "{text:?} in {:#?}", stack.seen);
    }
    for secret in ["admin-password", "bridge-bootstrap-token"] {
        let mode = std::fs::metadata(state.path().join(secret))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{secret} is private");
    }
    let components = [
        "postgres",
        "nats",
        "api",
        "demo-sshd",
        "demo-pg",
        "bridge",
        "agent",
    ];
    for name in components {
        let pid = stack
            .pids
            .get(name)
            .unwrap_or_else(|| panic!("a summary row with the pid of {name}: {:#?}", stack.seen));
        assert!(process_alive(*pid), "{name} (pid {pid}) runs");
    }
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

    // bamfctl, as a developer would use it after reading the summary.
    login(&programs, bamf_home.path(), &api_url, state.path());
    let agent_id = std::fs::read_to_string(state.path().join("agent/agent_id")).unwrap();
    let agent_id = agent_id.trim().to_string();
    assert_eq!(
        listed_demo_resources(&programs, bamf_home.path(), &api_url),
        [
            ("demo-db:postgres".to_string(), agent_id.clone()),
            ("demo:ssh".to_string(), agent_id.clone()),
        ],
        "both demo targets online, offered by the stack's agent"
    );

    let uname = Command::new("uname").arg("-a").output().unwrap();
    let uname = String::from_utf8(uname.stdout).unwrap();
    for (whose, key) in [
        ("the developer's key from ~/.ssh", my_key.clone()),
        ("the stack's key", state.path().join("ssh/id_ed25519")),
    ] {
        let out = ssh_demo(
            &programs,
            bamf_home.path(),
            &api_url,
            state.path(),
            &key,
            &["uname", "-a"],
        );
        assert_eq!(
            stdout_of(&out, whose),
            uname,
            "`bamfctl ssh demo -- uname -a` with {whose} runs uname on this machine"
        );
    }
    // A key the stack never saw is refused: the keys above got in on merit.
    let stranger = bamf_home.path().join("stranger");
    keygen(&stranger);
    let refused = ssh_demo(
        &programs,
        bamf_home.path(),
        &api_url,
        state.path(),
        &stranger,
        &["true"],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // psql with no user or database given: the role and database of this account.
    assert_eq!(
        psql_demo(
            &programs,
            bamf_home.path(),
            &api_url,
            &["-c", "select 40+2"]
        ),
        "42\n"
    );
    assert_eq!(
        psql_demo(
            &programs,
            bamf_home.path(),
            &api_url,
            &["-d", "demo", "-c", "select current_database()"]
        ),
        "demo\n"
    );

    let pids = stack.pids.clone();
    let rest = stack.stop();
    let stops: Vec<&str> = rest
        .iter()
        .filter_map(|l| l.strip_prefix("  stopping "))
        .map(|l| l.split(" (pid").next().unwrap())
        .collect();
    assert_eq!(
        stops,
        [
            "bamf-agent",
            "bamf-bridge",
            "demo sshd",
            "the demo PostgreSQL",
            "bamf-api",
            "nats-server",
            "PostgreSQL"
        ],
        "stopped in reverse start order"
    );
    for name in components {
        let pid = pids[name];
        assert!(gone_soon(pid), "{name} (pid {pid}) still running");
    }
    for (program, log) in [
        ("bamf-api", "api"),
        ("bamf-bridge", "bridge"),
        ("bamf-agent", "agent"),
    ] {
        let text = std::fs::read_to_string(state.path().join(format!("logs/{log}.log"))).unwrap();
        assert!(text.contains(&format!("{program} stopped")), "{text}");
    }

    // A second run resumes: the agent loads its identity (no join token
    // this time) and the tunnel works again.
    let mut command = devstack(state.path());
    with_programs(&mut command);
    let again = Stack::start(command);
    let api_url = again.api_url();
    let agent_log = std::fs::read_to_string(state.path().join("logs/agent.log")).unwrap();
    assert_eq!(agent_log.matches("joined").count(), 1, "{agent_log}");
    assert_eq!(
        agent_log.matches("identity loaded").count(),
        1,
        "{agent_log}"
    );
    login(&programs, bamf_home.path(), &api_url, state.path());
    assert_eq!(
        psql_demo(
            &programs,
            bamf_home.path(),
            &api_url,
            &["-c", "select 40+2"]
        ),
        "42\n"
    );
    again.stop();
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

/// README command 1, exactly as the README states it, in a clean copy of
/// the checkout (every tracked and unignored file, no `.stack/`, no
/// `.tools/`): it builds the programs, installs nats-server, starts the
/// whole stack, and the ssh command it prints reaches the demo sshd
/// (`bamfctl ssh demo -- … uname -a`). The copy lives at a fixed path under
/// the system's temporary folder so repeated runs build incrementally; the
/// cargo target dir is this build's.
#[test]
fn readme_command_one_on_a_clean_copy_ends_with_ssh_to_demo() {
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let command = readme
        .lines()
        .find_map(|l| l.strip_prefix("| 1 | `"))
        .and_then(|rest| rest.split_once('`'))
        .map(|(command, _)| command.to_string())
        .expect("README's table of two commands has row 1");
    assert_eq!(command, "tools/stack", "the command this test runs");

    let copy = std::env::temp_dir().join("bamf-readme-clean-copy");
    if copy.exists() {
        std::fs::remove_dir_all(&copy).unwrap();
    }
    let listed = Command::new("git")
        .current_dir(&root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .expect("git runs");
    assert!(listed.status.success());
    let mut copied = 0;
    for path in listed.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        let path = std::str::from_utf8(path).unwrap();
        let from = root.join(path);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let to = copy.join(path);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap(); // keeps the mode (tools/* stay executable)
                                            // And the time of change, so cargo's fingerprints of the copy stay
                                            // fresh from one run to the next: only what changed is rebuilt.
        let modified = std::fs::metadata(&from).unwrap().modified().unwrap();
        std::fs::File::options()
            .write(true)
            .open(&to)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        copied += 1;
    }
    assert!(copied > 100, "copied {copied} files");
    assert!(!copy.join(".stack").exists() && !copy.join(".tools").exists());
    // PostgreSQL runs as the postgres account when we are root: it must
    // reach the cluster under the copy's .stack/.
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();

    let home = tempfile::tempdir().unwrap();
    let bamf_home = tempfile::tempdir().unwrap();
    let mut shell = Command::new("bash");
    shell
        .current_dir(&copy)
        .arg("-c")
        .arg(format!("exec {command}"))
        .env("HOME", home.path())
        .env_remove("BAMF_API_URL")
        .env_remove("BAMF_NATS_SERVER")
        // A fresh machine: the stack makes its own PostgreSQL cluster.
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null());
    let stack = Stack::start_within(shell, Duration::from_secs(1500));
    let api_url = stack.api_url();
    let state = copy.join(".stack");
    assert!(
        copy.join(".tools").exists(),
        "nats-server was installed into the copy"
    );
    let ssh_hint = "bamfctl ssh demo -- -i .stack/ssh/id_ed25519";
    assert!(stack.printed(ssh_hint), "{ssh_hint:?} in {:#?}", stack.seen);

    let programs = programs();
    login(&programs, bamf_home.path(), &api_url, &state);
    let ssh = ssh_demo(
        &programs,
        bamf_home.path(),
        &api_url,
        &state,
        &state.join("ssh/id_ed25519"),
        &["uname", "-a"],
    );
    let local = Command::new("uname").arg("-a").output().unwrap();
    assert_eq!(
        stdout_of(&ssh, "bamfctl ssh demo -- uname -a"),
        String::from_utf8(local.stdout).unwrap()
    );
    stack.stop();
    std::fs::remove_dir_all(&copy).unwrap();
}

//! Schemathesis (property-based API testing from the OpenAPI document) against
//! a real bamf-api on real NATS and PostgreSQL, logged in as the first admin.
//!
//! It fails on any finding: a 5xx, a status the document does not declare, a
//! body, content type or header that does not match it, a schema-violating
//! request accepted, auth ignored, an undocumented method not answered 405.
//! Schemathesis is installed on demand, pinned with its dependencies, into
//! the git-ignored `.tools/` folder (like nats-server); when that is
//! impossible the test fails and says why.
//!
//! Three runs, each with an admin token of its own: every operation but
//! those that can end the caller's access; then revoke-all and unbind (which
//! may, given the admin's e-mail that answers show, revoke the token or its
//! admin role); then logout, which revokes the token it is called with. In
//! one run they would turn the rest of it into 401s and 403s.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Backends, Client};

/// The one pin of schemathesis's version.
const SCHEMATHESIS_VERSION: &str = "4.32.5";
/// Its dependencies as resolved for that version (pip constraints), so a new
/// release of one of them can't change the test under us.
const CONSTRAINTS: &str = "\
anyio==4.16.0
certifi==2026.10.18
charset-normalizer==3.5.2
click==8.5.1
graphql-core==3.3.2
harfile==0.6.0
hypothesis==6.170.15
hypothesis-graphql==0.13.5
idna==3.20
iniconfig==2.3.1
jsonschema_rs==0.60.3
markdown-it-py==4.3.0
MarkupSafe==3.0.4
mdurl==0.1.2
packaging==26.3
pluggy==1.7.0
Pygments==2.21.0
pyrate-limiter==4.5.1
pytest==9.2.0
PyYAML==6.0.3
requests==2.34.2
rich==15.0.0
sortedcontainers==2.4.0
typing_extensions==4.16.0
urllib3==2.8.0
Werkzeug==3.1.9
";
/// Every check but `positive_data_acceptance`, which expects any
/// schema-valid body to be accepted, while many rules (e-mail and label
/// syntax, existing roles, TTL bounds) are the domain's and answered 400.
const EXCLUDED_CHECKS: &str = "positive_data_acceptance";
/// Test cases per operation and phase.
const MAX_EXAMPLES: &str = "50";
/// Fixed, so a finding reproduces.
const SEED: &str = "20240601";
/// Bound on all runs together; the test fails past it.
const BUDGET: Duration = Duration::from_secs(150);

/// The runs: the arguments that pick each one's operations. The narrow runs
/// skip the stateful phase: no link leads to their operations.
/// `watch_tunnel_sessions` and `stream_audit` are in none: they answer an
/// endless event stream, which schemathesis reads to the end (each case would
/// hang until its request timeout); tests/tests/sessions_watch.rs and
/// tests/tests/audit_search.rs cover them, and tests/openapi.rs checks they
/// are routed.
const RUNS: &[&[&str]] = &[
    &[
        "--exclude-operation-id",
        "watch_tunnel_sessions",
        "--exclude-operation-id",
        "stream_audit",
        "--exclude-operation-id",
        "logout",
        "--exclude-operation-id",
        "revoke_logins",
        "--exclude-operation-id",
        "unbind_role",
    ],
    &[
        "--include-operation-id",
        "revoke_logins",
        "--include-operation-id",
        "unbind_role",
        "--phases",
        "examples,coverage,fuzzing",
    ],
    &[
        "--include-operation-id",
        "logout",
        "--phases",
        "examples,coverage,fuzzing",
    ],
];

/// Installs the pinned schemathesis into `<root>/.tools/schemathesis-<v>/`
/// (`pip install --target`, so the folder can be moved into place whole)
/// and answers that folder, to be put on `PYTHONPATH`.
fn install_schemathesis() -> Result<PathBuf, String> {
    let tools = bamf_testkit::repo_root().join(".tools");
    let dir = tools.join(format!("schemathesis-{SCHEMATHESIS_VERSION}"));
    if installed_version(&dir).as_deref() == Some(SCHEMATHESIS_VERSION) {
        return Ok(dir);
    }
    eprintln!(
        "installing schemathesis {SCHEMATHESIS_VERSION} into {} (from PyPI)",
        dir.display()
    );
    let pip = std::process::Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output();
    if !pip.is_ok_and(|o| o.status.success()) {
        return Err("python3 with pip is needed to install schemathesis".into());
    }
    // A folder per process, renamed into place, so concurrent installs
    // can't mix.
    let partial = tools.join(format!(
        "schemathesis-{SCHEMATHESIS_VERSION}.partial-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(|e| format!("cannot create {partial:?}: {e}"))?;
    let constraints = partial.join("constraints.txt");
    std::fs::write(&constraints, CONSTRAINTS)
        .map_err(|e| format!("cannot write {constraints:?}: {e}"))?;
    let status = std::process::Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg("--constraint")
        .arg(&constraints)
        .arg("--target")
        .arg(&partial)
        .arg(format!("schemathesis=={SCHEMATHESIS_VERSION}"))
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("cannot run python3 -m pip: {e}"))?;
    if !status.success() {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(format!(
            "pip install schemathesis=={SCHEMATHESIS_VERSION} failed ({status}); \
             is PyPI reachable?"
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::rename(&partial, &dir).is_err() {
        // Another process moved its install into place first.
        let _ = std::fs::remove_dir_all(&partial);
    }
    match installed_version(&dir) {
        Some(v) if v == SCHEMATHESIS_VERSION => Ok(dir),
        other => Err(format!(
            "schemathesis in {} answers version {other:?}, not {SCHEMATHESIS_VERSION}",
            dir.display()
        )),
    }
}

/// `st --version` of the install in `dir`, if it runs ("st, version 4.32.5").
fn installed_version(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("python3")
        .args(["-m", "schemathesis.cli", "--version"])
        .env("PYTHONPATH", dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let version = text.trim().rsplit(' ').next()?;
    out.status.success().then(|| version.to_string())
}

/// Runs `st run` with `args` against the API at `addr` until `deadline`;
/// answers whether it found nothing, and its output.
async fn schemathesis(
    install: &Path,
    addr: std::net::SocketAddr,
    token: &str,
    args: &[&str],
    deadline: Instant,
) -> (bool, String) {
    let reports = tempfile::tempdir().expect("temp dir");
    let mut command = tokio::process::Command::new("python3");
    command
        .args(["-m", "schemathesis.cli", "run"])
        .arg(format!("http://{addr}/api/v1/openapi.json"))
        .args(["--checks", "all", "--exclude-checks", EXCLUDED_CHECKS])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", SEED])
        .args(["--generation-database", "none"])
        // One worker: runs reproduce from the seed, and Python 3.11's ast
        // module fails under schemathesis's threads ("AST constructor
        // recursion depth mismatch").
        .args(["--workers", "1"])
        .args(["--request-timeout", "10"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .arg("--no-color")
        .args(["--output-truncate", "false"])
        .arg("--report-dir")
        .arg(reports.path())
        .args(args)
        .env("PYTHONPATH", install)
        .current_dir(reports.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().expect("python3 runs schemathesis");
    let left = deadline.saturating_duration_since(Instant::now());
    let out = tokio::time::timeout(left, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis ran past the test's budget of {BUDGET:?}"))
        .expect("schemathesis output is read");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A fresh admin token.
async fn login(anon: &Client) -> String {
    anon.admin()
        .await
        .token
        .expect("a logged-in client holds its token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing() {
    let install = tokio::task::spawn_blocking(install_schemathesis)
        .await
        .expect("installer runs")
        .unwrap_or_else(|e| panic!("schemathesis is required for this test: {e}"));
    let backends = Backends::start().await;
    let api = backends.replica().await;
    let anon = api.client();
    // Every token up front: failed logins during a run throttle this source.
    let mut tokens = Vec::new();
    for _ in RUNS {
        tokens.push(login(&anon).await);
    }
    let deadline = Instant::now() + BUDGET;
    for (args, token) in RUNS.iter().zip(&tokens) {
        let started = Instant::now();
        let (ok, output) = schemathesis(&install, api.addr, token, args, deadline).await;
        println!("{output}");
        println!(
            "schemathesis {} took {:?}",
            args.join(" "),
            started.elapsed()
        );
        assert!(ok, "schemathesis found problems (output above)");
    }
    api.stop().await;
}

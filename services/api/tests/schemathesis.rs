//! Schemathesis (property-based API testing from the OpenAPI document) against
//! a real bamf-api on real NATS and PostgreSQL, logged in as the first admin.
//!
//! It fails on any finding: a 5xx, a status the document does not declare, a
//! body, content type or header that does not match it. Schemathesis is
//! installed on demand, pinned, into the git-ignored `.tools/` folder (like
//! nats-server); when that is impossible the test fails and says why.
//!
//! Two runs: every operation but logout with one admin token, then logout
//! alone with a token of its own — logout revokes the token it is called
//! with, which would turn the rest of the first run into 401s.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Backends, Client};

/// The one pin of schemathesis's version.
const SCHEMATHESIS_VERSION: &str = "4.32.5";
/// Checks run on every answer (`--checks all` adds checks of behaviour the
/// document does not describe, such as whether negative data is always refused).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance,negative_data_rejection,\
unsupported_method,missing_required_header,ignored_auth";
/// Test cases per operation and phase.
const MAX_EXAMPLES: &str = "25";
/// Fixed, so a finding reproduces.
const SEED: &str = "20240601";
/// Bound on one schemathesis run; the test fails past it.
const RUN_TIMEOUT: Duration = Duration::from_secs(150);

/// Installs the pinned schemathesis into `<root>/.tools/schemathesis-<v>/`
/// (`pip install --target`, so the folder can be moved into place whole)
/// and answers that folder, to be put on `PYTHONPATH`.
fn install_schemathesis() -> Result<PathBuf, String> {
    let root = bamf_testkit::repo_root();
    let dir = root
        .join(".tools")
        .join(format!("schemathesis-{SCHEMATHESIS_VERSION}"));
    if installed_version(&dir).as_deref() == Some(SCHEMATHESIS_VERSION) {
        return Ok(dir);
    }
    eprintln!(
        "installing schemathesis {SCHEMATHESIS_VERSION} into {}",
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
    let partial = root.join(".tools").join(format!(
        "schemathesis-{SCHEMATHESIS_VERSION}.partial-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&partial);
    let out = std::process::Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(&partial)
        .arg(format!("schemathesis=={SCHEMATHESIS_VERSION}"))
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run python3 -m pip: {e}"))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(format!(
            "pip install schemathesis=={SCHEMATHESIS_VERSION} failed ({})",
            out.status
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

/// `st --version` of the install in `dir`, if it runs.
fn installed_version(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("python3")
        .args(["-m", "schemathesis.cli", "--version"])
        .env("PYTHONPATH", dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    // "st, version 4.32.5"
    out.status
        .success()
        .then(|| text.trim().rsplit(' ').next().map(str::to_string))
        .flatten()
}

/// Runs `st run` with `args` against the API at `addr`; answers its exit
/// status and combined output.
async fn schemathesis(
    install: &Path,
    addr: std::net::SocketAddr,
    token: &str,
    args: &[&str],
) -> (bool, String) {
    let reports = tempfile::tempdir().expect("temp dir");
    let mut command = tokio::process::Command::new("python3");
    command
        .args(["-m", "schemathesis.cli", "run"])
        .arg(format!("http://{addr}/api/v1/openapi.json"))
        .args(["--checks", CHECKS])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", SEED])
        .args(["--generation-database", "none"])
        .args(["--workers", "2"])
        .args(["--request-timeout", "10"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .arg("--no-color")
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
    let out = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis ran longer than {RUN_TIMEOUT:?}"))
        .expect("schemathesis output is read");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

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

    let started = Instant::now();
    let token = login(&anon).await;
    let (ok, output) = schemathesis(
        &install,
        api.addr,
        &token,
        &["--exclude-operation-id", "logout"],
    )
    .await;
    println!("{output}");
    assert!(ok, "schemathesis found problems (output above)");
    println!("all operations but logout: {:?}", started.elapsed());

    let started = Instant::now();
    let token = login(&anon).await;
    let (ok, output) = schemathesis(
        &install,
        api.addr,
        &token,
        &["--include-operation-id", "logout"],
    )
    .await;
    println!("{output}");
    assert!(ok, "schemathesis found problems with logout (output above)");
    println!("logout: {:?}", started.elapsed());
    api.stop().await;
}

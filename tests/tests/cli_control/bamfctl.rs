//! The real bamfctl binary, found next to this test and built first when it is
//! missing or older than its sources, and a runner that gives each identity
//! its own bamf home.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::io::AsyncWriteExt;

/// Longest one bamfctl run may take; its own request timeout is 30 s.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// target/<profile>/bamfctl of this build, built at most once per process.
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        // This test runs as target/<profile>/deps/cli_control-<hash>.
        let exe = std::env::current_exe().expect("the test knows its own path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("a test executable lives in target/<profile>/deps");
        let binary = profile_dir.join(format!("bamfctl{}", std::env::consts::EXE_SUFFIX));
        let newest_source = newest_source_mtime();
        // Modification times only spare the cargo run when the binary is
        // plainly fresh; when in doubt cargo decides (and may find nothing
        // to do: a Cargo.lock change elsewhere leaves bamfctl as it is).
        if modified(&binary).is_none_or(|built| built < newest_source) {
            build(profile_dir);
            assert!(
                binary.is_file(),
                "cargo built bamfctl, but not at {} (another CARGO_TARGET_DIR?)",
                binary.display()
            );
        }
        binary
    })
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time among the files of bamfctl, of the workspace
/// crates it depends on (from `cargo metadata`), and of the workspace manifest
/// and lock file.
fn newest_source_mtime() -> SystemTime {
    let root = bamf_testkit::repo_root();
    let out = bamf_testkit::cargo::command()
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(&root)
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata failed");
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let packages = meta["packages"]
        .as_array()
        .expect("metadata lists packages");
    let dir_of = |p: &Value| {
        Path::new(
            p["manifest_path"]
                .as_str()
                .expect("packages have a manifest"),
        )
        .parent()
        .expect("a manifest is in a folder")
        .to_path_buf()
    };
    // bamfctl and, transitively, every path dependency it has.
    let mut dirs = Vec::new();
    let mut todo: Vec<PathBuf> = packages
        .iter()
        .filter(|p| p["name"] == "bamfctl")
        .map(dir_of)
        .collect();
    assert_eq!(todo.len(), 1, "the workspace has one bamfctl package");
    while let Some(dir) = todo.pop() {
        if dirs.contains(&dir) {
            continue;
        }
        let package = packages
            .iter()
            .find(|p| dir_of(p) == dir)
            .expect("a path dependency is a workspace package");
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            // Dev-dependencies do not go into the binary.
            if let (Some(path), false) = (dep["path"].as_str(), dep["kind"] == "dev") {
                todo.push(PathBuf::from(path));
            }
        }
        dirs.push(dir);
    }
    let mut newest = SystemTime::UNIX_EPOCH;
    for file in [root.join("Cargo.toml"), root.join("Cargo.lock")] {
        newest = newest.max(modified(&file).expect("workspace manifest and lock exist"));
    }
    for dir in dirs {
        newest = newest.max(newest_in(&dir));
    }
    newest
}

fn newest_in(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            newest = newest.max(newest_in(&path));
        } else if let Some(t) = modified(&path) {
            newest = newest.max(t);
        }
    }
    newest
}

/// `cargo build -p bamfctl` in the profile this test was built with. cargo
/// builds another package's binary only on request; when the workspace test
/// build (tools/test) or `cargo test -p bamfctl` ran first, the binary is
/// already fresh and this is never called.
fn build(profile_dir: &Path) {
    let mut cargo = bamf_testkit::cargo::command();
    cargo.args(["build", "--quiet", "-p", "bamfctl", "--bin", "bamfctl"]);
    match profile_dir.file_name().and_then(OsStr::to_str) {
        Some("debug") => {}
        Some("release") => {
            cargo.arg("--release");
        }
        Some(other) => {
            cargo.args(["--profile", other]);
        }
        None => panic!("no profile folder in {}", profile_dir.display()),
    }
    let status = cargo
        .current_dir(bamf_testkit::repo_root())
        .stdout(Stdio::null())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build -p bamfctl failed");
}

/// One identity: bamfctl with its own bamf home, pointed at one API URL.
pub struct Bamfctl {
    home: tempfile::TempDir,
    api_url: String,
}

/// What one run printed, and how it ended.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Bamfctl {
    pub fn new(api_url: &str) -> Bamfctl {
        Bamfctl {
            home: tempfile::Builder::new()
                .prefix("bamfctl-home-")
                .tempdir()
                .expect("temp dir"),
            api_url: api_url.to_string(),
        }
    }

    /// `$BAMF_HOME/credentials.json`.
    pub fn credentials(&self) -> PathBuf {
        self.home.path().join("credentials.json")
    }

    /// Runs `bamfctl --api-url <url> <args>` with nothing on stdin.
    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "").await
    }

    /// Runs with `input` on stdin (passwords, role documents).
    pub async fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        let mut child = tokio::process::Command::new(binary())
            .env("BAMF_HOME", self.home.path())
            .env_remove("BAMF_API_URL")
            .arg("--api-url")
            .arg(&self.api_url)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("bamfctl starts");
        let mut stdin = child.stdin.take().expect("stdin is piped");
        // bamfctl may exit without reading stdin; a closed pipe is fine.
        let _ = stdin.write_all(input.as_bytes()).await;
        drop(stdin);
        let out = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("bamfctl {args:?} did not finish in {RUN_TIMEOUT:?}"))
            .expect("bamfctl output is read");
        Run {
            args: args.iter().map(|a| a.to_string()).collect(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `login --password-stdin`, which must succeed.
    pub async fn login(&self, email: &str, password: &str) -> Run {
        self.run_with_stdin(
            &["login", "--email", email, "--password-stdin"],
            &format!("{password}\n"),
        )
        .await
        .ok()
    }
}

impl Run {
    /// Asserts exit 0 with nothing on stderr.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert!(
            self.code == Some(0) && self.stderr.is_empty(),
            "bamfctl {:?} failed: {self:#?}",
            self.args
        );
        self
    }

    /// Asserts exit 1 with one `error: ` line on stderr and nothing on stdout;
    /// answers that line without the prefix.
    #[track_caller]
    pub fn error(self) -> String {
        assert_eq!(self.code, Some(1), "bamfctl {:?}: {self:#?}", self.args);
        assert!(self.stdout.is_empty(), "{self:#?}");
        let line = self
            .stderr
            .strip_prefix("error: ")
            .and_then(|l| l.strip_suffix('\n'))
            .unwrap_or_else(|| panic!("not one error line: {self:#?}"));
        assert!(!line.contains('\n'), "not one error line: {self:#?}");
        line.to_string()
    }

    /// stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("bamfctl {:?} printed no JSON ({e}): {self:#?}", self.args))
    }

    /// stdout as a table: one row per line, cells split on runs of two or
    /// more spaces (the column gap), the header first.
    pub fn table(&self) -> Vec<Vec<String>> {
        self.stdout
            .lines()
            .map(|line| {
                line.split("  ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .collect()
    }
}

/// An error line ends with the status and the server's request id.
#[track_caller]
pub fn assert_api_error(line: &str, starts: &str, code: &str, status: u16) {
    assert!(line.starts_with(starts), "{line:?} should start {starts:?}");
    let tail = format!(" ({code}, HTTP {status}, request id ");
    let at = line
        .find(&tail)
        .unwrap_or_else(|| panic!("{line:?} should end with {tail:?}…"));
    let id = line[at + tail.len()..]
        .strip_suffix(')')
        .unwrap_or_else(|| panic!("{line:?}"));
    assert!(!id.is_empty() && id != "none", "no request id in {line:?}");
}

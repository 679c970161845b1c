//! The four programs as the deployment files use them: whether a command line
//! is one a program accepts, which environment variables it reads, and its
//! config loaded exactly as it would load it.
//!
//! - bamfctl's command tree is a library type: a command line is parsed with
//!   it in-process.
//! - bamf-api, bamf-bridge and bamf-agent keep their command line in main.rs:
//!   the built binary is run with the arguments and `--help` added; clap
//!   rejects an unknown subcommand, flag or flag value before it gets to
//!   `--help` (exit 2), and prints the help (exit 0) otherwise. The binaries
//!   come from the same `cargo test --no-run --workspace` build `tools/test`
//!   makes, so there this is only a freshness check.
//! - Config: the program's own loader (`ApiConfig::load`, …) with the
//!   environment the deployment gives it, so unknown keys (every config is
//!   `deny_unknown_fields`), unparsable values and failed validation show up
//!   as the program would report them.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use clap::{Args, Parser};

/// The programs in the image.
pub const PROGRAMS: [&str; 4] = ["bamf-api", "bamf-bridge", "bamf-agent", "bamfctl"];

/// A program's config, loaded.
#[derive(Debug)]
pub enum Loaded {
    Api(Box<bamf_api::ApiConfig>),
    Bridge(Box<bamf_bridge::BridgeConfig>),
    Agent(Box<bamf_agent::AgentConfig>),
}

/// The prefix of a program's config variables (`BAMF_API_LISTEN` → `listen`).
pub fn env_prefix(program: &str) -> Option<&'static str> {
    match program {
        "bamf-api" => Some(bamf_api::config::ENV_PREFIX),
        "bamf-bridge" => Some(bamf_bridge::config::ENV_PREFIX),
        "bamf-agent" => Some(bamf_agent::config::ENV_PREFIX),
        _ => None,
    }
}

/// Whether `program` accepts `args` (without the program name).
pub fn accepts(program: &str, args: &[String]) -> Result<(), String> {
    assert!(
        PROGRAMS.contains(&program),
        "{program} is not a bamf program"
    );
    if program == "bamfctl" {
        let argv = std::iter::once("bamfctl".to_string()).chain(args.iter().cloned());
        return bamfctl::Cli::try_parse_from(argv)
            .map(drop)
            .map_err(|e| e.to_string());
    }
    let out = run_binary(program, args.iter().map(String::as_str).chain(["--help"]));
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {} --help: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// For `bamfctl ssh …`: what it passes on to ssh after the host, as parsed
/// (ssh runs those words on the target).
pub fn ssh_remote_command(args: &[String]) -> Option<Vec<String>> {
    let argv = std::iter::once("bamfctl".to_string()).chain(args.iter().cloned());
    match bamfctl::Cli::try_parse_from(argv).ok()?.command {
        bamfctl::cli::Command::Ssh(ssh) => Some(ssh.args),
        _ => None,
    }
}

/// The environment variables a program's command line reads (clap's `env`).
pub fn clap_env_names(program: &str) -> BTreeSet<String> {
    if program == "bamfctl" {
        let mut names = BTreeSet::new();
        collect_env(
            &<bamfctl::Cli as clap::CommandFactory>::command(),
            &mut names,
        );
        return names;
    }
    // The help lists them as `[env: NAME=…]`.
    let out = run_binary(program, ["--help"]);
    assert!(out.status.success(), "{program} --help failed");
    let help = String::from_utf8_lossy(&out.stdout);
    help.split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split(['=', ']']).next())
        .map(String::from)
        .collect()
}

fn collect_env(command: &clap::Command, names: &mut BTreeSet<String>) {
    for arg in command.get_arguments() {
        if let Some(env) = arg.get_env() {
            names.insert(env.to_string_lossy().into_owned());
        }
    }
    for sub in command.get_subcommands() {
        collect_env(sub, names);
    }
}

/// Serialises everything that changes this process's environment.
static ENV: Mutex<()> = Mutex::new(());

/// Loads and validates `program`'s config from `env` (and the `--config`
/// file, when given) with the program's own loader. Fails when a `BAMF_*`
/// variable is one the program does not read: it would be ignored silently.
pub fn load(
    program: &str,
    env: &BTreeMap<String, String>,
    config_file: Option<&Path>,
) -> Result<Loaded, String> {
    let prefix = env_prefix(program).unwrap_or_else(|| panic!("{program} has no config"));
    let clap_names = clap_env_names(program);
    for name in env.keys().filter(|n| n.starts_with("BAMF_")) {
        if !name.starts_with(prefix) && !clap_names.contains(name) {
            return Err(format!(
                "{name} is not read by {program} (its keys are {prefix}*, its flags read {clap_names:?})"
            ));
        }
    }
    let _env = ENV.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // Only what the deployment sets: none of this process's own BAMF_* values.
    let saved: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with(prefix) || clap_names.contains(k))
        .collect();
    for (k, _) in &saved {
        std::env::remove_var(k);
    }
    for (k, v) in env {
        std::env::set_var(k, v);
    }
    let outcome = (|| {
        // The shared flags' values (BAMF_LOG_FORMAT): parsed as main would.
        let common = bamf_runtime::cli::CommonArgs::augment_args(clap::Command::new("bamf"));
        common
            .try_get_matches_from(["bamf"])
            .map_err(|e| format!("{program}'s command line rejects its environment: {e}"))?;
        let invalid = |e: bamf_runtime::config::ConfigError| format!("{program}: {e}");
        Ok(match program {
            "bamf-api" => Loaded::Api(Box::new(
                bamf_api::ApiConfig::load(config_file).map_err(invalid)?,
            )),
            "bamf-bridge" => Loaded::Bridge(Box::new(
                bamf_bridge::BridgeConfig::load(config_file).map_err(invalid)?,
            )),
            _ => Loaded::Agent(Box::new(
                bamf_agent::AgentConfig::load(config_file).map_err(invalid)?,
            )),
        })
    })();
    for k in env.keys() {
        std::env::remove_var(k);
    }
    for (k, v) in saved {
        std::env::set_var(k, v);
    }
    outcome
}

/// Runs a built program with only `PATH` in its environment.
fn run_binary<'a>(program: &str, args: impl IntoIterator<Item = &'a str>) -> std::process::Output {
    Command::new(binary(program))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

/// target/<profile>/<program> of this build.
fn binary(program: &str) -> PathBuf {
    static PROFILE_DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = PROFILE_DIR.get_or_init(|| {
        // This test runs as target/<profile>/deps/deploy-<hash>.
        let exe = std::env::current_exe().expect("the test knows its own path");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("a test executable lives in target/<profile>/deps")
            .to_path_buf();
        build(&dir);
        dir
    });
    let path = dir.join(format!("{program}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "cargo built the workspace, but {} is missing (another CARGO_TARGET_DIR?)",
        path.display()
    );
    path
}

/// The workspace's binaries, with the command `tools/test` builds them with
/// (`cargo test --no-run --workspace`): the same features, so after its build
/// this only checks fingerprints. (`cargo build -p bamf-api` would resolve
/// other features and rebuild dependencies.)
fn build(profile_dir: &Path) {
    let mut cargo = bamf_testkit::cargo::command();
    cargo.args(["test", "--no-run", "--workspace", "--quiet"]);
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
    let status = cargo.stdout(Stdio::null()).status().expect("cargo runs");
    assert!(status.success(), "cargo test --no-run --workspace failed");
}

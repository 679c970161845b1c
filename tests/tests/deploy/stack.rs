//! What each service of deploy/compose.yaml runs, in which image, with which
//! configuration — resolved the way the container would: the service's
//! `command` (else the image's `CMD`), through `with-secrets.sh` to the
//! program it execs, bind-mounted scripts read from the repository.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use crate::compose::{Compose, Service};
use crate::image::Image;
use crate::programs::{self, Loaded};
use crate::shell;

/// The compose helper that turns secret files into variables.
pub const WITH_SECRETS: &str = "with-secrets.sh";

/// What a service runs.
#[derive(Debug)]
pub enum Runs {
    /// A bamf program; `secrets` are the (VAR, FILE) pairs given to
    /// with-secrets.sh in front of it.
    Program {
        program: String,
        args: Vec<String>,
        secrets: Vec<(String, String)>,
    },
    /// A script from the repository, run by a shell of the image.
    Script { path: PathBuf, text: String },
    /// Only the image's own programs (a third-party image, or a command of it).
    Image,
}

/// The image a service runs: built from one of our Dockerfiles, or a
/// third-party image the image module knows.
pub fn image_of(service: &Service) -> Image {
    if let Some(dockerfile) = service.dockerfile() {
        return Image::build(&dockerfile);
    }
    let name = service
        .image()
        .expect("a service names an image or a build");
    Image::known(name).unwrap_or_else(|| {
        panic!(
            "{}: image {name} is not one the deploy test knows the files of",
            service.name
        )
    })
}

/// The argv a service's container starts with, if we know it.
pub fn argv_of(service: &Service, image: &Image) -> Option<Vec<String>> {
    service.command().or_else(|| image.cmd.clone())
}

pub fn runs(service: &Service) -> Runs {
    let image = image_of(service);
    let Some(argv) = argv_of(service, &image) else {
        return Runs::Image;
    };
    let first = argv.first().expect("a command has a program");
    if programs::PROGRAMS.contains(&first.as_str()) {
        return Runs::Program {
            program: first.clone(),
            args: argv[1..].to_vec(),
            secrets: Vec::new(),
        };
    }
    let is_shell = matches!(first.as_str(), "sh" | "bash" | "/bin/sh" | "/bin/bash");
    match argv.get(1) {
        Some(script) if is_shell && script.starts_with('/') => {
            let path = service.host_file(script).unwrap_or_else(|| {
                panic!(
                    "{}: {script} is not bind-mounted from the repository",
                    service.name
                )
            });
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!("{}: cannot read {}: {e}", service.name, path.display())
            });
            if path.file_name().is_some_and(|n| n == WITH_SECRETS) {
                with_secrets(&service.name, &argv[2..])
            } else {
                Runs::Script { path, text }
            }
        }
        _ => Runs::Image,
    }
}

/// `VAR=FILE… -- PROGRAM ARGS…`
fn with_secrets(service: &str, rest: &[String]) -> Runs {
    let split = rest
        .iter()
        .position(|a| a == "--")
        .unwrap_or_else(|| panic!("{service}: {WITH_SECRETS} without `--`"));
    let secrets = rest[..split]
        .iter()
        .map(|pair| {
            let (var, file) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("{service}: {pair:?} is not VAR=FILE"));
            (var.to_string(), file.to_string())
        })
        .collect();
    let (program, args) = rest[split + 1..]
        .split_first()
        .unwrap_or_else(|| panic!("{service}: nothing after `--`"));
    Runs::Program {
        program: program.clone(),
        args: args.to_vec(),
        secrets,
    }
}

/// The secret files: made by running the `secrets` service's script into a
/// temporary folder (file → value), plus those `setup` moves into place
/// (with a stand-in value: it needs a running API to make them).
pub struct Secrets {
    pub values: BTreeMap<String, String>,
    pub made_by_setup: BTreeSet<String>,
    pub dir: tempfile::TempDir,
}

pub fn secrets(compose: &Compose) -> Secrets {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let script = compose.dir.join("compose/secrets.sh");
    let out = Command::new("sh")
        .arg(&script)
        .env("BAMF_SECRETS_DIR", dir.path())
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut values = BTreeMap::new();
    for entry in std::fs::read_dir(dir.path()).expect("the folder lists") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).expect("a secret reads");
        values.insert(name, text.trim_end_matches('\n').to_string());
    }
    // setup.sh: the destinations of its `mv … "$dir/NAME"`.
    let setup = std::fs::read_to_string(compose.dir.join("compose/setup.sh")).expect("setup.sh");
    let made_by_setup: BTreeSet<String> = shell::commands(&setup)
        .iter()
        .filter_map(|c| shell::invocation(c))
        .filter(|(program, _)| program == "mv")
        .filter_map(|(_, args)| args.last()?.strip_prefix("$dir/").map(String::from))
        .collect();
    for name in &made_by_setup {
        values.insert(name.clone(), format!("stand-in-for-{name}-made-by-setup"));
    }
    Secrets {
        values,
        made_by_setup,
        dir,
    }
}

/// The environment a service's program gets: `environment:` plus its secrets.
pub fn program_env(
    service: &Service,
    secrets: &[(String, String)],
    made: &Secrets,
) -> BTreeMap<String, String> {
    let mut env = service.environment();
    for (var, file) in secrets {
        let value = made.values.get(file).unwrap_or_else(|| {
            panic!(
                "{}: secret file {file:?} for {var} is made by neither secrets.sh nor setup.sh",
                service.name
            )
        });
        env.insert(var.clone(), value.clone());
    }
    env
}

/// The `--config` file a program is given, as a repository path.
pub fn config_file(service: &Service, args: &[String]) -> Option<PathBuf> {
    let at = args.iter().position(|a| a == "--config")?;
    let path = args.get(at + 1).expect("--config takes a path");
    Some(service.host_file(path).unwrap_or_else(|| {
        panic!(
            "{}: the config file {path} is not bind-mounted from the repository",
            service.name
        )
    }))
}

/// Every service running bamf-api, bamf-bridge or bamf-agent, with its
/// config loaded by the program's own loader.
pub fn configs(compose: &Compose) -> BTreeMap<String, Loaded> {
    let made = secrets(compose);
    let mut loaded = BTreeMap::new();
    for service in compose.services() {
        let Runs::Program {
            program,
            args,
            secrets,
        } = runs(&service)
        else {
            continue;
        };
        if programs::env_prefix(&program).is_none() {
            continue;
        }
        let env = program_env(&service, &secrets, &made);
        let file = config_file(&service, &args);
        let config = programs::load(&program, &env, file.as_deref())
            .unwrap_or_else(|e| panic!("compose service {}: {e}", service.name));
        loaded.insert(service.name.clone(), config);
    }
    loaded
}

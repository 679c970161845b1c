//! The deployment files checked against the programs they run, without
//! Docker or a cluster (ARCHITECTURE §6, issue 7): deploy/Dockerfile,
//! deploy/compose.yaml with its helpers in deploy/compose/, the Kubernetes
//! manifests in deploy/k8s/, and the commands in docs/getting-started.md.
//!
//! - every `BAMF_*` variable a service sets is read by its program, and the
//!   whole environment loads with the program's own config loader;
//! - every command names a program the image holds, with a subcommand and
//!   flags the program accepts (bamfctl parsed in-process; the others' built
//!   binaries asked with `--help`);
//! - listen ports, published ports, advertised addresses, URLs between the
//!   services and healthcheck ports agree;
//! - deploy/nats/nats-server.conf passes `nats-server -t` (the pinned one);
//! - healthcheck commands are files of their image (derived from the
//!   Dockerfiles; see `image.rs`).
//!
//! Layout — the checks: `image_checks.rs` (Dockerfile and build context),
//! `compose_checks.rs` (commands, environment, NATS, dependencies, volumes,
//! secrets), `compose_addresses.rs` (ports, addresses, healthchecks),
//! `kubernetes.rs` and `kubernetes_addresses.rs` (the manifests), and in
//! this file the guide's commands and the checks' own failure cases. What
//! they read with: `compose.rs` (compose.yaml), `stack.rs` (what each service
//! runs), `image.rs` (Dockerfiles, image file lists), `programs.rs` (command
//! lines, config loaders), `shell.rs` (scripts), `k8s.rs` (manifests),
//! `nats_conf.rs` (nats-server.conf).

#[path = "deploy/compose.rs"]
mod compose;
#[path = "deploy/compose_addresses.rs"]
mod compose_addresses;
#[path = "deploy/compose_checks.rs"]
mod compose_checks;
#[path = "deploy/image.rs"]
mod image;
#[path = "deploy/image_checks.rs"]
mod image_checks;
#[path = "deploy/k8s.rs"]
mod k8s;
#[path = "deploy/kubernetes.rs"]
mod kubernetes;
#[path = "deploy/kubernetes_addresses.rs"]
mod kubernetes_addresses;
#[path = "deploy/nats_conf.rs"]
mod nats_conf;
#[path = "deploy/programs.rs"]
mod programs;
#[path = "deploy/shell.rs"]
mod shell;
#[path = "deploy/stack.rs"]
mod stack;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;

use bamf_testkit::repo_root;
use compose::Compose;
use image::Image;
use programs::Loaded;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// `(host, port)` of a URL, with the scheme's default port.
fn host_port(url: &str) -> (String, u16) {
    let parsed = reqwest::Url::parse(url).unwrap_or_else(|e| panic!("{url:?}: {e}"));
    let host = parsed
        .host_str()
        .unwrap_or_else(|| panic!("{url:?} has no host"));
    let port = parsed
        .port_or_known_default()
        .unwrap_or_else(|| panic!("{url:?} has no port"));
    (host.to_string(), port)
}

/// Where a program answers `/healthz` and `/readyz`.
fn health_addr(config: &Loaded) -> SocketAddr {
    match config {
        Loaded::Api(c) => c.listen,
        Loaded::Bridge(c) => c.health_listen,
        Loaded::Agent(c) => c.health_listen,
    }
}

/// The port in a `/dev/tcp/HOST/PORT` probe.
fn dev_tcp(script: &str) -> Option<(String, u16)> {
    let rest = &script[script.find("/dev/tcp/")? + "/dev/tcp/".len()..];
    let (host, rest) = rest.split_once('/')?;
    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((host.to_string(), port.parse().ok()?))
}

fn is_shell(program: &str) -> bool {
    matches!(program, "sh" | "bash" | "/bin/sh" | "/bin/bash")
}

#[test]
fn the_commands_in_the_getting_started_guide_are_accepted() {
    let guide = read(&repo_root().join("docs/getting-started.md"));
    let compose = Compose::load();
    let services = compose.service_names();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in guide.lines() {
        if line.trim_start().starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some(String::new()),
            }
        } else if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    let mut bamfctl = 0;
    let mut secrets = BTreeMap::new();
    for block in &blocks {
        for (program, args) in shell::commands(block)
            .iter()
            .filter_map(|c| shell::invocation(c))
        {
            // `./bamfctl`, `target/debug/bamfctl`: the same program.
            match program.rsplit('/').next().unwrap_or_default() {
                "bamfctl" => {
                    programs::accepts("bamfctl", &args).unwrap_or_else(|e| {
                        panic!("docs/getting-started.md: bamfctl {}: {e}", args.join(" "))
                    });
                    bamfctl += 1;
                    if let Some(remote) = programs::ssh_remote_command(&args) {
                        // What ssh runs on the target: `--` is not a command.
                        assert!(
                            remote.first().is_none_or(|w| w != "--"),
                            "docs: bamfctl {} has ssh run {remote:?}",
                            args.join(" ")
                        );
                    }
                }
                "docker" if args.first().map(String::as_str) == Some("compose") => {
                    // `-f` names this file; exec, logs and run name its services.
                    if let Some(at) = args.iter().position(|a| a == "-f") {
                        assert_eq!(args[at + 1], "deploy/compose.yaml");
                    }
                    if let Some(at) = args
                        .iter()
                        .position(|a| a == "exec" || a == "logs" || a == "run")
                    {
                        let target = args[at + 1..].iter().find(|a| !a.starts_with('-'));
                        if let Some(target) = target {
                            assert!(
                                services.contains(target),
                                "docs: docker compose {} {target}: no such service",
                                args[at]
                            );
                        }
                    }
                }
                "kubectl" => {
                    // `kubectl create secret generic NAME --from-literal=KEY=…`
                    if let Some(at) = args.windows(2).position(|w| w == ["secret", "generic"]) {
                        let keys: BTreeSet<String> = args
                            .iter()
                            .filter_map(|a| {
                                a.strip_prefix("--from-literal=")
                                    .or_else(|| a.strip_prefix("--from-file="))
                            })
                            .map(|kv| {
                                kv.split('=')
                                    .next()
                                    .unwrap()
                                    .rsplit('/')
                                    .next()
                                    .unwrap()
                                    .to_string()
                            })
                            .collect();
                        secrets.insert(args[at + 2].clone(), keys);
                    }
                }
                _ => {}
            }
        }
    }
    assert!(bamfctl >= 5, "the guide shows {bamfctl} bamfctl commands");
    // The Secrets the guide makes are exactly those the manifests read.
    assert_eq!(
        secrets,
        kubernetes::referenced_secrets(),
        "the guide's Secrets differ from the manifests'"
    );
}

/// Each check above rests on a mechanism that can fail; these prove it does.
#[test]
fn the_checks_fail_on_what_they_guard_against() {
    assert!(programs::accepts("bamf-api", &["no-such-command".into()]).is_err());
    assert!(programs::accepts("bamf-bridge", &["--no-such-flag".into()]).is_err());
    assert!(programs::accepts("bamf-agent", &["--log-format".into(), "loud".into()]).is_err());
    assert!(programs::accepts("bamfctl", &["tokens".into(), "make".into()]).is_err());
    assert!(programs::accepts("bamf-api", &["serve".into()]).is_ok());

    let env = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let db = ("BAMF_API_DATABASE_URL", "postgres://u:p@h/db");
    assert!(programs::load("bamf-api", &env(&[db]), None).is_ok());
    let unknown =
        programs::load("bamf-api", &env(&[db, ("BAMF_API_NO_SUCH_KEY", "1")]), None).unwrap_err();
    assert!(unknown.contains("no_such_key"), "{unknown}");
    assert!(programs::load(
        "bamf-api",
        &env(&[db, ("BAMF_BRIDGE_NATS_URL", "nats://x:1")]),
        None
    )
    .is_err());
    assert!(programs::load("bamf-api", &env(&[db, ("BAMF_LOG_FORMAT", "loud")]), None).is_err());
    assert!(programs::load(
        "bamf-api",
        &env(&[db, ("BAMF_API_LISTEN", "nowhere")]),
        None
    )
    .is_err());

    let image = Image::build(&repo_root().join("deploy/Dockerfile"));
    assert!(image.resolve("curl").is_none() && image.resolve("bash").is_some());
    assert_eq!(
        dev_tcp("exec 3<>/dev/tcp/127.0.0.1/8080 && x"),
        Some(("127.0.0.1".into(), 8080))
    );
}

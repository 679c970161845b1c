//! deploy/compose.yaml against the programs: commands, environment, the NATS
//! config, dependencies and volumes, and the secrets' way into the programs.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use bamf_testkit::repo_root;

use crate::compose::Compose;
use crate::programs::{self, Loaded, PROGRAMS};
use crate::stack::{self, Runs};
use crate::{is_shell, read, shell};

#[test]
fn every_service_runs_programs_of_its_image_with_arguments_they_accept() {
    let compose = Compose::load();
    let mut checked = BTreeSet::new();
    for service in compose.services() {
        // A third-party image's command goes to its own entrypoint (NATS's is
        // checked by nats_config_passes_nats_server_and_is_the_file_mounted).
        if service.dockerfile().is_none() {
            continue;
        }
        let image = stack::image_of(&service);
        let argv = stack::argv_of(&service, &image).expect("a command or CMD");
        let must_hold = |program: &str, why: &str| {
            assert!(
                image.resolve(program).is_some(),
                "{}: {why} runs {program}, which is not in {}",
                service.name,
                image.name
            );
        };
        must_hold(&argv[0], "the command");
        if is_shell(&argv[0]) && argv.len() > 1 && argv[1].starts_with('/') {
            let script = service.host_file(&argv[1]).expect("a bind-mounted script");
            for program in shell::programs(&read(&script)) {
                must_hold(&program, &argv[1]);
            }
        }
        match stack::runs(&service) {
            Runs::Program { program, args, .. } => {
                must_hold(&program, "the command");
                programs::accepts(&program, &args)
                    .unwrap_or_else(|e| panic!("compose service {}: {e}", service.name));
                checked.insert(service.name.clone());
            }
            Runs::Script { path, text } => {
                for (program, args) in shell::commands(&text)
                    .iter()
                    .filter_map(|c| shell::invocation(c))
                    .filter(|(p, _)| PROGRAMS.contains(&p.as_str()))
                {
                    programs::accepts(&program, &args).unwrap_or_else(|e| {
                        panic!("{} (service {}): {e}", path.display(), service.name)
                    });
                }
                checked.insert(service.name.clone());
            }
            Runs::Image => {}
        }
    }
    let expected: BTreeSet<String> = ["api", "bridge", "agent", "secrets", "setup"]
        .map(String::from)
        .into();
    assert!(expected.is_subset(&checked), "checked only {checked:?}");
}

#[test]
fn every_environment_variable_is_one_its_program_reads() {
    let compose = Compose::load();
    // Each program's own loader, with the service's environment and secrets.
    let configs = stack::configs(&compose);
    assert!(
        matches!(configs.get("api"), Some(Loaded::Api(_))),
        "api runs bamf-api"
    );
    assert!(
        matches!(configs.get("bridge"), Some(Loaded::Bridge(_))),
        "bridge runs bamf-bridge"
    );
    assert!(
        matches!(configs.get("agent"), Some(Loaded::Agent(_))),
        "agent runs bamf-agent"
    );
    // Scripts: a BAMF_* variable must be read by a program the script runs;
    // any other variable by the script itself.
    for service in compose.services() {
        let Runs::Script { path, text } = stack::runs(&service) else {
            continue;
        };
        let ran = shell::programs(&text);
        for name in service.environment().keys() {
            if name.starts_with("BAMF_") {
                assert!(
                    ran.iter()
                        .filter(|p| PROGRAMS.contains(&p.as_str()))
                        .any(|p| programs::clap_env_names(p).contains(name)),
                    "{}: {name} is read by none of {ran:?}",
                    service.name
                );
            } else if name != "HOME" {
                // HOME: where bamfctl keeps its login.
                assert!(
                    text.contains(&format!("${{{name}")) || text.contains(&format!("${name}")),
                    "{}: {name} is set but {} never reads it",
                    service.name,
                    path.display()
                );
            }
        }
    }
}

#[test]
fn nats_config_passes_nats_server_and_is_the_file_mounted() {
    let conf = repo_root().join("deploy/nats/nats-server.conf");
    let bin = bamf_testkit::nats_server_binary().expect("the pinned nats-server");
    let out = Command::new(&bin)
        .arg("-t")
        .arg("-c")
        .arg(&conf)
        .output()
        .expect("nats-server runs");
    assert!(
        out.status.success(),
        "nats-server -t -c {}: {}{}",
        conf.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let compose = Compose::load();
    let nats = compose
        .services()
        .into_iter()
        .find(|s| s.image().is_some_and(|i| i.starts_with("nats:")))
        .expect("a NATS service");
    let pinned = bamf_testkit::pinned_version().expect("NATS_VERSION in deploy/.env");
    assert_eq!(nats.image(), Some(format!("nats:{pinned}-alpine").as_str()));
    let argv = nats.command().expect("nats is given its config");
    let at = argv.iter().position(|a| a == "-c").expect("nats-server -c");
    let mounted = nats
        .host_file(&argv[at + 1])
        .expect("the config is bind-mounted");
    assert_eq!(
        mounted.canonicalize().unwrap(),
        conf.canonicalize().unwrap()
    );
    let store = &argv[argv
        .iter()
        .position(|a| a == "-sd")
        .expect("a store folder")
        + 1];
    assert!(
        nats.volumes().iter().any(|m| !m.bind && m.target == *store),
        "the JetStream store {store} is not on a named volume"
    );
}

#[test]
fn services_wait_for_what_they_need_and_keep_state_in_named_volumes() {
    let compose = Compose::load();
    let names = compose.service_names();
    let declared = compose.named_volumes();
    let mut used = BTreeSet::new();
    for service in compose.services() {
        for (dependency, condition) in service.depends_on() {
            assert!(
                names.contains(&dependency),
                "{} depends on unknown {dependency}",
                service.name
            );
            let dep = compose.service(&dependency);
            match condition.as_str() {
                "service_healthy" => assert!(
                    dep.healthcheck().is_some(),
                    "{}: {dependency} has no healthcheck",
                    service.name
                ),
                "service_completed_successfully" => {
                    assert_eq!(dep.str("restart"), Some("no"), "{dependency} is a one-shot")
                }
                other => panic!(
                    "{} waits for {dependency} with {other}: start order is not readiness",
                    service.name
                ),
            }
        }
        for mount in service.volumes() {
            if mount.bind {
                let source = compose.dir.join(&mount.source);
                assert!(
                    source.exists(),
                    "{}: bind source {} is missing",
                    service.name,
                    source.display()
                );
                assert!(
                    mount.read_only,
                    "{}: {} is mounted writable",
                    service.name, mount.source
                );
            } else {
                assert!(
                    declared.contains(&mount.source),
                    "{}: volume {} is not declared",
                    service.name,
                    mount.source
                );
                used.insert(mount.source.clone());
            }
        }
        // The bamf services: hardened like the Kubernetes pods, and given
        // time to drain before Compose kills them.
        if service
            .dockerfile()
            .is_some_and(|d| d.ends_with("deploy/Dockerfile"))
        {
            assert_eq!(
                service.value["read_only"].as_bool(),
                Some(true),
                "{}",
                service.name
            );
            assert_eq!(
                service.value["cap_drop"][0].as_str(),
                Some("ALL"),
                "{}",
                service.name
            );
        }
    }
    let declared: BTreeSet<String> = declared.into_iter().collect();
    assert_eq!(used, declared, "declared and used named volumes differ");

    let configs = stack::configs(&compose);
    for (name, config) in &configs {
        let grace = match config {
            Loaded::Api(c) => c.shutdown_grace,
            Loaded::Bridge(c) => c.shutdown_grace,
            Loaded::Agent(c) => c.shutdown_grace,
        };
        let stop = compose
            .service(name)
            .duration("stop_grace_period")
            .unwrap_or(std::time::Duration::from_secs(10));
        assert!(
            stop > grace,
            "{name}: Compose kills it after {stop:?}, its shutdown_grace is {grace:?}"
        );
        // Where it keeps state is a named volume, or it would start over.
        let data_dir = match config {
            Loaded::Api(c) => c.data_dir.clone(),
            Loaded::Bridge(c) => c.data_dir.clone(),
            Loaded::Agent(c) => c.data_dir.clone(),
        };
        assert!(
            compose
                .service(name)
                .volumes()
                .iter()
                .any(|m| !m.bind && Path::new(&m.target) == data_dir),
            "{name}: data_dir {} is not a named volume",
            data_dir.display()
        );
    }
}

#[test]
fn secrets_are_made_once_private_and_handed_to_the_programs() {
    let compose = Compose::load();
    let made = stack::secrets(&compose);
    assert!(
        made.made_by_setup.contains("join-token"),
        "setup.sh keeps no join-token"
    );
    // Values the API accepts (it validates both lengths).
    let password = &made.values["admin-password"];
    let token = &made.values["bridge-bootstrap-token"];
    assert!(password.len() >= 12);
    assert!(token.len() >= bamf_api::config::MIN_BRIDGE_TOKEN_CHARS);
    // Private files; a second start keeps them.
    let script = compose.dir.join("compose/secrets.sh");
    let before: BTreeMap<String, String> = made.values.clone();
    let status = Command::new("sh")
        .arg(&script)
        .env("BAMF_SECRETS_DIR", made.dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    for name in ["admin-password", "bridge-bootstrap-token"] {
        let path = made.dir.path().join(name);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600,
            "{name}"
        );
        assert_eq!(
            read(&path).trim_end(),
            before[name],
            "{name} changed on a second start"
        );
    }
    // with-secrets.sh exports each FILE as its VAR, then execs the program.
    let helper = compose.dir.join("compose").join(stack::WITH_SECRETS);
    let out = Command::new("sh")
        .arg(&helper)
        .arg("X_PASSWORD=admin-password")
        .args(["--", "env"])
        .env("BAMF_SECRETS_DIR", made.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l == format!("X_PASSWORD={password}")));
    let missing = Command::new("sh")
        .arg(&helper)
        .arg("X=no-such-file")
        .args(["--", "true"])
        .env("BAMF_SECRETS_DIR", made.dir.path())
        .output()
        .unwrap();
    assert!(
        !missing.status.success(),
        "a missing secret must stop the service"
    );
    // Consumers wait for the service that makes their files and mount them
    // read-only; the makers mount them writable.
    for service in compose.services() {
        let Runs::Program { secrets, .. } = stack::runs(&service) else {
            continue;
        };
        for (_, file) in &secrets {
            let maker = if made.made_by_setup.contains(file) {
                "setup"
            } else {
                "secrets"
            };
            assert_eq!(
                service.depends_on().get(maker).map(String::as_str),
                Some("service_completed_successfully"),
                "{} reads {file} but does not wait for {maker}",
                service.name
            );
            assert!(
                service
                    .volumes()
                    .iter()
                    .any(|m| !m.bind && m.target == "/run/bamf-secrets" && m.read_only),
                "{}: the secrets volume is not mounted read-only at /run/bamf-secrets",
                service.name
            );
        }
    }
}

//! Checks of deploy/k8s against the programs: the same questions as for
//! compose (environment, commands, ports, addresses), plus what the issue
//! asks of the cluster: non-root, read-only, no capabilities; one Service per
//! bridge pod; only the API reaches PostgreSQL; NATS as pinned.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

use crate::image::Image;
use crate::k8s::{self, Manifests, Workload};
use crate::nats_conf;
use crate::programs::{self, Loaded, PROGRAMS};
use crate::{is_shell, shell};

/// Secret name → the keys the manifests read from it.
pub fn referenced_secrets() -> BTreeMap<String, BTreeSet<String>> {
    let manifests = Manifests::load();
    let mut secrets: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for workload in manifests.workloads() {
        for container in workload.containers() {
            for var in container["env"].as_sequence().into_iter().flatten() {
                let reference = &var["valueFrom"]["secretKeyRef"];
                if let (Some(name), Some(key)) =
                    (reference["name"].as_str(), reference["key"].as_str())
                {
                    secrets.entry(name.into()).or_default().insert(key.into());
                }
            }
        }
        for volume in workload.pod()["volumes"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            let Some(name) = volume["secret"]["secretName"].as_str() else {
                continue;
            };
            // A mounted Secret: its keys are the files the commands read there.
            let keys = secrets.entry(name.into()).or_default();
            for container in workload.containers() {
                let mounts = container["volumeMounts"]
                    .as_sequence()
                    .into_iter()
                    .flatten();
                for mount in mounts.filter(|m| m["name"] == volume["name"]) {
                    let dir = format!("{}/", mount["mountPath"].as_str().expect("a mountPath"));
                    for word in k8s::argv(container)
                        .iter()
                        .flat_map(|a| a.split_whitespace())
                    {
                        if let Some(file) = word.strip_prefix(&dir) {
                            keys.insert(file.to_string());
                        }
                    }
                }
            }
        }
    }
    secrets
}

/// The program of a bamf container, its arguments, and its config loaded.
pub fn load(
    manifests: &Manifests,
    workload: &Workload,
    container: &Value,
    ordinal: u32,
) -> Option<(String, Vec<String>, Loaded)> {
    let argv = k8s::argv(container);
    let (program, args) = argv.split_first()?;
    programs::env_prefix(program)?;
    let env = k8s::container_env(container, &workload.pod_name(ordinal));
    // A --config file comes from a ConfigMap: written out for the loader.
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = args.iter().position(|a| a == "--config").map(|at| {
        let path = &args[at + 1];
        let (volume, key) = workload
            .volume_at(container, path)
            .unwrap_or_else(|| panic!("{}: {path} is not mounted", workload.name()));
        let map = volume["configMap"]["name"]
            .as_str()
            .expect("a ConfigMap volume");
        let text = manifests.named("ConfigMap", map)["data"][key.as_str()]
            .as_str()
            .unwrap_or_else(|| panic!("ConfigMap {map} has no {key}"))
            .to_string();
        let local = dir.path().join(&key);
        std::fs::write(&local, text).expect("the config file writes");
        local
    });
    let loaded = programs::load(program, &env, file.as_deref()).unwrap_or_else(|e| {
        panic!(
            "{} container {}: {e}",
            workload.name(),
            container["name"].as_str().unwrap_or("?")
        )
    });
    Some((program.clone(), args.to_vec(), loaded))
}

#[test]
fn k8s_pods_run_as_non_root_read_only_without_capabilities() {
    let manifests = Manifests::load();
    let version = std::fs::read_to_string(bamf_testkit::repo_root().join("Cargo.toml"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("version = \"")?
                .strip_suffix('"')
                .map(String::from)
        })
        .expect("a workspace version");
    let workloads = manifests.workloads();
    assert_eq!(workloads.len(), 3, "api, bridge and agent");
    for workload in &workloads {
        let name = workload.name();
        let pod = workload.pod();
        assert_eq!(
            pod["automountServiceAccountToken"].as_bool(),
            Some(false),
            "{name}"
        );
        let security = &pod["securityContext"];
        assert_eq!(security["runAsNonRoot"].as_bool(), Some(true), "{name}");
        assert!(
            security["runAsUser"].as_u64().is_some_and(|u| u > 0),
            "{name}: runAsUser"
        );
        assert_eq!(
            security["seccompProfile"]["type"].as_str(),
            Some("RuntimeDefault"),
            "{name}"
        );
        for container in workload.containers() {
            let c = container["name"].as_str().unwrap_or("?");
            let security = &container["securityContext"];
            assert_eq!(
                security["allowPrivilegeEscalation"].as_bool(),
                Some(false),
                "{name}/{c}"
            );
            assert_eq!(
                security["readOnlyRootFilesystem"].as_bool(),
                Some(true),
                "{name}/{c}"
            );
            let dropped: Vec<&str> = security["capabilities"]["drop"]
                .as_sequence()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(dropped, ["ALL"], "{name}/{c}: capabilities");
            assert!(
                security["capabilities"]["add"].is_null(),
                "{name}/{c} adds capabilities"
            );
            let image = container["image"].as_str().expect("an image");
            assert!(
                image.ends_with(&format!("/bamf:{version}")),
                "{name}/{c}: image {image} is not bamf:{version}"
            );
        }
    }
}

#[test]
fn k8s_containers_run_programs_of_the_image_with_what_they_accept() {
    let manifests = Manifests::load();
    let image = Image::build(&bamf_testkit::repo_root().join("deploy/Dockerfile"));
    let mut loaded = BTreeSet::new();
    for workload in manifests.workloads() {
        for container in workload.containers() {
            let argv = k8s::argv(container);
            let who = format!(
                "{}/{}",
                workload.name(),
                container["name"].as_str().unwrap_or("?")
            );
            assert!(
                !argv.is_empty(),
                "{who}: give the command (the image's CMD is bamf-api)"
            );
            assert!(
                image.resolve(&argv[0]).is_some(),
                "{who}: {} is not in the image",
                argv[0]
            );
            if is_shell(&argv[0]) {
                let script = argv.get(2).expect("sh -c SCRIPT");
                for program in shell::programs(script) {
                    assert!(
                        image.resolve(&program).is_some(),
                        "{who}: its script runs {program}, not in the image"
                    );
                }
            } else {
                assert!(
                    PROGRAMS.contains(&argv[0].as_str()),
                    "{who}: runs {}",
                    argv[0]
                );
                programs::accepts(&argv[0], &argv[1..]).unwrap_or_else(|e| panic!("{who}: {e}"));
            }
            if let Some((program, _, config)) = load(&manifests, &workload, container, 0) {
                // The kubelet kills after terminationGracePeriodSeconds (30 s
                // by default): the program's own grace must end first.
                let grace = match config {
                    Loaded::Api(c) => c.shutdown_grace,
                    Loaded::Bridge(c) => c.shutdown_grace,
                    Loaded::Agent(c) => c.shutdown_grace,
                };
                let kill = workload.pod()["terminationGracePeriodSeconds"]
                    .as_u64()
                    .unwrap_or(30);
                assert!(
                    std::time::Duration::from_secs(kill) > grace,
                    "{who}: killed after {kill} s, shutdown_grace is {grace:?}"
                );
                loaded.insert(program);
            }
        }
    }
    assert_eq!(
        loaded.len(),
        3,
        "the three servers' configs load: {loaded:?}"
    );
}

#[test]
fn k8s_only_the_api_reaches_postgres() {
    let manifests = Manifests::load();
    let labels: BTreeMap<&str, BTreeMap<String, String>> = manifests
        .workloads()
        .iter()
        .map(|w| (w.name(), w.pod_labels()))
        .collect();
    let policies = manifests.of_kind("NetworkPolicy");
    for policy in &policies {
        let selector = &policy["spec"]["podSelector"]["matchLabels"];
        let name = selector["app.kubernetes.io/name"]
            .as_str()
            .unwrap_or_default();
        if name.starts_with("bamf-") {
            assert!(
                labels.values().any(|l| k8s::selects(selector, l)),
                "{:?} selects no bamf pod",
                policy["metadata"]["name"]
            );
        }
    }
    let postgres = policies
        .iter()
        .find(|p| {
            p["spec"]["ingress"]
                .as_sequence()
                .into_iter()
                .flatten()
                .any(|rule| {
                    rule["ports"]
                        .as_sequence()
                        .into_iter()
                        .flatten()
                        .any(|port| port["port"].as_u64() == Some(5432))
                })
        })
        .expect("a NetworkPolicy guarding PostgreSQL's port");
    assert!(
        labels
            .values()
            .all(|l| !k8s::selects(&postgres["spec"]["podSelector"]["matchLabels"], l)),
        "it selects the database, not bamf"
    );
    assert_eq!(postgres["spec"]["policyTypes"][0].as_str(), Some("Ingress"));
    for rule in postgres["spec"]["ingress"].as_sequence().unwrap() {
        for peer in rule["from"].as_sequence().expect("from: peers") {
            let selector = &peer["podSelector"]["matchLabels"];
            assert!(
                peer["ipBlock"].is_null() && peer["namespaceSelector"].is_null(),
                "only pods may be let in"
            );
            assert!(
                k8s::selects(selector, &labels["bamf-api"]),
                "a peer that is not the API"
            );
            assert!(
                !k8s::selects(selector, &labels["bamf-bridge"])
                    && !k8s::selects(selector, &labels["bamf-agent"])
            );
        }
    }
    // The bridge can reach nothing but DNS, NATS and the API.
    let bridge = policies
        .iter()
        .find(|p| {
            k8s::selects(
                &p["spec"]["podSelector"]["matchLabels"],
                &labels["bamf-bridge"],
            )
        })
        .expect("a bridge policy");
    assert!(bridge["spec"]["policyTypes"]
        .as_sequence()
        .unwrap()
        .iter()
        .any(|t| t == "Egress"));
    for rule in bridge["spec"]["egress"].as_sequence().unwrap() {
        assert!(
            rule["to"]
                .as_sequence()
                .unwrap()
                .iter()
                .all(|peer| peer["ipBlock"].is_null()),
            "the bridge may reach addresses"
        );
        assert!(rule["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .all(|p| p["port"].as_u64() != Some(5432)));
    }
}

pub fn nats_values() -> Value {
    let path = bamf_testkit::repo_root().join("deploy/k8s/nats-values.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).expect("nats-values.yaml")).expect("YAML")
}

#[test]
fn nats_chart_values_match_the_pin_and_the_nats_config() {
    let values = nats_values();
    let pinned = bamf_testkit::pinned_version().expect("NATS_VERSION");
    assert_eq!(
        values["container"]["image"]["repository"].as_str(),
        Some("nats")
    );
    assert_eq!(
        values["container"]["image"]["tag"].as_str(),
        Some(format!("{pinned}-alpine").as_str()),
        "the one pin in deploy/.env"
    );
    let conf = nats_conf::read().values;
    let js = &values["config"]["jetstream"];
    assert_eq!(js["enabled"].as_bool(), Some(true));
    assert_eq!(
        js["fileStore"]["maxSize"].as_str(),
        conf.get("jetstream.max_file_store").map(String::as_str)
    );
    assert_eq!(
        js["memoryStore"]["maxSize"].as_str(),
        conf.get("jetstream.max_memory_store").map(String::as_str)
    );
    let pvc = js["fileStore"]["pvc"]["size"]
        .as_str()
        .expect("a volume size");
    assert!(
        nats_conf::bytes(pvc) > nats_conf::bytes(&conf["jetstream.max_file_store"]),
        "the volume ({pvc}) must hold the store"
    );
    assert_eq!(
        values["config"]["merge"]["max_payload"].as_str(),
        Some(format!("<< {} >>", conf["max_payload"]).as_str())
    );
}

#[test]
fn k8s_ca_recipe_makes_a_ca_the_api_loads() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let ca = dir.path().join("bamf-ca");
    let script = bamf_testkit::repo_root().join("deploy/k8s/make-ca.sh");
    let run = || {
        std::process::Command::new("sh")
            .arg(&script)
            .arg(&ca)
            .output()
            .expect("sh runs")
    };
    let out = run();
    assert!(
        out.status.success(),
        "make-ca.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The file names the API's data_dir holds, which the init container copies.
    let (cert, key) = (
        bamf_api::bootstrap::CA_CERT_FILE,
        bamf_api::bootstrap::CA_KEY_FILE,
    );
    let loaded = bamf_pki::Ca::load(&ca.join(cert), &ca.join(key))
        .expect("bamf-api loads the CA make-ca.sh made");
    // And it does the CA's work: a bridge certificate it issues verifies.
    let bridge_key = bamf_pki::KeyAndCsr::generate().expect("a key");
    let csr = bamf_pki::VerifiedCsr::from_der(bridge_key.csr_der()).expect("a CSR");
    let profile = bamf_pki::Profile::Bridge(bamf_pki::BridgeProfile {
        bridge_id: "bamf-bridge-0".into(),
        dns_names: vec!["bamf-bridge-0.bridge.bamf.example.com".into()],
        ip_addresses: Vec::new(),
    });
    let now = std::time::SystemTime::now();
    let issued = loaded
        .issue(&profile, &csr, "deploy test", now)
        .expect("the CA signs");
    loaded
        .trust()
        .verify_bridge(&[issued.cert_der], now, "bamf-bridge-0")
        .expect("a bridge certificate from this CA verifies");
    assert_eq!(
        referenced_secrets()["bamf-ca"],
        BTreeSet::from([cert.to_string(), key.to_string()])
    );
    assert!(!run().status.success(), "make-ca.sh must not replace a CA");
}

//! The Kubernetes manifests of deploy/k8s/bamf: every document of every file,
//! and the pieces of a workload the checks read. Their schema is checked by
//! kubernetes-validate in `tools/test`; this is about what they say.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_yaml::Value;

pub struct Manifests {
    /// (file name, document)
    pub docs: Vec<(String, Value)>,
}

impl Manifests {
    pub fn load() -> Manifests {
        let dir = bamf_testkit::repo_root().join("deploy/k8s/bamf");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        let mut docs = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("a manifest reads");
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            // Documents are separated by `---` lines (no other use of them here).
            let mut doc = String::new();
            for line in text.lines().chain(std::iter::once("---")) {
                if line.trim_end() != "---" {
                    doc.push_str(line);
                    doc.push('\n');
                    continue;
                }
                let mut value: Value = serde_yaml::from_str(&std::mem::take(&mut doc))
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                value.apply_merge().expect("merge keys apply");
                if !value.is_null() {
                    docs.push((name.clone(), value));
                }
            }
        }
        assert!(!docs.is_empty(), "no manifests in {}", dir.display());
        Manifests { docs }
    }

    pub fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.docs
            .iter()
            .map(|(_, d)| d)
            .filter(|d| d["kind"] == kind)
            .collect()
    }

    pub fn named(&self, kind: &str, name: &str) -> &Value {
        self.of_kind(kind)
            .into_iter()
            .find(|d| d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in deploy/k8s/bamf"))
    }

    /// Deployments and StatefulSets.
    pub fn workloads(&self) -> Vec<Workload<'_>> {
        self.docs
            .iter()
            .map(|(_, d)| d)
            .filter(|d| d["kind"] == "Deployment" || d["kind"] == "StatefulSet")
            .map(|value| Workload { value })
            .collect()
    }

    pub fn workload(&self, name: &str) -> Workload<'_> {
        self.workloads()
            .into_iter()
            .find(|w| w.name() == name)
            .unwrap_or_else(|| panic!("no workload {name} in deploy/k8s/bamf"))
    }
}

pub struct Workload<'a> {
    pub value: &'a Value,
}

impl<'a> Workload<'a> {
    pub fn name(&self) -> &'a str {
        self.value["metadata"]["name"].as_str().expect("a name")
    }

    pub fn kind(&self) -> &'a str {
        self.value["kind"].as_str().expect("a kind")
    }

    pub fn pod(&self) -> &'a Value {
        &self.value["spec"]["template"]["spec"]
    }

    pub fn pod_labels(&self) -> BTreeMap<String, String> {
        labels(&self.value["spec"]["template"]["metadata"]["labels"])
    }

    /// Init containers, then containers.
    pub fn containers(&self) -> Vec<&'a Value> {
        let pod = self.pod();
        ["initContainers", "containers"]
            .iter()
            .filter_map(|key| pod[*key].as_sequence())
            .flatten()
            .collect()
    }

    pub fn container(&self, name: &str) -> &'a Value {
        self.containers()
            .into_iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{} has no container {name}", self.name()))
    }

    /// The name of the workload's first pod (`<name>-0` for a StatefulSet).
    pub fn pod_name(&self, ordinal: u32) -> String {
        match self.kind() {
            "StatefulSet" => format!("{}-{ordinal}", self.name()),
            _ => format!("{}-7d4b9c8f6-x2x9q", self.name()),
        }
    }

    /// The volume a container path is mounted from: (volume, path inside it).
    pub fn volume_at(&self, container: &Value, path: &str) -> Option<(&'a Value, String)> {
        let mounts = container["volumeMounts"].as_sequence()?;
        let (mount, rest) = mounts.iter().find_map(|m| {
            let rest = path.strip_prefix(m["mountPath"].as_str()?)?;
            (rest.is_empty() || rest.starts_with('/')).then_some((m, rest))
        })?;
        let volume = self.pod()["volumes"]
            .as_sequence()?
            .iter()
            .find(|v| v["name"] == mount["name"])?;
        Some((volume, rest.trim_start_matches('/').to_string()))
    }
}

/// `command` followed by `args`.
pub fn argv(container: &Value) -> Vec<String> {
    ["command", "args"]
        .iter()
        .filter_map(|k| container[*k].as_sequence())
        .flatten()
        .map(|v| v.as_str().expect("command words are strings").to_string())
        .collect()
}

/// A container's environment as the program sees it: literal values with
/// `$(VAR)` expanded, the pod's name for `metadata.name`, and stand-ins of
/// the right shape for Secret values (which the cluster's operator creates).
pub fn container_env(container: &Value, pod_name: &str) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for var in container["env"].as_sequence().into_iter().flatten() {
        let name = var["name"].as_str().expect("env names").to_string();
        let value = if let Some(value) = var["value"].as_str() {
            expand(value, &env)
        } else if let Some(field) = var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            assert_eq!(
                field, "metadata.name",
                "{name}: only the pod name is known here"
            );
            pod_name.to_string()
        } else if let Some(key) = var["valueFrom"]["secretKeyRef"]["key"].as_str() {
            secret_stand_in(key)
        } else {
            panic!("{name}: neither value, fieldRef nor secretKeyRef")
        };
        env.insert(name, value);
    }
    env
}

fn secret_stand_in(key: &str) -> String {
    match key {
        "DATABASE_URL" => "postgres://bamf:secret@postgres.databases:5432/bamf".into(),
        // `openssl rand -hex 32`, as the docs say.
        "token" => "3f1d".repeat(16),
        "password" => "a-first-admin-password".into(),
        other => panic!("no stand-in for a Secret key {other:?}; add one"),
    }
}

/// Kubernetes' `$(VAR)` expansion of earlier variables.
fn expand(value: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = value.to_string();
    for (k, v) in env {
        out = out.replace(&format!("$({k})"), v);
    }
    out
}

pub fn labels(value: &Value) -> BTreeMap<String, String> {
    value
        .as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.as_str().expect("label keys").to_string(),
                        v.as_str().expect("label values are strings").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a `matchLabels`-style selector selects `pod` labels.
pub fn selects(selector: &Value, pod: &BTreeMap<String, String>) -> bool {
    let wanted = labels(selector);
    !wanted.is_empty() && wanted.iter().all(|(k, v)| pod.get(k) == Some(v))
}

/// A container port's number by its name.
pub fn port_named(container: &Value, name: &str) -> Option<(u16, String)> {
    container["ports"].as_sequence()?.iter().find_map(|p| {
        (p["name"] == name).then(|| {
            let number = p["containerPort"].as_u64().expect("containerPort") as u16;
            let protocol = p["protocol"].as_str().unwrap_or("TCP").to_string();
            (number, protocol)
        })
    })
}

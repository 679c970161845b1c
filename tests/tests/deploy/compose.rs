//! deploy/compose.yaml as Compose reads it: YAML merge keys applied, then
//! `${VAR}` interpolated from deploy/.env (Compose's `.env` next to the file;
//! variables not there are unset here, as on a machine that sets none), and
//! typed views of the parts the checks need.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

/// The parsed file and the folder its relative paths start from.
pub struct Compose {
    pub doc: Value,
    pub dir: PathBuf,
}

impl Compose {
    pub fn load() -> Compose {
        let dir = bamf_testkit::repo_root().join("deploy");
        let text = read(&dir.join("compose.yaml"));
        let vars = dotenv(&read(&dir.join(".env")));
        let mut doc: Value = serde_yaml::from_str(&text).expect("compose.yaml is YAML");
        doc.apply_merge().expect("compose.yaml's merge keys apply");
        interpolate_all(&mut doc, &vars);
        Compose { doc, dir }
    }

    pub fn service_names(&self) -> Vec<String> {
        self.doc["services"]
            .as_mapping()
            .expect("compose.yaml has services")
            .keys()
            .map(|k| k.as_str().expect("service names are strings").to_string())
            .collect()
    }

    pub fn service(&self, name: &str) -> Service<'_> {
        let value = &self.doc["services"][name];
        assert!(value.is_mapping(), "compose.yaml has no service {name:?}");
        Service {
            name: name.to_string(),
            value,
            dir: &self.dir,
        }
    }

    pub fn services(&self) -> Vec<Service<'_>> {
        self.service_names()
            .iter()
            .map(|n| self.service(n))
            .collect()
    }

    /// Names under the top-level `volumes:`.
    pub fn named_volumes(&self) -> Vec<String> {
        self.doc["volumes"]
            .as_mapping()
            .map(|m| {
                m.keys()
                    .filter_map(|k| k.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One service.
pub struct Service<'a> {
    pub name: String,
    pub value: &'a Value,
    dir: &'a Path,
}

/// A `volumes:` entry: a bind mount (`source` is a host path) or a named volume.
#[derive(Debug)]
pub struct Mount {
    pub source: String,
    pub target: String,
    pub read_only: bool,
    pub bind: bool,
}

/// A `ports:` entry in the short syntax `[IP:]HOST:CONTAINER[/PROTOCOL]`.
#[derive(Debug)]
pub struct Port {
    pub host_ip: Option<String>,
    pub host: u16,
    pub container: u16,
    pub protocol: String,
}

impl Service<'_> {
    pub fn str(&self, key: &str) -> Option<&str> {
        self.value[key].as_str()
    }

    pub fn image(&self) -> Option<&str> {
        self.str("image")
    }

    /// `build:`: the Dockerfile it names, as a host path.
    pub fn dockerfile(&self) -> Option<PathBuf> {
        let build = &self.value["build"];
        let context = self.dir.join(build["context"].as_str()?);
        Some(context.join(build["dockerfile"].as_str().unwrap_or("Dockerfile")))
    }

    pub fn environment(&self) -> BTreeMap<String, String> {
        strings_map(&self.value["environment"])
    }

    pub fn command(&self) -> Option<Vec<String>> {
        string_list(&self.value["command"])
    }

    pub fn volumes(&self) -> Vec<Mount> {
        let Some(entries) = self.value["volumes"].as_sequence() else {
            return Vec::new();
        };
        entries
            .iter()
            .map(|entry| {
                let entry = entry.as_str().expect("volumes use the short syntax");
                let parts: Vec<&str> = entry.split(':').collect();
                assert!(
                    parts.len() == 2 || parts.len() == 3,
                    "{}: volume {entry:?} is not SOURCE:TARGET[:MODE]",
                    self.name
                );
                Mount {
                    source: parts[0].to_string(),
                    target: parts[1].to_string(),
                    read_only: parts.get(2) == Some(&"ro"),
                    bind: parts[0].starts_with('.') || parts[0].starts_with('/'),
                }
            })
            .collect()
    }

    /// The host file behind a container path, when a bind mount provides it.
    pub fn host_file(&self, container_path: &str) -> Option<PathBuf> {
        self.volumes().into_iter().find_map(|m| {
            let rest = container_path.strip_prefix(&m.target)?;
            (m.bind && (rest.is_empty() || rest.starts_with('/')))
                .then(|| self.dir.join(format!("{}{rest}", m.source)))
        })
    }

    pub fn ports(&self) -> Vec<Port> {
        let Some(entries) = self.value["ports"].as_sequence() else {
            return Vec::new();
        };
        entries
            .iter()
            .map(|entry| {
                let entry = entry.as_str().expect("ports use the quoted short syntax");
                let (spec, protocol) = entry.split_once('/').unwrap_or((entry, "tcp"));
                let parts: Vec<&str> = spec.split(':').collect();
                let port = |s: &str| -> u16 {
                    s.parse()
                        .unwrap_or_else(|_| panic!("{}: port {entry:?}", self.name))
                };
                let (host_ip, host, container) = match parts.as_slice() {
                    [ip, host, container] => (Some(ip.to_string()), port(host), port(container)),
                    [host, container] => (None, port(host), port(container)),
                    _ => panic!("{}: port {entry:?} names no host port", self.name),
                };
                Port {
                    host_ip,
                    host,
                    container,
                    protocol: protocol.to_string(),
                }
            })
            .collect()
    }

    /// The healthcheck as an argv: `CMD` form as given, `CMD-SHELL` (or a
    /// plain string) as `sh -c SCRIPT`.
    pub fn healthcheck(&self) -> Option<Vec<String>> {
        let test = &self.value["healthcheck"]["test"];
        if let Some(script) = test.as_str() {
            return Some(vec!["sh".into(), "-c".into(), script.into()]);
        }
        let test = string_list(test)?;
        match test.first().map(String::as_str) {
            Some("CMD") => Some(test[1..].to_vec()),
            Some("CMD-SHELL") => Some(vec!["sh".into(), "-c".into(), test[1..].join(" ")]),
            other => panic!("{}: healthcheck test starts with {other:?}", self.name),
        }
    }

    /// `depends_on:` as service → condition.
    pub fn depends_on(&self) -> BTreeMap<String, String> {
        let Some(deps) = self.value["depends_on"].as_mapping() else {
            assert!(
                self.value["depends_on"].is_null(),
                "{}: depends_on is a mapping with conditions",
                self.name
            );
            return BTreeMap::new();
        };
        deps.iter()
            .map(|(k, v)| {
                let name = k.as_str().expect("service names").to_string();
                let condition = v["condition"].as_str().unwrap_or("service_started");
                (name, condition.to_string())
            })
            .collect()
    }

    /// A duration like `15s` or `1m30s`.
    pub fn duration(&self, key: &str) -> Option<std::time::Duration> {
        bamf_runtime::duration::parse(self.str(key)?).ok()
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn strings_map(value: &Value) -> BTreeMap<String, String> {
    if let Some(list) = value.as_sequence() {
        return list
            .iter()
            .filter_map(|e| e.as_str()?.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }
    value
        .as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let k = k.as_str().expect("variable names are strings").to_string();
                    let v = match v {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => serde_yaml::to_string(other)
                            .expect("a scalar serializes")
                            .trim()
                            .to_string(),
                    };
                    (k, v)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn string_list(value: &Value) -> Option<Vec<String>> {
    Some(
        value
            .as_sequence()?
            .iter()
            .map(|v| v.as_str().expect("list items are strings").to_string())
            .collect(),
    )
}

/// `NAME=value` lines of an env file.
pub fn dotenv(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn interpolate_all(value: &mut Value, vars: &BTreeMap<String, String>) {
    match value {
        Value::String(s) => {
            *s = interpolate(s, vars).unwrap_or_else(|e| panic!("compose.yaml: {e}"));
        }
        Value::Sequence(items) => items.iter_mut().for_each(|v| interpolate_all(v, vars)),
        Value::Mapping(map) => map.values_mut().for_each(|v| interpolate_all(v, vars)),
        _ => {}
    }
}

/// Compose's interpolation: `$$`, `$NAME`, `${NAME}`, `${NAME:-default}`,
/// `${NAME-default}`, `${NAME:?error}`, `${NAME?error}`.
pub fn interpolate(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(braced) = rest.strip_prefix('{') {
            let end = braced
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
            let expr = &braced[..end];
            rest = &braced[end + 1..];
            let name_end = expr
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(expr.len());
            let (name, op) = expr.split_at(name_end);
            let value = vars.get(name).map(String::as_str);
            let set = value.is_some_and(|v| !v.is_empty());
            let resolved = if let Some(default) = op.strip_prefix(":-") {
                if set {
                    value.unwrap_or_default()
                } else {
                    default
                }
                .to_string()
            } else if let Some(default) = op.strip_prefix('-') {
                value.unwrap_or(default).to_string()
            } else if let Some(error) = op.strip_prefix(":?").or_else(|| op.strip_prefix('?')) {
                // `:?` wants a non-empty value, `?` any value.
                let missing = if op.starts_with(':') {
                    !set
                } else {
                    value.is_none()
                };
                if missing {
                    return Err(format!("{name} is required: {error}"));
                }
                value.unwrap_or_default().to_string()
            } else if op.is_empty() {
                value.unwrap_or_default().to_string()
            } else {
                return Err(format!("unsupported interpolation ${{{expr}}}"));
            };
            out.push_str(&resolved);
        } else {
            let name_end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if name_end == 0 {
                out.push('$');
            } else {
                out.push_str(vars.get(&rest[..name_end]).map_or("", String::as_str));
                rest = &rest[name_end..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[test]
fn interpolates_as_compose_does() {
    let vars = BTreeMap::from([("V".to_string(), "2.1".to_string())]);
    let ok = |t: &str| interpolate(t, &vars).unwrap();
    assert_eq!(ok("nats:${V:?set it}-alpine"), "nats:2.1-alpine");
    assert_eq!(ok("${UNSET:-x} $V $$HOME ${UNSET}"), "x 2.1 $HOME ");
    assert!(interpolate("${UNSET:?needed}", &vars).is_err());
}

//! bamf-agent's configuration: `agent.yaml` in the shape of the Go/Python
//! BAMF's (`platform_url`, `join_token`, `name`, `labels`, `resources`), plus
//! bamf's own keys (NATS, data dir, health, heartbeat timing, limits).
//!
//! Loaded once at start by [`AgentConfig::load`]: defaults, then the
//! `--config` file with `${ENV}` / `${ENV:-default}` expanded in its values
//! (see `expand.rs`), then `BAMF_AGENT_*` environment variables; then
//! [`AgentConfig::validate`]. Every error names the key.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bamf_domain::control::catalog::{MAX_RESOURCES_PER_AGENT, MAX_RESOURCE_LABELS};
use bamf_domain::control::labels::{
    validate_label_key, validate_label_value, validate_resource_name,
};
use bamf_domain::subject::validate_token;
use bamf_runtime::config::ConfigError;
use figment::providers::{Env, Format, Serialized, Yaml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::expand;

/// Prefix of bamf-agent's environment variables: `BAMF_AGENT_JOIN_TOKEN`, …
pub const ENV_PREFIX: &str = "BAMF_AGENT_";
/// Longest agent name accepted.
pub const MAX_NAME_LEN: usize = 63;

/// Everything bamf-agent can be configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Base URL of the API, e.g. `https://bamf.corp.example`.
    pub platform_url: String,
    /// Join token for the first start; not needed once the identity is stored.
    pub join_token: Option<String>,
    /// The agent's name, shown in listings.
    pub name: String,
    /// Labels every resource of this agent carries (a resource's own win).
    pub labels: BTreeMap<String, String>,
    /// The targets this agent proxies to, and nothing else.
    pub resources: Vec<ResourceConfig>,
    /// NATS server(s) for heartbeats and commands.
    pub nats_url: String,
    /// Where the identity (id, key, certificate, CA) is kept.
    pub data_dir: PathBuf,
    /// Address of the HTTP health endpoint (`/healthz`, `/readyz`).
    pub health_listen: SocketAddr,
    /// How often the catalog is heartbeated.
    #[serde(with = "bamf_runtime::duration")]
    pub heartbeat_interval: Duration,
    /// How long a heartbeat keeps the agent online.
    #[serde(with = "bamf_runtime::duration")]
    pub heartbeat_ttl: Duration,
    /// Most tunnel sessions at once; further dials are refused (`busy`).
    pub max_sessions: usize,
    /// Bound on every call to the API, NATS request and connect.
    #[serde(with = "bamf_runtime::duration")]
    pub request_timeout: Duration,
    /// How long in-flight work may take to finish after SIGTERM.
    #[serde(with = "bamf_runtime::duration")]
    pub shutdown_grace: Duration,
}

/// One target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    pub name: String,
    /// `ssh`, `postgres`, `http`, `tcp`…
    #[serde(rename = "type")]
    pub kind: String,
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            platform_url: String::new(),
            join_token: None,
            name: String::new(),
            labels: BTreeMap::new(),
            resources: Vec::new(),
            nats_url: "nats://127.0.0.1:4222".into(),
            data_dir: PathBuf::from("/var/lib/bamf-agent"),
            health_listen: SocketAddr::from(([127, 0, 0, 1], 8082)),
            heartbeat_interval: Duration::from_secs(10),
            heartbeat_ttl: Duration::from_secs(30),
            max_sessions: 256,
            request_timeout: Duration::from_secs(10),
            shutdown_grace: bamf_runtime::shutdown::DEFAULT_GRACE,
        }
    }
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: Some(key.into()),
        origin: None,
        message: message.into(),
    }
}

impl AgentConfig {
    /// Loads and validates the config; `file` is the `--config` path, if any.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let config = Self::load_with(file, &|var| std::env::var(var).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Loads without validating; `lookup` resolves `${VAR}` in the file.
    pub fn load_with(
        file: Option<&Path>,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Self::default()));
        let mut origin = None;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::File {
                path: path.to_path_buf(),
                source,
            })?;
            let file_origin = path.display().to_string();
            let mut doc: serde_yaml::Value =
                serde_yaml::from_str(&text).map_err(|e| ConfigError::Invalid {
                    key: None,
                    origin: Some(file_origin.clone()),
                    message: e.to_string(),
                })?;
            if doc.is_null() {
                doc = serde_yaml::Value::Mapping(Default::default());
            }
            expand::expand_value(&mut doc, lookup).map_err(|e| ConfigError::Invalid {
                key: Some(e.key),
                origin: Some(file_origin.clone()),
                message: e.error.to_string(),
            })?;
            let expanded = serde_yaml::to_string(&doc).map_err(|e| ConfigError::Invalid {
                key: None,
                origin: Some(file_origin.clone()),
                message: e.to_string(),
            })?;
            figment = figment.merge(Yaml::string(&expanded));
            origin = Some(file_origin);
        }
        figment
            .merge(Env::prefixed(ENV_PREFIX).split("__"))
            .extract()
            .map_err(|e| bamf_runtime::config::from_figment(e, ENV_PREFIX, origin.as_deref()))
    }

    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = reqwest::Url::parse(&self.platform_url).map_err(|e| {
            invalid(
                "platform_url",
                format!("{e}; set it to the API's URL, e.g. https://bamf.example.com"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(
                "platform_url",
                "must be an http:// or https:// URL",
            ));
        }
        if self.name.is_empty() || self.name.len() > MAX_NAME_LEN {
            return Err(invalid(
                "name",
                format!("must be 1 to {MAX_NAME_LEN} characters"),
            ));
        }
        if self.nats_url.trim().is_empty() {
            return Err(invalid("nats_url", "must not be empty"));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty"));
        }
        validate_labels("labels", &self.labels)?;
        if self.resources.len() > MAX_RESOURCES_PER_AGENT {
            return Err(invalid(
                "resources",
                format!("at most {MAX_RESOURCES_PER_AGENT} resources"),
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, r) in self.resources.iter().enumerate() {
            let key = |field: &str| format!("resources.{i}.{field}");
            validate_resource_name(&r.name)
                .map_err(|e| invalid(key("name"), format!("{:?}: {e}", r.name)))?;
            if !seen.insert(&r.name) {
                return Err(invalid(
                    key("name"),
                    format!("duplicate resource name {:?}", r.name),
                ));
            }
            if validate_token(&r.kind).is_err() || r.kind.len() > 32 {
                return Err(invalid(
                    key("type"),
                    format!(
                        "{:?}: must be 1 to 32 characters of [a-z0-9_-] (ssh, postgres, tcp…)",
                        r.kind
                    ),
                ));
            }
            if r.host.trim().is_empty() {
                return Err(invalid(key("host"), "must not be empty"));
            }
            if r.port == 0 {
                return Err(invalid(key("port"), "must be 1 to 65535"));
            }
            validate_labels(&key("labels"), &r.labels)?;
            if self.resource_labels(r).len() > MAX_RESOURCE_LABELS {
                return Err(invalid(
                    key("labels"),
                    format!("at most {MAX_RESOURCE_LABELS} labels with the agent's own"),
                ));
            }
        }
        if self.heartbeat_interval.is_zero() {
            return Err(invalid("heartbeat_interval", "must be more than 0"));
        }
        if self.heartbeat_ttl < Duration::from_secs(1)
            || self.heartbeat_ttl <= self.heartbeat_interval
        {
            return Err(invalid(
                "heartbeat_ttl",
                "must be at least 1s and longer than heartbeat_interval",
            ));
        }
        if self.max_sessions == 0 {
            return Err(invalid("max_sessions", "must be at least 1"));
        }
        if self.request_timeout.is_zero() {
            return Err(invalid("request_timeout", "must be more than 0"));
        }
        Ok(())
    }

    /// The labels a resource is advertised with: the agent's, then its own.
    pub fn resource_labels(&self, resource: &ResourceConfig) -> BTreeMap<String, String> {
        let mut labels = self.labels.clone();
        labels.extend(resource.labels.clone());
        labels
    }

    /// The join token, if one is set and not empty.
    pub fn join_token(&self) -> Option<&str> {
        self.join_token.as_deref().filter(|t| !t.is_empty())
    }
}

fn validate_labels(key: &str, labels: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    if labels.len() > MAX_RESOURCE_LABELS {
        return Err(invalid(
            key,
            format!("at most {MAX_RESOURCE_LABELS} labels"),
        ));
    }
    for (k, v) in labels {
        validate_label_key(k).map_err(|e| invalid(format!("{key}.{k}"), format!("key: {e}")))?;
        validate_label_value(v)
            .map_err(|e| invalid(format!("{key}.{k}"), format!("value {v:?}: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
platform_url: ${API_URL:-http://127.0.0.1:8080}
join_token: ${JOIN_TOKEN}
name: edge-1
labels: {env: prod}
resources:
  - name: orders-db
    type: postgres
    host: ${DB_HOST}
    port: ${DB_PORT}
    labels: {team: payments}
  - name: web
    type: http
    host: 127.0.0.1
    port: 8080
"#;

    fn env(var: &str) -> Option<String> {
        match var {
            "JOIN_TOKEN" => Some("tok".into()),
            "DB_HOST" => Some("10.0.0.5".into()),
            "DB_PORT" => Some("5432".into()),
            _ => None,
        }
    }

    fn load(text: &str) -> Result<AgentConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.yaml");
        std::fs::write(&path, text).unwrap();
        let config = AgentConfig::load_with(Some(&path), &env)?;
        config.validate()?;
        Ok(config)
    }

    fn key_of(result: Result<AgentConfig, ConfigError>) -> String {
        result.unwrap_err().key().expect("names a key").to_string()
    }

    #[test]
    fn the_go_bamf_shape_loads_with_env_expanded() {
        let config = load(GOOD).unwrap();
        assert_eq!(config.platform_url, "http://127.0.0.1:8080");
        assert_eq!(config.join_token(), Some("tok"));
        assert_eq!(config.resources[0].host, "10.0.0.5");
        assert_eq!(config.resources[0].port, 5432);
        assert_eq!(config.heartbeat_interval, Duration::from_secs(10));
        assert_eq!(config.heartbeat_ttl, Duration::from_secs(30));
        let labels = config.resource_labels(&config.resources[0]);
        assert_eq!(labels.get("env").map(String::as_str), Some("prod"));
        assert_eq!(labels.get("team").map(String::as_str), Some("payments"));
    }

    #[test]
    fn the_example_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("agent.example.yaml");
        let config = AgentConfig::load_with(Some(&path), &|_| None).unwrap();
        config.validate().unwrap();
        assert_eq!(config.join_token(), None);
        assert_eq!(config.resources[1].port, 5432);
        let defaults = AgentConfig::default();
        assert_eq!(
            config.heartbeat_ttl, defaults.heartbeat_ttl,
            "the file shows the defaults"
        );
        assert_eq!(config.max_sessions, defaults.max_sessions);
        assert_eq!(config.data_dir, defaults.data_dir);
    }

    #[test]
    fn an_unset_variable_names_the_variable_and_the_key() {
        let err = load(&GOOD.replace("${DB_HOST}", "${NOT_SET_ANYWHERE}")).unwrap_err();
        assert_eq!(err.key(), Some("resources.0.host"));
        assert!(err.to_string().contains("NOT_SET_ANYWHERE"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        assert_eq!(
            key_of(load(&GOOD.replace("orders-db", "Orders DB"))),
            "resources.0.name"
        );
        assert_eq!(
            key_of(load(&GOOD.replace("name: web", "name: orders-db"))),
            "resources.1.name"
        );
        assert_eq!(
            key_of(load(&GOOD.replace("port: 8080", "port: 0"))),
            "resources.1.port"
        );
        assert_eq!(
            key_of(load(&GOOD.replace("port: 8080", "port: 70000"))),
            "resources.1.port"
        );
        assert_eq!(
            key_of(load(&GOOD.replace("type: http", "type: 'HT TP'"))),
            "resources.1.type"
        );
        assert_eq!(
            key_of(load(&GOOD.replace("team: payments", "Team!: x"))),
            "resources.0.labels.Team!"
        );
        assert_eq!(
            key_of(load(&GOOD.replace("env: prod", "env: 'a b'"))),
            "labels.env"
        );
        assert_eq!(
            key_of(load(&GOOD.replace(
                "platform_url: ${API_URL:-http://127.0.0.1:8080}",
                "platform_url: nope"
            ))),
            "platform_url"
        );
        assert_eq!(
            key_of(load(&GOOD.replace("name: edge-1", "name: ''"))),
            "name"
        );
        assert_eq!(key_of(load(&format!("{GOOD}surprise: 1\n"))), "surprise");
        assert_eq!(
            key_of(load(&format!("{GOOD}heartbeat_ttl: 5s\n"))),
            "heartbeat_ttl"
        );
        assert_eq!(
            key_of(load(&format!("{GOOD}max_sessions: 0\n"))),
            "max_sessions"
        );
    }
}

//! bamf-api's configuration: keys, defaults and validation.
//!
//! Loaded once at start by [`ApiConfig::load`] from defaults, the `--config`
//! file and `BAMF_API_*` environment variables (see `bamf_runtime::config`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bamf_runtime::config::{self, ConfigError, Sources};
use serde::{Deserialize, Serialize};

/// Prefix of bamf-api's environment variables: `BAMF_API_LISTEN`, …
pub const ENV_PREFIX: &str = "BAMF_API_";

/// The audit stream's default retention: 90 days.
pub const DEFAULT_AUDIT_MAX_AGE: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// Keys under [`ENV_PREFIX`] that are not ours: `BAMF_API_URL` is bamfctl's
/// setting and is often exported in the same shell.
const ENV_NOT_OURS: &[&str] = &["url"];

/// Everything bamf-api can be configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address the HTTP API (and `/healthz`, `/readyz`) listens on.
    pub listen: SocketAddr,
    /// NATS server URL, e.g. `nats://127.0.0.1:4222`.
    pub nats_url: String,
    /// PostgreSQL URL for the read models. Required: there is no safe default.
    pub database_url: String,
    /// Directory for the API's own files (the CA key among them); created with
    /// mode 0700 when missing.
    pub data_dir: PathBuf,
    /// Most PostgreSQL connections the read models hold.
    pub database_max_connections: u32,
    /// How long `BAMF_AUDIT` keeps records (e.g. `90d`); applied to the stream
    /// at every start.
    #[serde(with = "bamf_runtime::duration")]
    pub audit_max_age: Duration,
    /// How long in-flight work may take to finish after SIGTERM.
    #[serde(with = "bamf_runtime::duration")]
    pub shutdown_grace: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            nats_url: "nats://127.0.0.1:4222".to_string(),
            database_url: String::new(),
            data_dir: PathBuf::from("data"),
            database_max_connections: 10,
            audit_max_age: DEFAULT_AUDIT_MAX_AGE,
            shutdown_grace: bamf_runtime::shutdown::DEFAULT_GRACE,
        }
    }
}

impl ApiConfig {
    /// Loads and validates the config; `file` is the `--config` path, if any.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let config: ApiConfig = config::load(&Sources {
            env_prefix: ENV_PREFIX,
            env_ignore: ENV_NOT_OURS,
            file,
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            key: Some(key.to_string()),
            origin: None,
            message: message.to_string(),
        };
        if self.database_url.trim().is_empty() {
            return Err(invalid(
                "database_url",
                "missing; set BAMF_API_DATABASE_URL or database_url in the config file",
            ));
        }
        if !self.database_url.starts_with("postgres://")
            && !self.database_url.starts_with("postgresql://")
        {
            return Err(invalid(
                "database_url",
                "must be a postgres:// or postgresql:// URL",
            ));
        }
        if self.nats_url.trim().is_empty() {
            return Err(invalid("nats_url", "must not be empty"));
        }
        if self.database_max_connections == 0 {
            return Err(invalid("database_max_connections", "must be at least 1"));
        }
        if self.audit_max_age < Duration::from_secs(60 * 60) {
            return Err(invalid("audit_max_age", "must be at least 1h"));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty"));
        }
        Ok(())
    }
}

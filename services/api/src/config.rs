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

/// How long the audit search read model keeps records by default: 90 days.
pub const DEFAULT_AUDIT_SEARCH_RETENTION: Duration = Duration::from_secs(90 * 24 * 60 * 60);
/// Shortest audit search retention: a day (retention drops whole days).
pub const MIN_AUDIT_SEARCH_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest audit search retention: 100 years.
pub const MAX_AUDIT_SEARCH_RETENTION: Duration = Duration::from_secs(36_500 * 24 * 60 * 60);

/// How often audit records are sealed by default.
pub const DEFAULT_AUDIT_SEAL_INTERVAL: Duration = Duration::from_secs(60);

/// Default lifetime of a login token: 12 hours.
pub const DEFAULT_LOGIN_TTL: Duration = Duration::from_secs(12 * 60 * 60);

/// Keys under [`ENV_PREFIX`] that are not ours: `BAMF_API_URL` is bamfctl's
/// setting and is often exported in the same shell.
const ENV_NOT_OURS: &[&str] = &["url"];

/// Everything bamf-api can be configured with.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
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
    /// How often the API seals the new `BAMF_AUDIT` records (signed, chained
    /// digests; docs/audit.md). One replica seals per interval.
    #[serde(with = "bamf_runtime::duration")]
    pub audit_seal_interval: Duration,
    /// How long the audit search (`GET /audit`, the `audit_records` read
    /// model) keeps records (e.g. `90d`, at least `1d`); older day partitions
    /// are dropped every hour. `BAMF_AUDIT` itself keeps `audit_max_age`.
    #[serde(with = "bamf_runtime::duration")]
    pub audit_search_retention: Duration,
    /// How long in-flight work may take to finish after SIGTERM.
    #[serde(with = "bamf_runtime::duration")]
    pub shutdown_grace: Duration,
    /// Lifetime of a login token when the caller asks for none.
    #[serde(with = "bamf_runtime::duration")]
    pub login_ttl: Duration,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// E-mail of the first admin, created on first start when no user exists.
    pub admin_email: String,
    /// Password of the first admin. Empty: one is generated and printed once.
    pub admin_password: String,
    /// Failed-login window for the rate limits below.
    #[serde(with = "bamf_runtime::duration")]
    pub login_failure_window: Duration,
    /// Failed logins allowed per source address within the window.
    pub login_max_failures_per_source: usize,
    /// Failed logins allowed per account within the window.
    pub login_max_failures_per_account: usize,
    /// How long a request waits for this replica's projection to reach a
    /// sequence (read-your-writes, catching up before a decision).
    #[serde(with = "bamf_runtime::duration")]
    pub projection_wait: Duration,
    /// How long `POST /connect` waits for the agent at each step of its dial
    /// (its CSR, then nothing more: the certificate is sent, not awaited).
    #[serde(with = "bamf_runtime::duration")]
    pub dial_timeout: Duration,
    /// The secret a bridge presents, once, to obtain its first certificate
    /// (`POST /bridges/enroll`); at least 32 characters. Empty: bridges
    /// can't enrol through the API (they then use certificate files).
    pub bridge_bootstrap_token: String,
}

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "<redacted>"
        })
    }
}

/// Prints a secret from the config as `<redacted>` in `Debug` output.
struct Redacted<'a>(&'a str);

/// Shortest `bridge_bootstrap_token` accepted.
pub const MIN_BRIDGE_TOKEN_CHARS: usize = 32;

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            nats_url: "nats://127.0.0.1:4222".to_string(),
            database_url: String::new(),
            data_dir: PathBuf::from("data"),
            database_max_connections: 10,
            audit_max_age: DEFAULT_AUDIT_MAX_AGE,
            audit_seal_interval: DEFAULT_AUDIT_SEAL_INTERVAL,
            audit_search_retention: DEFAULT_AUDIT_SEARCH_RETENTION,
            shutdown_grace: bamf_runtime::shutdown::DEFAULT_GRACE,
            login_ttl: DEFAULT_LOGIN_TTL,
            max_body_bytes: 64 * 1024,
            admin_email: "admin@bamf.local".to_string(),
            admin_password: String::new(),
            login_failure_window: Duration::from_secs(15 * 60),
            login_max_failures_per_source: 20,
            login_max_failures_per_account: 10,
            projection_wait: Duration::from_secs(5),
            dial_timeout: Duration::from_secs(10),
            bridge_bootstrap_token: String::new(),
        }
    }
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the admin password (the database URL may hold one too).
        f.debug_struct("ApiConfig")
            .field("listen", &self.listen)
            .field("nats_url", &self.nats_url)
            .field("database_url", &"<redacted>")
            .field("data_dir", &self.data_dir)
            .field("database_max_connections", &self.database_max_connections)
            .field("audit_max_age", &self.audit_max_age)
            .field("audit_seal_interval", &self.audit_seal_interval)
            .field("audit_search_retention", &self.audit_search_retention)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("login_ttl", &self.login_ttl)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("admin_email", &self.admin_email)
            .field("admin_password", &Redacted(&self.admin_password))
            .field("login_failure_window", &self.login_failure_window)
            .field(
                "login_max_failures_per_source",
                &self.login_max_failures_per_source,
            )
            .field(
                "login_max_failures_per_account",
                &self.login_max_failures_per_account,
            )
            .field("projection_wait", &self.projection_wait)
            .field("dial_timeout", &self.dial_timeout)
            .field(
                "bridge_bootstrap_token",
                &Redacted(&self.bridge_bootstrap_token),
            )
            .finish()
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
        if self.audit_seal_interval < Duration::from_millis(100)
            || self.audit_seal_interval > Duration::from_secs(24 * 3600)
        {
            return Err(invalid(
                "audit_seal_interval",
                "must be between 100ms and 24h",
            ));
        }
        if self.audit_search_retention < MIN_AUDIT_SEARCH_RETENTION
            || self.audit_search_retention > MAX_AUDIT_SEARCH_RETENTION
        {
            return Err(invalid(
                "audit_search_retention",
                "must be between 1d and 36500d",
            ));
        }
        if self.login_ttl < Duration::from_secs(60)
            || self.login_ttl > Duration::from_secs(30 * 86_400)
        {
            return Err(invalid("login_ttl", "must be between 1m and 30d"));
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.max_body_bytes) {
            return Err(invalid(
                "max_body_bytes",
                "must be between 1024 and 16777216",
            ));
        }
        if bamf_domain::control::identity::normalize_email(&self.admin_email).is_err() {
            return Err(invalid("admin_email", "must be an e-mail address"));
        }
        if !self.admin_password.is_empty() && self.admin_password.chars().count() < 12 {
            return Err(invalid(
                "admin_password",
                "must be at least 12 characters (or empty to generate one)",
            ));
        }
        let bridge_token = self.bridge_bootstrap_token.chars().count();
        if bridge_token > 0
            && (bridge_token < MIN_BRIDGE_TOKEN_CHARS
                || self.bridge_bootstrap_token.chars().any(char::is_control))
        {
            return Err(invalid(
                "bridge_bootstrap_token",
                "must be at least 32 characters without control characters (or empty to turn bridge enrolment off); e.g. openssl rand -hex 32",
            ));
        }
        if self.login_failure_window.is_zero()
            || self.login_max_failures_per_source == 0
            || self.login_max_failures_per_account == 0
        {
            return Err(invalid(
                "login_failure_window",
                "the window and both limits must be positive",
            ));
        }
        if self.projection_wait.is_zero() {
            return Err(invalid("projection_wait", "must be positive"));
        }
        if self.dial_timeout.is_zero() {
            return Err(invalid("dial_timeout", "must be positive"));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> ApiConfig {
        ApiConfig {
            database_url: "postgres://postgres@127.0.0.1/test".into(),
            ..ApiConfig::default()
        }
    }

    #[test]
    fn the_audit_search_retention_is_checked_and_named() {
        assert_eq!(
            valid().audit_search_retention,
            Duration::from_secs(90 * 86_400)
        );
        for ok in [MIN_AUDIT_SEARCH_RETENTION, MAX_AUDIT_SEARCH_RETENTION] {
            let config = ApiConfig {
                audit_search_retention: ok,
                ..valid()
            };
            assert!(config.validate().is_ok(), "{ok:?}");
        }
        for bad in [
            Duration::from_secs(23 * 3600),
            MAX_AUDIT_SEARCH_RETENTION + Duration::from_secs(1),
        ] {
            let config = ApiConfig {
                audit_search_retention: bad,
                ..valid()
            };
            match config.validate() {
                Err(ConfigError::Invalid { key, message, .. }) => {
                    assert_eq!(key.as_deref(), Some("audit_search_retention"));
                    assert!(message.contains("1d"), "{message}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}

//! bamf-bridge's configuration: keys and defaults.
//!
//! Loaded once at start by [`BridgeConfig::load`] from defaults, the
//! `--config` file and `BAMF_BRIDGE_*` environment variables (see
//! `bamf_runtime::config`), then checked by [`BridgeConfig::validate`].
//!
//! The bridge's 24 h server certificate comes from the API (`api_url`): the
//! first time with `bootstrap_token`, then renewed with the certificate
//! itself, kept in `data_dir`. Or, with `api_url` empty, from files
//! (`cert_file`, `key_file`, `ca_file`) managed by the operator (read once
//! at start).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bamf_runtime::config::{self, ConfigError, Sources};
use serde::{Deserialize, Serialize};

/// Prefix of bamf-bridge's environment variables: `BAMF_BRIDGE_HEALTH_LISTEN`, …
pub const ENV_PREFIX: &str = "BAMF_BRIDGE_";

/// Everything bamf-bridge can be configured with.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BridgeConfig {
    /// Address of the HTTP health endpoint (`/healthz`, `/readyz`).
    pub health_listen: SocketAddr,
    /// How long in-flight work may take to finish after SIGTERM.
    #[serde(with = "bamf_runtime::duration")]
    pub shutdown_grace: Duration,
    /// This bridge's id (lowercase `[a-z0-9_-]`); session certificates must name it.
    pub bridge_id: String,
    /// UDP address of the QUIC listener.
    pub quic_listen: SocketAddr,
    /// `host:port` clients and agents dial, announced in heartbeats.
    pub advertise_address: String,
    /// DNS name of the bridge certificate to verify it by, announced in heartbeats.
    pub server_name: String,
    /// Base URL of bamf-api (`https://bamf.corp.example`): the bridge enrols
    /// there and renews its certificate. Empty: use the certificate files.
    pub api_url: String,
    /// The API's `bridge_bootstrap_token`, needed only while `data_dir` holds
    /// no certificate yet (or an expired one).
    #[serde(serialize_with = "redacted")]
    pub bootstrap_token: String,
    /// Where the bridge keeps its key (0600) and certificate from the API.
    pub data_dir: PathBuf,
    /// How long each call to the API may take.
    #[serde(with = "bamf_runtime::duration")]
    pub api_timeout: Duration,
    /// PEM certificate of this bridge (profile `bridge`, names `bridge_id`),
    /// when `api_url` is empty.
    pub cert_file: PathBuf,
    /// PEM private key of `cert_file`.
    pub key_file: PathBuf,
    /// PEM certificate of the bamf CA that signs session certificates.
    pub ca_file: PathBuf,
    /// NATS server URL (events, heartbeats, commands).
    pub nats_url: String,
    /// How long the first side of a session waits for the other.
    #[serde(with = "bamf_runtime::duration")]
    pub pairing_hold: Duration,
    /// A paired session with no open stream (TCP connection) for this long
    /// is closed; also the QUIC idle timeout that detects a silent peer.
    #[serde(with = "bamf_runtime::duration")]
    pub idle_timeout: Duration,
    /// Most concurrent streams (TCP connections) per session.
    pub max_streams_per_session: u32,
    /// Most sessions waiting for their other side at once.
    pub max_pending: usize,
    /// Most session events kept while NATS is unreachable (oldest dropped beyond).
    pub max_outbox: usize,
    /// Longest wait for BAMF_EVENTS to ack a session event before it is retried.
    #[serde(with = "bamf_runtime::duration")]
    pub event_ack_timeout: Duration,
    /// How often a heartbeat is published.
    #[serde(with = "bamf_runtime::duration")]
    pub heartbeat_interval: Duration,
    /// How long a heartbeat keeps the bridge alive (`Nats-TTL`, whole seconds).
    #[serde(with = "bamf_runtime::duration")]
    pub heartbeat_ttl: Duration,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            health_listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            shutdown_grace: bamf_runtime::shutdown::DEFAULT_GRACE,
            bridge_id: String::new(),
            quic_listen: SocketAddr::from(([0, 0, 0, 0], 4433)),
            advertise_address: String::new(),
            server_name: String::new(),
            api_url: String::new(),
            bootstrap_token: String::new(),
            data_dir: PathBuf::from("data"),
            api_timeout: Duration::from_secs(10),
            cert_file: PathBuf::new(),
            key_file: PathBuf::new(),
            ca_file: PathBuf::new(),
            nats_url: "nats://127.0.0.1:4222".into(),
            pairing_hold: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_streams_per_session: 256,
            max_pending: 10_000,
            max_outbox: 10_000,
            event_ack_timeout: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(5),
            heartbeat_ttl: Duration::from_secs(15),
        }
    }
}

impl BridgeConfig {
    /// Loads and validates the config; `file` is the `--config` path, if any.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let config: BridgeConfig = config::load(&Sources {
            env_prefix: ENV_PREFIX,
            env_ignore: &[],
            file,
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what the types alone can't, naming the key at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            key: Some(key.to_string()),
            origin: None,
            message: message.to_string(),
        };
        let id_ok = !self.bridge_id.is_empty()
            && self.bridge_id.len() <= 64
            && self
                .bridge_id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(invalid(
                "bridge_id",
                "missing or invalid; 1 to 64 characters of [a-z0-9_-]",
            ));
        }
        if self.advertise_address.trim().is_empty() {
            return Err(invalid(
                "advertise_address",
                "missing; e.g. bridge.corp.example:4433",
            ));
        }
        if self.server_name.trim().is_empty() {
            return Err(invalid(
                "server_name",
                "missing; a DNS name of the bridge certificate",
            ));
        }
        if self.api_url.trim().is_empty() {
            for (key, path) in [
                ("cert_file", &self.cert_file),
                ("key_file", &self.key_file),
                ("ca_file", &self.ca_file),
            ] {
                if path.as_os_str().is_empty() {
                    return Err(invalid(
                        key,
                        "missing; path to a PEM file (or set api_url to get the certificate from the API)",
                    ));
                }
            }
        } else {
            let url = self.api_url.trim();
            let host = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))
                .unwrap_or("");
            if host.is_empty() || host.starts_with('/') || url.chars().any(char::is_whitespace) {
                return Err(invalid(
                    "api_url",
                    "must be an http:// or https:// URL, e.g. https://bamf.corp.example",
                ));
            }
            if self.data_dir.as_os_str().is_empty() {
                return Err(invalid(
                    "data_dir",
                    "missing; a folder for the bridge's key and certificate",
                ));
            }
            if self.bootstrap_token.chars().any(char::is_control) {
                return Err(invalid(
                    "bootstrap_token",
                    "holds control characters; copy the API's bridge_bootstrap_token exactly",
                ));
            }
            if self.api_timeout.is_zero() {
                return Err(invalid("api_timeout", "must be more than 0"));
            }
        }
        if self.nats_url.trim().is_empty() {
            return Err(invalid("nats_url", "must not be empty"));
        }
        if self.pairing_hold.is_zero() {
            return Err(invalid("pairing_hold", "must be more than 0"));
        }
        if self.idle_timeout < Duration::from_secs(1) {
            return Err(invalid("idle_timeout", "must be at least 1s"));
        }
        if self.max_streams_per_session == 0 {
            return Err(invalid("max_streams_per_session", "must be at least 1"));
        }
        if self.max_pending == 0 {
            return Err(invalid("max_pending", "must be at least 1"));
        }
        if self.max_outbox == 0 {
            return Err(invalid("max_outbox", "must be at least 1"));
        }
        if self.event_ack_timeout.is_zero() {
            return Err(invalid("event_ack_timeout", "must be more than 0"));
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
        Ok(())
    }
}

/// Serializes a secret as `<redacted>` (when a config is printed).
fn redacted<S: serde::Serializer>(secret: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(if secret.is_empty() { "" } else { "<redacted>" })
}

impl std::fmt::Debug for BridgeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Every key, in order, with the bootstrap token redacted.
        let value = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
        write!(f, "BridgeConfig {value}")
    }
}

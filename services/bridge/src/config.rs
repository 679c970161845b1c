//! bamf-bridge's configuration: keys and defaults.
//!
//! Loaded once at start by [`BridgeConfig::load`] from defaults, the
//! `--config` file and `BAMF_BRIDGE_*` environment variables (see
//! `bamf_runtime::config`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bamf_runtime::config::{self, ConfigError, Sources};
use serde::{Deserialize, Serialize};

/// Prefix of bamf-bridge's environment variables: `BAMF_BRIDGE_HEALTH_LISTEN`, …
pub const ENV_PREFIX: &str = "BAMF_BRIDGE_";

/// Everything bamf-bridge can be configured with (so far).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BridgeConfig {
    /// Address of the HTTP health endpoint (`/healthz`, `/readyz`).
    pub health_listen: SocketAddr,
    /// How long in-flight work may take to finish after SIGTERM.
    #[serde(with = "bamf_runtime::duration")]
    pub shutdown_grace: Duration,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            health_listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            shutdown_grace: bamf_runtime::shutdown::DEFAULT_GRACE,
        }
    }
}

impl BridgeConfig {
    /// Loads the config; `file` is the `--config` path, if any.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        config::load(&Sources {
            env_prefix: ENV_PREFIX,
            env_ignore: &[],
            file,
        })
    }
}

//! bamf-bridge: QUIC on a loopback UDP port, its certificate from the
//! stack's API (enrolled with the stack's bootstrap token on the first start,
//! then kept and renewed in its data dir).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use tokio::process::Command;

use crate::child::Managed;

/// The stack's one bridge.
pub const BRIDGE_ID: &str = "local";
/// The name clients verify the bridge certificate by; the certificate also
/// carries 127.0.0.1, the host of the advertised address.
pub const SERVER_NAME: &str = "localhost";
/// How long the bridge may take to enrol and listen.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Where and how the bridge runs.
pub struct Settings<'a> {
    pub bin: &'a Path,
    pub data_dir: &'a Path,
    pub log: &'a Path,
    pub api_url: &'a str,
    pub bootstrap_token: &'a str,
    pub nats_url: &'a str,
    /// UDP, also the address clients and the agent dial.
    pub quic: SocketAddr,
    pub health: SocketAddr,
}

/// Starts bamf-bridge; see [`wait_ready`].
pub fn spawn(s: &Settings<'_>) -> Result<Managed> {
    let mut command = Command::new(s.bin);
    command
        .env("BAMF_BRIDGE_BRIDGE_ID", BRIDGE_ID)
        .env("BAMF_BRIDGE_QUIC_LISTEN", s.quic.to_string())
        .env("BAMF_BRIDGE_ADVERTISE_ADDRESS", s.quic.to_string())
        .env("BAMF_BRIDGE_SERVER_NAME", SERVER_NAME)
        .env("BAMF_BRIDGE_API_URL", s.api_url)
        .env("BAMF_BRIDGE_BOOTSTRAP_TOKEN", s.bootstrap_token)
        .env("BAMF_BRIDGE_DATA_DIR", s.data_dir)
        .env("BAMF_BRIDGE_NATS_URL", s.nats_url)
        .env("BAMF_BRIDGE_HEALTH_LISTEN", s.health.to_string())
        .env("BAMF_LOG_FORMAT", "text");
    Managed::spawn("bamf-bridge", command, s.log)
}

/// Waits until the bridge's `/readyz` answers 200: enrolled and listening,
/// its heartbeats started.
pub async fn wait_ready(bridge: &mut Managed, s: &Settings<'_>) -> Result<()> {
    bridge
        .wait_http_ok(s.health, "/readyz", READY_TIMEOUT)
        .await
}

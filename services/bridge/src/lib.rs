//! bamf-bridge: the bridge (ARCHITECTURE §1): the QUIC listener that verifies
//! session certificates against the CA, pairs client and agent by session id and
//! splices their streams. It never talks to PostgreSQL or the API.
//!
//! For now the program starts, serves its health endpoint, and stops cleanly.
//! [`run`] is what both `main.rs` and the tests call, the latter on a listener
//! bound to port 0. Layout: `config.rs` keys and defaults, `pairing.rs` the
//! pairing rules as a pure state machine.

pub mod config;
pub mod pairing;

pub use config::BridgeConfig;

use bamf_runtime::{health, Shutdown};
use tokio::net::TcpListener;

/// Runs bamf-bridge with its health endpoint on `health` until `shutdown` is
/// triggered, then drains within the grace period.
pub async fn run(
    _config: BridgeConfig,
    health: TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    health::run_health_only("bamf-bridge", health, shutdown).await
}

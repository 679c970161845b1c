//! The heartbeat follower: keeps this replica's [`HeartbeatTable`] (the
//! resource catalog's live half) from `BAMF_HEARTBEATS`. A beat puts an agent
//! online until its TTL; the server's delete marker when the TTL runs out
//! takes it offline — no polling. Joined and deleted agents come from the
//! control projection; the two are joined at query time.

use std::time::Duration;

use bamf_domain::control::heartbeats::{Applied, HeartbeatTable};
use bamf_events::heartbeat::{HeartbeatFeed, HeartbeatItem};
use bamf_events::{jetstream, FeedError};

use crate::follow::Follower;
use tracing::{debug, warn};

/// Liveness of a heartbeat that carried no TTL.
pub const FALLBACK_TTL: Duration = Duration::from_secs(30);

/// The running agent-heartbeat follower.
pub type CatalogFollower = Follower<HeartbeatTable>;

impl Follower<HeartbeatTable> {
    /// Opens the feed (the current beat of every agent first) and follows it.
    pub async fn start(js: &jetstream::Context) -> Result<Self, FeedError> {
        let feed = HeartbeatFeed::open(js, FALLBACK_TTL).await?;
        Ok(Follower::spawn(feed, "agent heartbeats", apply))
    }
}

fn apply(table: &mut HeartbeatTable, item: HeartbeatItem) {
    match item {
        HeartbeatItem::Beat {
            agent_id,
            heartbeat,
            received_at,
            expires_at,
        } => match table.apply_beat(heartbeat, received_at, expires_at) {
            Applied::IgnoredInvalid(e) => {
                warn!(agent = %agent_id, error = %e, "invalid heartbeat ignored")
            }
            other => debug!(agent = %agent_id, outcome = ?other, "heartbeat"),
        },
        HeartbeatItem::Gone { agent_id, reason } => {
            if table.apply_gone(&agent_id) {
                tracing::info!(agent = %agent_id, %reason, "agent went offline");
            }
        }
        HeartbeatItem::Invalid { subject, reason } => {
            warn!(%subject, %reason, "message on the heartbeat stream ignored");
        }
    }
}

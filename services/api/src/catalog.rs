//! The heartbeat follower: keeps this replica's [`HeartbeatTable`] (the
//! resource catalog's live half) from `BAMF_HEARTBEATS`. A beat puts an agent
//! online until its TTL; the server's delete marker when the TTL runs out
//! takes it offline — no polling. Joined and deleted agents come from the
//! control projection; the two are joined at query time.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bamf_domain::control::heartbeats::{Applied, HeartbeatTable};
use bamf_events::heartbeat::{HeartbeatFeed, HeartbeatItem};
use bamf_events::{jetstream, FeedError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// Liveness of a heartbeat that carried no TTL.
pub const FALLBACK_TTL: Duration = Duration::from_secs(30);

/// A running follower.
pub struct CatalogFollower {
    table: Arc<RwLock<HeartbeatTable>>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl CatalogFollower {
    /// Opens the feed (the current beat of every agent first) and follows it.
    pub async fn start(js: &jetstream::Context) -> Result<Self, FeedError> {
        let feed = HeartbeatFeed::open(js, FALLBACK_TTL).await?;
        let table = Arc::new(RwLock::new(HeartbeatTable::default()));
        let cancel = CancellationToken::new();
        let task = tokio::spawn(follow(feed, Arc::clone(&table), cancel.clone()));
        Ok(CatalogFollower {
            table,
            cancel,
            task,
        })
    }

    /// The table, shared with the handlers.
    pub fn table(&self) -> Arc<RwLock<HeartbeatTable>> {
        Arc::clone(&self.table)
    }

    /// Stops following.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}

async fn follow(
    mut feed: HeartbeatFeed,
    table: Arc<RwLock<HeartbeatTable>>,
    cancel: CancellationToken,
) {
    loop {
        let item = tokio::select! {
            _ = cancel.cancelled() => return,
            item = feed.next() => item,
        };
        match item {
            Some(Ok(item)) => apply(&table, item),
            Some(Err(error)) => {
                // The ordered consumer recreates itself; a read error is transient.
                warn!(error = %error, "heartbeat feed read failed");
            }
            None => {
                warn!("heartbeat feed ended");
                return;
            }
        }
    }
}

fn apply(table: &RwLock<HeartbeatTable>, item: HeartbeatItem) {
    let mut table = table.write().unwrap_or_else(|e| e.into_inner());
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

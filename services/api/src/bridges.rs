//! The bridge follower: keeps this replica's [`BridgeTable`] — which bridges
//! are live, where they listen and how loaded they are — from
//! `bamf.hb.bridge.>` on `BAMF_HEARTBEATS`, like [`crate::catalog`] does for
//! agents. A beat makes a bridge live until its TTL; the server's delete
//! marker when the TTL runs out takes it away at once.
//!
//! Choosing a bridge ([`BridgeTable::pick`]) is a pure function of the table
//! and the clock, tested without NATS.

use std::collections::BTreeMap;
use std::time::Duration;

use bamf_domain::tunnel::BridgeHeartbeat;
use bamf_domain::{AggregateId, Timestamp};
use bamf_events::bridge_heartbeat::{BridgeHeartbeatFeed, BridgeHeartbeatItem};
use bamf_events::{jetstream, FeedError};

use crate::follow::Follower;
use tracing::{debug, info, warn};

/// Liveness of a bridge heartbeat that carried no TTL.
pub const FALLBACK_TTL: Duration = Duration::from_secs(30);

/// A bridge's latest heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveBridge {
    pub heartbeat: BridgeHeartbeat,
    /// The stream's clock when it stored the heartbeat.
    pub received_at: Timestamp,
    /// When the stream expires it.
    pub expires_at: Timestamp,
}

impl LiveBridge {
    /// Sessions on it now, paired or waiting for their other side.
    pub fn load(&self) -> u64 {
        u64::from(self.heartbeat.sessions) + u64::from(self.heartbeat.pending)
    }
}

/// The latest heartbeat of every bridge that has one in the stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeTable {
    pub bridges: BTreeMap<AggregateId, LiveBridge>,
}

impl BridgeTable {
    /// Folds in a beat; a beat not newer than the held one on both clocks
    /// (replayed or reordered) is ignored. Returns whether it was stored.
    pub fn apply_beat(
        &mut self,
        heartbeat: BridgeHeartbeat,
        received_at: Timestamp,
        expires_at: Timestamp,
    ) -> bool {
        if let Some(held) = self.bridges.get(&heartbeat.bridge_id) {
            if heartbeat.sent_at <= held.heartbeat.sent_at && received_at <= held.received_at {
                return false;
            }
        }
        self.bridges.insert(
            heartbeat.bridge_id.clone(),
            LiveBridge {
                heartbeat,
                received_at,
                expires_at,
            },
        );
        true
    }

    /// Folds in the delete marker of a bridge's subject.
    pub fn apply_gone(&mut self, bridge_id: &AggregateId) -> bool {
        self.bridges.remove(bridge_id).is_some()
    }

    /// The least-loaded bridge that is live at `now` and not draining; ties go
    /// to the smaller id, so replicas agree.
    pub fn pick(&self, now: Timestamp) -> Option<&LiveBridge> {
        self.bridges
            .values()
            .filter(|b| b.expires_at > now && !b.heartbeat.draining)
            .min_by_key(|b| (b.load(), b.heartbeat.bridge_id.clone()))
    }
}

/// The running bridge-heartbeat follower.
pub type BridgeFollower = Follower<BridgeTable>;

impl Follower<BridgeTable> {
    /// Opens the feed (the current beat of every bridge first) and follows it.
    pub async fn start(js: &jetstream::Context) -> Result<Self, FeedError> {
        let feed = BridgeHeartbeatFeed::open(js, FALLBACK_TTL).await?;
        Ok(Follower::spawn(feed, "bridge heartbeats", apply))
    }
}

fn apply(table: &mut BridgeTable, item: BridgeHeartbeatItem) {
    match item {
        BridgeHeartbeatItem::Beat {
            bridge_id,
            heartbeat,
            received_at,
            expires_at,
        } => {
            let stored = table.apply_beat(heartbeat, received_at, expires_at);
            debug!(bridge = %bridge_id, stored, "bridge heartbeat");
        }
        BridgeHeartbeatItem::Gone { bridge_id, reason } => {
            if table.apply_gone(&bridge_id) {
                info!(bridge = %bridge_id, %reason, "bridge went away");
            }
        }
        BridgeHeartbeatItem::Invalid { subject, reason } => {
            warn!(%subject, %reason, "message on the bridge heartbeat stream ignored");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000_000;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_unix_micros(T0 + secs * 1_000_000)
    }

    fn beat(id: &str, sessions: u32, pending: u32, draining: bool, sent: i64) -> BridgeHeartbeat {
        BridgeHeartbeat {
            bridge_id: AggregateId::new(id).unwrap(),
            sent_at: at(sent),
            address: "127.0.0.1:4433".into(),
            server_name: "bridge.local".into(),
            sessions,
            pending,
            draining,
        }
    }

    #[test]
    fn the_least_loaded_live_bridge_that_is_not_draining_is_picked() {
        let mut table = BridgeTable::default();
        table.apply_beat(beat("b1", 5, 0, false, 0), at(0), at(30));
        table.apply_beat(beat("b2", 1, 1, false, 0), at(0), at(30));
        table.apply_beat(beat("b3", 0, 0, true, 0), at(0), at(30));
        table.apply_beat(beat("b4", 0, 0, false, 0), at(0), at(5));
        let picked = |now| {
            table
                .pick(at(now))
                .map(|b| b.heartbeat.bridge_id.to_string())
        };
        // b4 is emptiest while live; b3 drains.
        assert_eq!(picked(1).as_deref(), Some("b4"));
        // Once b4's TTL has run out, sessions + pending decide: b2 (2) over b1 (5).
        assert_eq!(picked(5).as_deref(), Some("b2"));
        assert_eq!(picked(30), None);
    }

    #[test]
    fn stale_beats_are_ignored_and_markers_remove() {
        let mut table = BridgeTable::default();
        assert!(table.apply_beat(beat("b1", 1, 0, false, 10), at(10), at(40)));
        assert!(!table.apply_beat(beat("b1", 9, 0, false, 5), at(5), at(35)));
        assert_eq!(table.bridges.values().next().unwrap().load(), 1);
        assert!(table.apply_gone(&AggregateId::new("b1").unwrap()));
        assert!(table.pick(at(11)).is_none());
    }
}

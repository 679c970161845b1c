//! Following a heartbeat feed into a shared table: the loop the agent catalog
//! and the bridge table both run. A read error is logged and the loop goes on
//! (the ordered consumer recreates itself); the loop ends on stop or when the
//! feed does.

use std::future::Future;
use std::sync::{Arc, RwLock};

use bamf_events::bridge_heartbeat::{BridgeHeartbeatFeed, BridgeHeartbeatItem};
use bamf_events::heartbeat::{HeartbeatFeed, HeartbeatItem};
use bamf_events::FeedError;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// A feed of items to fold into a table.
pub trait Source: Send + 'static {
    type Item: Send;
    /// The next item; `None` when the feed ends.
    fn next(&mut self) -> impl Future<Output = Option<Result<Self::Item, FeedError>>> + Send;
}

impl Source for HeartbeatFeed {
    type Item = HeartbeatItem;
    fn next(&mut self) -> impl Future<Output = Option<Result<HeartbeatItem, FeedError>>> + Send {
        HeartbeatFeed::next(self)
    }
}

impl Source for BridgeHeartbeatFeed {
    type Item = BridgeHeartbeatItem;
    fn next(
        &mut self,
    ) -> impl Future<Output = Option<Result<BridgeHeartbeatItem, FeedError>>> + Send {
        BridgeHeartbeatFeed::next(self)
    }
}

/// A table kept by a running follow loop.
pub struct Follower<T> {
    table: Arc<RwLock<T>>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl<T: Default + Send + Sync + 'static> Follower<T> {
    /// Follows `source`, folding each item into the table with `apply`.
    /// `name` names the feed in log lines.
    pub fn spawn<S: Source>(source: S, name: &'static str, apply: fn(&mut T, S::Item)) -> Self {
        let table = Arc::new(RwLock::new(T::default()));
        let cancel = CancellationToken::new();
        let task = tokio::spawn(follow(
            source,
            name,
            apply,
            Arc::clone(&table),
            cancel.clone(),
        ));
        Follower {
            table,
            cancel,
            task,
        }
    }

    /// The table, shared with the handlers.
    pub fn table(&self) -> Arc<RwLock<T>> {
        Arc::clone(&self.table)
    }

    /// Stops following.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}

async fn follow<T, S: Source>(
    mut source: S,
    name: &'static str,
    apply: fn(&mut T, S::Item),
    table: Arc<RwLock<T>>,
    cancel: CancellationToken,
) {
    loop {
        let item = tokio::select! {
            _ = cancel.cancelled() => return,
            item = source.next() => item,
        };
        match item {
            Some(Ok(item)) => apply(&mut table.write().unwrap_or_else(|e| e.into_inner()), item),
            Some(Err(error)) => warn!(error = %error, feed = name, "feed read failed"),
            None => {
                warn!(feed = name, "feed ended");
                return;
            }
        }
    }
}

//! Runs a [`PgProjection`]: each event and the checkpoint in one transaction.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bamf_domain::Envelope;
use bamf_events::feed::{Feed, FeedError, FeedItem};
use bamf_events::parked::error_chain;
use bamf_events::streams::EVENTS_STREAM;
use bamf_events::{jetstream, Parked, WaitTimeout};
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::checkpoint;

/// A projection into PostgreSQL tables.
pub trait PgProjection: Send + Sync + 'static {
    /// Checkpoint name (unique per projection).
    fn name(&self) -> &'static str;

    /// The tables it owns: emptied by a rebuild.
    fn tables(&self) -> &'static [&'static str];

    /// The stream it follows: `BAMF_EVENTS` unless it says otherwise (the
    /// audit search read model follows `BAMF_AUDIT`).
    fn stream(&self) -> &'static str {
        EVENTS_STREAM
    }

    /// Writes the rows for one event inside the caller's transaction. An error
    /// rolls the event back (rows and checkpoint) and stops the runner.
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        seq: u64,
        envelope: &'a Envelope,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;

    /// [`PgProjection::apply`] with the message's payload as stored, for a
    /// projection that keeps it verbatim (the runner always calls this one).
    fn apply_message<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        seq: u64,
        envelope: &'a Envelope,
        payload: &'a [u8],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a {
        let _ = payload;
        self.apply(tx, seq, envelope)
    }
}

/// Read-model errors.
#[derive(Debug, thiserror::Error)]
pub enum ReadModelError {
    #[error("read model {projection}: database error")]
    Database {
        projection: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error("read model {0}: the event feed ended")]
    FeedEnded(&'static str),
    #[error("read model task panicked or was aborted")]
    Task,
}

/// A running Postgres projection.
pub struct PgRunner {
    applied: watch::Receiver<u64>,
    cancel: CancellationToken,
    task: JoinHandle<Result<(), ReadModelError>>,
}

impl PgRunner {
    /// Resumes `projection` from its checkpoint and follows its stream.
    pub async fn start<P: PgProjection>(
        pool: PgPool,
        js: &jetstream::Context,
        projection: P,
    ) -> Result<Self, ReadModelError> {
        let (feed, from) = open(&pool, js, &projection).await?;
        let (tx, applied) = watch::channel(from);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(follow(
            pool,
            feed,
            Arc::new(projection),
            tx,
            cancel.clone(),
            None,
        ));
        Ok(PgRunner {
            applied,
            cancel,
            task,
        })
    }

    /// The last sequence committed.
    pub fn applied_seq(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Read-your-writes: waits until `seq` is committed, at most `timeout`.
    pub async fn wait_for(&self, seq: u64, timeout: Duration) -> Result<(), WaitTimeout> {
        let mut rx = self.applied.clone();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|a| *a >= seq))
            .await
            .map(|r| r.is_ok());
        match reached {
            Ok(true) => Ok(()),
            _ => Err(WaitTimeout {
                wanted: seq,
                reached: self.applied_seq(),
                timeout,
            }),
        }
    }

    /// Whether the task has ended (an apply error stops it).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops after the event in progress and returns how the task ended.
    pub async fn stop(self) -> Result<(), ReadModelError> {
        self.cancel.cancel();
        self.task.await.map_err(|_| ReadModelError::Task)?
    }

    /// Kills the task wherever it is (an open transaction is rolled back).
    pub async fn abort(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Applies events until the checkpoint reaches `until`, then returns the
/// number of events handled (used by rebuild).
pub(crate) async fn catch_up<P: PgProjection>(
    pool: &PgPool,
    js: &jetstream::Context,
    projection: P,
    until: u64,
) -> Result<u64, ReadModelError> {
    let (feed, from) = open(pool, js, &projection).await?;
    if from >= until {
        return Ok(0);
    }
    let (tx, _rx) = watch::channel(from);
    follow(
        pool.clone(),
        feed,
        Arc::new(projection),
        tx,
        CancellationToken::new(),
        Some(until),
    )
    .await?;
    Ok(until - from)
}

async fn open<P: PgProjection>(
    pool: &PgPool,
    js: &jetstream::Context,
    projection: &P,
) -> Result<(Feed, u64), ReadModelError> {
    let name = projection.name();
    let db = |source| ReadModelError::Database {
        projection: name,
        source,
    };
    checkpoint::ensure(pool, name).await.map_err(db)?;
    let from = checkpoint::checkpoint(pool, name).await.map_err(db)?;
    let stream = projection.stream();
    let feed = Feed::open(js, stream, None, from + 1).await?;
    tracing::info!(projection = name, stream, from, "read model resumed");
    Ok((feed, from))
}

async fn follow<P: PgProjection>(
    pool: PgPool,
    mut feed: Feed,
    projection: Arc<P>,
    applied: watch::Sender<u64>,
    cancel: CancellationToken,
    until: Option<u64>,
) -> Result<(), ReadModelError> {
    loop {
        if until.is_some_and(|u| *applied.borrow() >= u) {
            return Ok(());
        }
        let item = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Ok(()),
            item = feed.next() => item,
        };
        let item = item.ok_or(ReadModelError::FeedEnded(projection.name()))??;
        let seq = item.seq;
        apply_one(&pool, &*projection, item)
            .await
            .map_err(|source| ReadModelError::Database {
                projection: projection.name(),
                source,
            })?;
        applied.send_replace(seq);
    }
}

/// One event: lock the checkpoint, skip if already applied, apply or park,
/// advance the checkpoint, commit.
async fn apply_one<P: PgProjection>(
    pool: &PgPool,
    projection: &P,
    item: FeedItem,
) -> Result<(), sqlx::Error> {
    let name = projection.name();
    let mut tx = pool.begin().await?;
    let at = checkpoint::lock(&mut tx, name).await?;
    if item.seq <= at {
        // Already applied (a restart or another replica got here first).
        return tx.rollback().await;
    }
    match &item.decoded {
        Ok(envelope) => {
            projection
                .apply_message(&mut tx, item.seq, envelope, &item.payload)
                .await?
        }
        Err(poison) => {
            let parked = Parked {
                seq: item.seq,
                subject: item.subject.to_string(),
                reason: poison.reason_code().to_string(),
                detail: error_chain(poison),
            };
            tracing::warn!(projection = name, seq = item.seq, reason = %parked.reason, "poison message parked");
            checkpoint::park(&mut tx, name, &parked, &item.payload).await?;
        }
    }
    checkpoint::advance(&mut tx, name, item.seq).await?;
    tx.commit().await
}

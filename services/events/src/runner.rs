//! The projection runner: follows a stream with an ordered consumer, folds
//! every event into an in-memory [`Projection`], parks poison, snapshots
//! periodically, and lets callers wait (bounded) until a sequence is applied.
//!
//! On start it loads the latest snapshot and replays only the tail.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bamf_domain::Projection;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::feed::{Feed, FeedError, FeedItem};
use crate::parked::{error_chain, Parked, ParkedLog};
use crate::snapshot::{self, SnapshotError, SnapshotStore};
use crate::streams::EVENTS_STREAM;

/// Most events applied under one write lock, so readers wait at most that long.
const APPLY_CHUNK: usize = 512;

/// When to snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotPolicy {
    /// After this many events since the last snapshot…
    pub every_events: u64,
    /// …or this long, whichever comes first (only if something was applied).
    pub every: Duration,
    /// Also on a clean stop.
    pub on_stop: bool,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        SnapshotPolicy {
            every_events: 100_000,
            every: Duration::from_secs(60),
            on_stop: true,
        }
    }
}

/// Settings of a runner.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub stream: String,
    pub filter: Option<String>,
    /// `None`: no snapshots (always a cold replay).
    pub snapshots: Option<SnapshotPolicy>,
    /// How many parked records are kept for inspection.
    pub parked_capacity: usize,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            stream: EVENTS_STREAM.to_string(),
            filter: None,
            snapshots: Some(SnapshotPolicy::default()),
            parked_capacity: 1_000,
        }
    }
}

/// Runner errors.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("projection task panicked")]
    Panicked,
}

/// `wait_for` ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("projection reached sequence {reached}, not {wanted}, within {timeout:?}")]
pub struct WaitTimeout {
    pub wanted: u64,
    pub reached: u64,
    pub timeout: Duration,
}

struct Shared<P> {
    state: RwLock<P>,
    applied: watch::Sender<u64>,
    parked: ParkedLog,
    /// Sequence of the snapshot the runner started from (0: cold).
    started_from: u64,
    /// Messages handled since start (applied + parked).
    handled: AtomicU64,
    snapshots_written: AtomicU64,
}

/// A read handle on a running projection. Cheap to clone.
pub struct ProjectionReader<P> {
    shared: Arc<Shared<P>>,
}

impl<P> Clone for ProjectionReader<P> {
    fn clone(&self) -> Self {
        ProjectionReader {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<P: Projection> ProjectionReader<P> {
    /// Runs `f` on the current state.
    pub fn read<R>(&self, f: impl FnOnce(&P) -> R) -> R {
        f(&self.shared.state.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The state's digest.
    pub fn digest(&self) -> [u8; 32] {
        self.read(|p| p.digest())
    }

    /// The last stream sequence applied (or parked).
    pub fn applied_seq(&self) -> u64 {
        *self.shared.applied.borrow()
    }

    /// Read-your-writes: waits until `seq` is applied, at most `timeout`.
    pub async fn wait_for(&self, seq: u64, timeout: Duration) -> Result<(), WaitTimeout> {
        let mut rx = self.shared.applied.subscribe();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|applied| *applied >= seq)).await;
        match reached {
            Ok(Ok(_)) => Ok(()),
            // Err(_) from wait_for: the sender (in `shared`) outlives `self`, so only the timeout.
            _ => Err(WaitTimeout {
                wanted: seq,
                reached: self.applied_seq(),
                timeout,
            }),
        }
    }

    /// Recently parked messages, oldest first.
    pub fn parked(&self) -> Vec<Parked> {
        self.shared.parked.recent()
    }

    /// Messages parked since start.
    pub fn parked_total(&self) -> u64 {
        self.shared.parked.total()
    }

    /// The snapshot sequence this run started from (0 for a cold replay).
    pub fn started_from(&self) -> u64 {
        self.shared.started_from
    }

    /// Messages handled since start: the length of the replayed tail.
    pub fn handled(&self) -> u64 {
        self.shared.handled.load(Ordering::Relaxed)
    }

    /// Snapshots written since start.
    pub fn snapshots_written(&self) -> u64 {
        self.shared.snapshots_written.load(Ordering::Relaxed)
    }
}

/// A running projection: a reader plus the task.
pub struct ProjectionRunner<P> {
    reader: ProjectionReader<P>,
    cancel: CancellationToken,
    task: JoinHandle<Result<(), RunnerError>>,
}

impl<P: Projection> ProjectionRunner<P> {
    /// Loads the snapshot (if `snapshots` is given and the policy enables
    /// them), opens the feed after it and starts following the stream.
    pub async fn start(
        js: &jetstream::Context,
        config: RunnerConfig,
        snapshots: Option<SnapshotStore>,
    ) -> Result<Self, RunnerError> {
        let store = snapshots.filter(|_| config.snapshots.is_some());
        let (state, from) = match &store {
            Some(store) => match store.load::<P>(P::FORMAT).await? {
                Some(s) => (s.state, s.seq),
                None => (P::default(), 0),
            },
            None => (P::default(), 0),
        };
        let feed = Feed::open(js, &config.stream, config.filter.as_deref(), from + 1).await?;
        let shared = Arc::new(Shared {
            state: RwLock::new(state),
            applied: watch::Sender::new(from),
            parked: ParkedLog::new(config.parked_capacity),
            started_from: from,
            handled: AtomicU64::new(0),
            snapshots_written: AtomicU64::new(0),
        });
        tracing::info!(projection = P::NAME, from, "projection started");
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(
            Arc::clone(&shared),
            feed,
            config.snapshots.clone(),
            store,
            cancel.clone(),
        ));
        Ok(ProjectionRunner {
            reader: ProjectionReader { shared },
            cancel,
            task,
        })
    }

    /// A read handle.
    pub fn reader(&self) -> ProjectionReader<P> {
        self.reader.clone()
    }

    /// Stops following; writes a final snapshot if the policy says so.
    pub async fn stop(self) -> Result<(), RunnerError> {
        self.cancel.cancel();
        self.task.await.map_err(|_| RunnerError::Panicked)?
    }

    /// Stops at once, like a crash: no final snapshot.
    pub async fn abort(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

impl<P: Projection> std::ops::Deref for ProjectionRunner<P> {
    type Target = ProjectionReader<P>;
    fn deref(&self) -> &Self::Target {
        &self.reader
    }
}

async fn run<P: Projection>(
    shared: Arc<Shared<P>>,
    feed: Feed,
    policy: Option<SnapshotPolicy>,
    store: Option<SnapshotStore>,
    cancel: CancellationToken,
) -> Result<(), RunnerError> {
    let mut last_snapshot_seq = shared.started_from;
    let mut last_snapshot_at = Instant::now();
    let mut upload: Option<JoinHandle<Result<(), SnapshotError>>> = None;
    let mut applied = shared.started_from;
    // Two stages, so reading + decoding and applying use different cores: a
    // reader task fills a small bounded channel with decoded chunks.
    let (chunks_tx, mut chunks) = tokio::sync::mpsc::channel::<Chunk>(READ_AHEAD_CHUNKS);
    let reader = tokio::spawn(read_chunks(feed, chunks_tx, cancel.clone()));
    let _stop_reader = AbortOnDrop(reader);
    loop {
        let chunk = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            chunk = chunks.recv() => chunk,
        };
        let Some(chunk) = chunk else { break };
        let chunk = chunk?;
        {
            let mut state = shared.state.write().unwrap_or_else(|e| e.into_inner());
            for it in &chunk {
                match &it.decoded {
                    Ok(envelope) => state.apply(it.seq, envelope),
                    Err(poison) => shared.parked.park(
                        P::NAME,
                        Parked {
                            seq: it.seq,
                            subject: it.subject.to_string(),
                            reason: poison.reason_code().to_string(),
                            detail: error_chain(poison),
                        },
                    ),
                }
                applied = it.seq;
            }
            shared
                .handled
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        drop(chunk);
        shared.applied.send_replace(applied);

        if let (Some(policy), Some(store)) = (&policy, &store) {
            let due = applied - last_snapshot_seq >= policy.every_events
                || (applied > last_snapshot_seq && last_snapshot_at.elapsed() >= policy.every);
            let idle = upload.as_ref().is_none_or(|u| u.is_finished());
            if due && idle {
                if let Some(done) = upload.take() {
                    log_upload(P::NAME, done.await);
                }
                let bytes = {
                    let state = shared.state.read().unwrap_or_else(|e| e.into_inner());
                    snapshot::encode(&*state, applied, P::FORMAT)
                };
                let store = store.clone();
                let shared2 = Arc::clone(&shared);
                upload = Some(tokio::spawn(async move {
                    store.save(P::NAME, bytes?).await?;
                    shared2.snapshots_written.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }));
                last_snapshot_seq = applied;
                last_snapshot_at = Instant::now();
            }
        }
    }
    if let Some(done) = upload.take() {
        log_upload(P::NAME, done.await);
    }
    if let (Some(policy), Some(store)) = (&policy, &store) {
        if policy.on_stop && applied > last_snapshot_seq {
            let bytes = {
                let state = shared.state.read().unwrap_or_else(|e| e.into_inner());
                snapshot::encode(&*state, applied, P::FORMAT)
            };
            store.save(P::NAME, bytes?).await?;
            shared.snapshots_written.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// Chunks buffered between the reader and the applier.
const READ_AHEAD_CHUNKS: usize = 4;

type Chunk = Result<Vec<FeedItem>, FeedError>;

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads and decodes messages in chunks of what is already buffered (at most
/// [`APPLY_CHUNK`]); stops on cancel, on a read error (sent on) or when the
/// applier goes away.
async fn read_chunks(
    mut feed: Feed,
    tx: tokio::sync::mpsc::Sender<Chunk>,
    cancel: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            item = feed.next() => item,
        };
        let Some(first) = first else { return };
        let chunk = first.and_then(|first| {
            let mut chunk = Vec::with_capacity(APPLY_CHUNK);
            chunk.push(first);
            while chunk.len() < APPLY_CHUNK {
                match feed.try_next() {
                    Some(item) => chunk.push(item?),
                    None => break,
                }
            }
            Ok(chunk)
        });
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() || failed {
            return;
        }
    }
}

fn log_upload(name: &str, result: Result<Result<(), SnapshotError>, tokio::task::JoinError>) {
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(projection = name, error = %error_chain(&e), "snapshot not written")
        }
        Err(e) => tracing::warn!(projection = name, error = %e, "snapshot task failed"),
    }
}

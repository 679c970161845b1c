//! Projection snapshots (state + stream sequence) in a JetStream object-store
//! bucket, so every replica — including a brand-new one — starts from the
//! latest snapshot and replays only the tail.

use async_nats::jetstream::{self, object_store};
use bamf_domain::Projection;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

/// Default bucket.
pub const SNAPSHOT_BUCKET: &str = "bamf_snapshots";

/// Snapshot errors.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot open snapshot bucket {bucket}")]
    Open {
        bucket: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("cannot read snapshot {name}")]
    Read {
        name: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("cannot write snapshot {name}")]
    Write {
        name: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("cannot encode snapshot {name}")]
    Encode {
        name: String,
        #[source]
        source: serde_json::Error,
    },
}

/// What is stored: the projection's name and format version, the last
/// applied sequence and the state.
#[derive(Serialize, Deserialize)]
pub struct Snapshot<P> {
    pub projection: String,
    pub format: u32,
    pub seq: u64,
    pub state: P,
}

/// The wire header of a snapshot, read first to decide whether to use it.
#[derive(Deserialize)]
struct Header {
    projection: String,
    format: u32,
    seq: u64,
}

/// A bucket of snapshots, one object per projection name.
#[derive(Clone)]
pub struct SnapshotStore {
    store: object_store::ObjectStore,
}

impl SnapshotStore {
    /// Opens (creating if missing) `bucket`.
    pub async fn open(js: &jetstream::Context, bucket: &str) -> Result<Self, SnapshotError> {
        let err = |source: async_nats::Error| SnapshotError::Open {
            bucket: bucket.to_string(),
            source,
        };
        let store = match js.get_object_store(bucket).await {
            Ok(s) => s,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: bucket.to_string(),
                    description: Some("bamf projection snapshots (state + stream sequence)".into()),
                    ..Default::default()
                })
                .await
                .map_err(|e| err(e.into()))?,
        };
        Ok(SnapshotStore { store })
    }

    /// Loads `P`'s snapshot; `None` when there is none or it is of another
    /// format (then the projection replays from the start).
    pub async fn load<P: Projection>(
        &self,
        format: u32,
    ) -> Result<Option<Snapshot<P>>, SnapshotError> {
        let name = P::NAME;
        let err = |source: async_nats::Error| SnapshotError::Read {
            name: name.to_string(),
            source,
        };
        let mut object = match self.store.get(name).await {
            Ok(o) => o,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(err(e.into())),
        };
        let mut bytes = Vec::new();
        object
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| err(e.into()))?;
        let header: Header = serde_json::from_slice(&bytes).map_err(|e| err(e.into()))?;
        if header.projection != name || header.format != format {
            tracing::info!(
                projection = name,
                seq = header.seq,
                "snapshot format changed; replaying from the start"
            );
            return Ok(None);
        }
        let snapshot = serde_json::from_slice(&bytes).map_err(|e| err(e.into()))?;
        Ok(Some(snapshot))
    }

    /// Stores an encoded snapshot (see [`encode`]).
    pub async fn save(&self, name: &str, bytes: Vec<u8>) -> Result<(), SnapshotError> {
        let mut reader = std::io::Cursor::new(bytes);
        self.store
            .put(name, &mut reader)
            .await
            .map_err(|e| SnapshotError::Write {
                name: name.to_string(),
                source: e.into(),
            })?;
        Ok(())
    }
}

/// Encodes a snapshot of `state` at `seq`. A state JSON can't represent (a
/// map with non-string keys) is an error the runner logs, never a panic: the
/// projection goes on without snapshots.
pub fn encode<P: Projection>(state: &P, seq: u64, format: u32) -> Result<Vec<u8>, SnapshotError> {
    #[derive(Serialize)]
    struct Out<'a, P> {
        projection: &'a str,
        format: u32,
        seq: u64,
        state: &'a P,
    }
    serde_json::to_vec(&Out {
        projection: P::NAME,
        format,
        seq,
        state,
    })
    .map_err(|source| SnapshotError::Encode {
        name: P::NAME.to_string(),
        source,
    })
}

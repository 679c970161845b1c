//! The projection contract: a pure fold over the log.
//!
//! The runner in `bamf-events` feeds every decoded envelope with its stream
//! sequence, snapshots the state with serde, and compares states by
//! [`Projection::digest`].

use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Envelope;

/// An in-memory projection of the event log.
pub trait Projection: Serialize + DeserializeOwned + Default + Send + Sync + 'static {
    /// A stable name (a subject token): the key of its snapshot.
    const NAME: &'static str;

    /// Version of the state's shape: a snapshot of another format is ignored
    /// and the projection replays from the start. Bump it when the state changes.
    const FORMAT: u32 = 1;

    /// Folds one event in. Must be deterministic and must not fail: an event
    /// the projection has no use for is ignored.
    fn apply(&mut self, seq: u64, envelope: &Envelope);

    /// A digest of the whole state, equal for equal states.
    fn digest(&self) -> [u8; 32] {
        digest_of(self)
    }
}

/// SHA-256 of the JSON serialization. Deterministic when the state uses ordered
/// collections (`BTreeMap`), which is why projections here do.
pub fn digest_of<T: Serialize + ?Sized>(value: &T) -> [u8; 32] {
    struct HashWriter(Sha256);
    impl std::io::Write for HashWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = HashWriter(Sha256::new());
    // Serializing plain data structures to a writer that cannot fail cannot fail.
    serde_json::to_writer(&mut w, value).expect("projection state serializes");
    w.0.finalize().into()
}

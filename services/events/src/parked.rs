//! Parked (poison) messages: logged, counted and kept with their sequence so
//! an operator can see them; the projection goes on.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// One parked message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parked {
    pub seq: u64,
    pub subject: String,
    /// Stable code (`not_an_envelope`, `unknown_type_or_version`, `invalid_data`, …).
    pub reason: String,
    /// The full error chain, for humans.
    pub detail: String,
}

/// The most recent parked messages (bounded) and the total count.
#[derive(Debug)]
pub struct ParkedLog {
    capacity: usize,
    recent: Mutex<VecDeque<Parked>>,
    total: AtomicU64,
}

impl ParkedLog {
    /// Keeps at most `capacity` records; the count is unbounded.
    pub fn new(capacity: usize) -> Self {
        ParkedLog {
            capacity: capacity.max(1),
            recent: Mutex::new(VecDeque::new()),
            total: AtomicU64::new(0),
        }
    }

    /// Records and logs one parked message.
    pub fn park(&self, projection: &str, parked: Parked) {
        tracing::warn!(
            projection,
            seq = parked.seq,
            subject = %parked.subject,
            reason = %parked.reason,
            detail = %parked.detail,
            "poison message parked"
        );
        self.total.fetch_add(1, Ordering::Relaxed);
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == self.capacity {
            recent.pop_front();
        }
        recent.push_back(parked);
    }

    /// Parked since start.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// The recent records, oldest first.
    pub fn recent(&self) -> Vec<Parked> {
        self.recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// The error and its sources on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

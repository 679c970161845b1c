//! In-process counters of the bridge, read by tests (and later exported at
//! `/metrics`). Plain atomics: counting never takes a lock on the data path,
//! except the rejected-handshake map, touched only on a refused handshake.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bamf_pki::ClaimsError;

/// The bridge's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    handshake_failures: AtomicU64,
    protocol_errors: AtomicU64,
    refused: AtomicU64,
    sessions_paired: AtomicU64,
    sessions_closed: AtomicU64,
    pairing_timeouts: AtomicU64,
    events_sent: AtomicU64,
    events_dropped: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Session certificates refused by the verifier, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
    /// QUIC handshakes that failed for any reason (refused certificates included).
    pub handshake_failures: u64,
    /// Streams reset because they did not open with a valid bamf header.
    pub protocol_errors: u64,
    /// Connections refused after the handshake (duplicate side, finished, draining, limit).
    pub refused: u64,
    pub sessions_paired: u64,
    pub sessions_closed: u64,
    pub pairing_timeouts: u64,
    /// Session events stored in BAMF_EVENTS.
    pub events_sent: u64,
    /// Session events dropped because the outbox was full.
    pub events_dropped: u64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// A certificate refused by the verifier.
    pub fn rejected_certificate(&self, error: &ClaimsError) {
        let mut rejected = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        *rejected.entry(reject_reason(error)).or_default() += 1;
    }

    pub(crate) fn handshake_failed(&self) {
        bump(&self.handshake_failures);
    }
    pub(crate) fn protocol_error(&self) {
        bump(&self.protocol_errors);
    }
    pub(crate) fn refused(&self) {
        bump(&self.refused);
    }
    pub(crate) fn paired(&self) {
        bump(&self.sessions_paired);
    }
    pub(crate) fn closed(&self) {
        bump(&self.sessions_closed);
    }
    pub(crate) fn pairing_timeout(&self) {
        bump(&self.pairing_timeouts);
    }
    pub(crate) fn event_sent(&self) {
        bump(&self.events_sent);
    }
    pub(crate) fn event_dropped(&self) {
        bump(&self.events_dropped);
    }

    /// The counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            rejected: self
                .rejected
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            handshake_failures: get(&self.handshake_failures),
            protocol_errors: get(&self.protocol_errors),
            refused: get(&self.refused),
            sessions_paired: get(&self.sessions_paired),
            sessions_closed: get(&self.sessions_closed),
            pairing_timeouts: get(&self.pairing_timeouts),
            events_sent: get(&self.events_sent),
            events_dropped: get(&self.events_dropped),
        }
    }
}

/// A stable label for a certificate refusal.
pub fn reject_reason(error: &ClaimsError) -> &'static str {
    match error {
        ClaimsError::NoCertificate => "no_certificate",
        ClaimsError::TooLarge { .. } | ClaimsError::Malformed { .. } => "malformed",
        ClaimsError::UntrustedChain | ClaimsError::Chain(_) => "untrusted_chain",
        ClaimsError::Expired { .. } => "expired",
        ClaimsError::NotYetValid { .. } => "not_yet_valid",
        ClaimsError::WrongBridge { .. } => "wrong_bridge",
        ClaimsError::WrongSide { .. } => "wrong_side",
        ClaimsError::WrongKeyUsage { .. } => "wrong_key_usage",
        _ => "invalid_claims",
    }
}

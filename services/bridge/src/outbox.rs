//! The session-event outbox: relaying never waits on NATS.
//!
//! Connection tasks [`Outbox::push`] envelopes and go on. One task appends
//! them in order (oldest first): session events to BAMF_EVENTS
//! ([`Expected::Any`]), audit-only records (refusals) to BAMF_AUDIT. An event
//! leaves the queue only once its append is acked. While NATS is unreachable
//! the front append fails or times out and is retried with a capped backoff;
//! a retried append that was in fact stored is de-duplicated by the server
//! (`Nats-Msg-Id` = envelope id). The queue is bounded (`max_outbox`): when it
//! is full the oldest event is dropped, counted and logged, so an outage of
//! any length costs memory that is bounded.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bamf_domain::Envelope;
use bamf_events::{AuditLog, EventLog, Expected};
use bamf_runtime::Shutdown;
use tokio::sync::{watch, Notify};

use crate::metrics::Metrics;

/// First retry delay after a failed append; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest retry delay: an event reaches the log at most this long after NATS is back.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A bounded queue of session events waiting for BAMF_EVENTS.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Mutex<VecDeque<Envelope>>,
    capacity: usize,
    /// Longest wait for one append's ack before it is retried.
    ack_timeout: Duration,
    notify: Notify,
    metrics: Arc<Metrics>,
    /// Failed appends so far (tests wait on it to know NATS was tried and missed).
    failures: watch::Sender<u64>,
}

impl Outbox {
    /// An empty outbox holding at most `capacity` events, waiting at most
    /// `ack_timeout` for each append.
    pub fn new(capacity: usize, ack_timeout: Duration, metrics: Arc<Metrics>) -> Self {
        Outbox {
            inner: Arc::new(Inner {
                queue: Mutex::new(VecDeque::new()),
                capacity: capacity.max(1),
                ack_timeout,
                notify: Notify::new(),
                metrics,
                failures: watch::Sender::new(0),
            }),
        }
    }

    /// The number of failed appends, updated as they fail.
    pub fn failures(&self) -> watch::Receiver<u64> {
        self.inner.failures.subscribe()
    }

    /// Queues an event; never waits. Drops the oldest one when full.
    pub fn push(&self, envelope: Envelope) {
        let mut queue = self.lock();
        if queue.len() >= self.inner.capacity {
            if let Some(dropped) = queue.pop_front() {
                self.inner.metrics.event_dropped();
                tracing::warn!(event = %dropped.id, kind = dropped.event.event_type(),
                    "event outbox full; dropped the oldest event");
            }
        }
        queue.push_back(envelope);
        drop(queue);
        // A stored permit if the task is busy: no wake-up is lost.
        self.inner.notify.notify_one();
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Envelope>> {
        // A panic while holding this lock leaves a valid queue: keep going.
        self.inner.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends queued events until shutdown; after shutdown, keeps trying to
    /// send what is left until the queue is empty (the grace period bounds it).
    pub async fn run(self, log: EventLog, audit: AuditLog, shutdown: Shutdown) {
        let mut backoff = MIN_BACKOFF;
        loop {
            let front = self.lock().front().cloned();
            let Some(envelope) = front else {
                if shutdown.is_triggered() {
                    return;
                }
                tokio::select! {
                    _ = self.inner.notify.notified() => continue,
                    _ = shutdown.triggered() => continue,
                }
            };
            let stored = async {
                if envelope.event.is_audit_only() {
                    audit.record(&envelope).await
                } else {
                    log.append(&envelope, Expected::Any).await.map(|a| a.seq)
                }
            };
            match tokio::time::timeout(self.inner.ack_timeout, stored).await {
                Ok(Ok(_)) => {
                    let mut queue = self.lock();
                    if queue.front().map(|e| e.id) == Some(envelope.id) {
                        queue.pop_front();
                    }
                    drop(queue);
                    self.inner.metrics.event_sent();
                    backoff = MIN_BACKOFF;
                }
                outcome => {
                    self.inner.failures.send_modify(|n| *n += 1);
                    match outcome {
                        Ok(Err(error)) => tracing::debug!(error = %error, waiting = self.len(),
                            "cannot append event to BAMF_EVENTS; will retry"),
                        _ => tracing::debug!(
                            waiting = self.len(),
                            "no ack from BAMF_EVENTS in time; will retry"
                        ),
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bamf_domain::events::SessionConnected;
    use bamf_domain::{Actor, AggregateId, Event, Timestamp};

    use super::*;

    fn connected(n: u64) -> Envelope {
        Envelope::new(
            ulid::Ulid::from_parts(n, 0),
            Timestamp::from_unix_micros(1_790_000_000_000_000),
            Actor::system(),
            AggregateId::new("01jd8x3z7q9w5k2m4n6p8r0t1v").expect("valid id"),
            Event::SessionConnected(SessionConnected {
                bridge_id: AggregateId::new("bridge-1").expect("valid id"),
            }),
        )
    }

    #[test]
    fn a_full_outbox_drops_the_oldest_event_and_counts_it() {
        let metrics = Arc::new(Metrics::default());
        let outbox = Outbox::new(2, Duration::from_secs(1), metrics.clone());
        for n in 1..=3 {
            outbox.push(connected(n));
        }
        assert_eq!(outbox.len(), 2);
        assert_eq!(metrics.snapshot().events_dropped, 1);
        let kept: Vec<u64> = outbox.lock().iter().map(|e| e.id.timestamp_ms()).collect();
        assert_eq!(kept, vec![2, 3], "oldest first, the first one dropped");
    }
}

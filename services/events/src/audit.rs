//! Audit-only records (ARCHITECTURE §2): the same envelope as a domain event,
//! published to `bamf.audit.<category>.<action>` in stream `BAMF_AUDIT`
//! (which also sources every domain event). De-duplicated by envelope id like
//! appends; acks are always awaited.

use async_nats::header::{self, HeaderMap};
use async_nats::jetstream;
use bamf_domain::Envelope;

use crate::append::{AppendError, TRACEPARENT};
use crate::streams::AUDIT_STREAM;

/// Writes audit-only records. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    js: jetstream::Context,
}

/// `bamf.audit.<category>.<action>` of an audit-only envelope.
pub fn audit_subject(envelope: &Envelope) -> String {
    format!(
        "bamf.audit.{}.{}",
        envelope.event.aggregate(),
        envelope.event.name()
    )
}

impl AuditLog {
    /// An audit log over `js` (streams are set up separately).
    pub fn new(js: jetstream::Context) -> Self {
        AuditLog { js }
    }

    /// Publishes one audit-only record and awaits its ack; returns its
    /// sequence in `BAMF_AUDIT`. Domain events are refused: they reach the
    /// audit stream through `BAMF_EVENTS`.
    pub async fn record(&self, envelope: &Envelope) -> Result<u64, AppendError> {
        if !envelope.event.is_audit_only() {
            return Err(AppendError::Rejected {
                code: 0,
                description: format!(
                    "{} is a domain event; append it to BAMF_EVENTS",
                    envelope.event.event_type()
                ),
            });
        }
        let payload = envelope.encode()?;
        let mut headers = HeaderMap::new();
        headers.insert(header::NATS_MESSAGE_ID, envelope.id.to_string().as_str());
        headers.insert(header::NATS_EXPECTED_STREAM, AUDIT_STREAM);
        if let Some(trace) = &envelope.trace {
            headers.insert(TRACEPARENT, trace.as_str());
        }
        let ack = self
            .js
            .publish_with_headers(audit_subject(envelope), headers, payload.into())
            .await
            .map_err(|e| AppendError::Publish(e.into()))?
            .await
            .map_err(|e| AppendError::Publish(e.into()))?;
        Ok(ack.sequence)
    }
}

//! Atomic multi-event batches (nats-server ≥ 2.12, stream `allow_atomic`):
//! `Nats-Batch-Id` and `Nats-Batch-Sequence` on every member,
//! `Nats-Batch-Commit: 1` on the last. The server checks every member's
//! expectations at commit, under lock, against the stream as it was before the
//! batch, and stores all members or none.

use async_nats::header::{self, HeaderMap};
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::response::Response;
use bamf_domain::Envelope;

use crate::append::{headers_for, server_error, AppendError, EventLog, Expected, MAX_BATCH};

/// A committed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchAppended {
    /// Sequence of the first member.
    pub first_seq: u64,
    /// Sequence of the last member: the one to wait for (read-your-writes).
    pub last_seq: u64,
}

impl EventLog {
    /// Appends `events` atomically: all are stored, in order, or none is.
    /// Every envelope is validated before the first is sent.
    pub async fn append_batch(
        &self,
        events: &[(Envelope, Expected)],
    ) -> Result<BatchAppended, AppendError> {
        if events.is_empty() || events.len() > MAX_BATCH {
            return Err(AppendError::BatchSize(events.len()));
        }
        // Validate and encode everything first: an invalid member means nothing is sent.
        let mut encoded = Vec::with_capacity(events.len());
        for (envelope, expected) in events {
            let payload = envelope.encode()?;
            let subject = envelope.subject();
            let filter = expected.filter(&subject);
            let headers = headers_for(envelope, *expected, &filter);
            encoded.push((subject.to_string(), headers, payload, filter, *expected));
        }
        tokio::time::timeout(self.batch_timeout(), self.send_batch(encoded))
            .await
            .map_err(|_| AppendError::TimedOut)?
    }

    async fn send_batch(
        &self,
        encoded: Vec<(String, HeaderMap, Vec<u8>, String, Expected)>,
    ) -> Result<BatchAppended, AppendError> {
        let client = self.jetstream().client();
        let batch_id = ulid::Ulid::new().to_string();
        let last = encoded.len();
        // The first conflicting member is reported when the batch is refused.
        let guard = encoded
            .iter()
            .find(|m| m.4 != Expected::Any)
            .map(|m| (m.3.clone(), m.4));
        for (i, (subject, mut headers, payload, _, _)) in encoded.into_iter().enumerate() {
            let n = i + 1;
            headers.insert(header::NATS_BATCH_ID, batch_id.as_str());
            headers.insert(header::NATS_BATCH_SEQUENCE, n.to_string().as_str());
            if n == last {
                headers.insert(header::NATS_BATCH_COMMIT, header::NATS_BATCH_COMMIT_FINAL);
            }
            if n == 1 || n == last {
                // The first member is a request so a refused start (e.g. atomic
                // publish disabled) surfaces at once; the last carries the commit ack.
                let reply = client
                    .request_with_headers(subject, headers, payload.into())
                    .await
                    .map_err(|e| AppendError::Publish(e.into()))?;
                if reply.payload.is_empty() && n != last {
                    continue;
                }
                let response: Response<PublishAck> = serde_json::from_slice(&reply.payload)
                    .map_err(|e| AppendError::Publish(e.into()))?;
                match response {
                    Response::Err { error } => {
                        let (filter, expected) = match guard {
                            Some((f, e)) => (f, e),
                            None => (String::new(), Expected::Any),
                        };
                        let expected = expected.sequence();
                        return Err(server_error(
                            error.error_code().0,
                            error.to_string(),
                            filter,
                            expected,
                        ));
                    }
                    Response::Ok(ack) if n == last => {
                        let count = ack.batch_size.unwrap_or(last as u64);
                        return Ok(BatchAppended {
                            first_seq: ack.sequence + 1 - count,
                            last_seq: ack.sequence,
                        });
                    }
                    Response::Ok(_) => {}
                }
            } else {
                client
                    .publish_with_headers(subject, headers, payload.into())
                    .await
                    .map_err(|e| AppendError::Publish(e.into()))?;
            }
        }
        // Unreachable: the loop returns on the last member.
        Err(AppendError::BatchSize(0))
    }
}

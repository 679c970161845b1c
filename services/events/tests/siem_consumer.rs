//! The example SIEM consumer (`deploy/nats/consumers/siem.json`) is accepted
//! by the pinned nats-server on `BAMF_AUDIT`, and delivers audit records —
//! audit-only and sourced domain events alike — at least once with explicit
//! acks.

mod common;

use std::time::Duration;

use bamf_domain::events::{Event, LoginFailed};
use bamf_domain::Envelope;
use bamf_events::jetstream::consumer::{pull, AckPolicy, Consumer, DeliverPolicy};
use bamf_events::streams::AUDIT_STREAM;
use bamf_events::{AuditLog, Expected};
use common::*;
use futures::StreamExt;

const SIEM_JSON: &str = include_str!("../../../deploy/nats/consumers/siem.json");
/// A bound on each wait for a delivery.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

async fn next(
    consumer: &Consumer<pull::Config>,
) -> anyhow::Result<bamf_events::jetstream::Message> {
    let mut batch = consumer
        .fetch()
        .max_messages(1)
        .expires(DELIVERY_TIMEOUT)
        .messages()
        .await?;
    match batch.next().await {
        Some(m) => m.map_err(|e| anyhow::anyhow!(e)),
        None => anyhow::bail!("no record delivered within {DELIVERY_TIMEOUT:?}"),
    }
}

#[tokio::test]
async fn the_example_siem_consumer_reads_and_acks_audit_records() -> anyhow::Result<()> {
    let nats = nats().await?;
    let config: pull::Config = serde_json::from_str(SIEM_JSON)?;
    assert_eq!(config.ack_policy, AckPolicy::Explicit);
    assert_eq!(config.deliver_policy, DeliverPolicy::All);

    // One audit-only record and one domain event (sourced from BAMF_EVENTS).
    let failed = envelope(
        &id(),
        Event::LoginFailed(LoginFailed {
            email: "mallory@corp.example".into(),
            provider: "local".into(),
            reason: "wrong_password".into(),
        }),
    );
    let audit_seq = AuditLog::new(nats.js.clone()).record(&failed).await?;
    let created = envelope(&id(), user_created("alice@corp.example"));
    nats.log.append(&created, Expected::NoEvents).await?;

    let stream = nats.js.get_stream(AUDIT_STREAM).await?;
    let consumer: Consumer<pull::Config> = stream.create_consumer(config).await?;
    let info = consumer.cached_info();
    assert_eq!(info.config.durable_name.as_deref(), Some("SIEM"));
    assert_eq!(info.config.max_ack_pending, 1000);
    assert_eq!(info.config.ack_wait, Duration::from_secs(30));

    let first = next(&consumer).await?;
    assert_eq!(
        first
            .info()
            .map_err(|e| anyhow::anyhow!(e))?
            .stream_sequence,
        audit_seq
    );
    assert_eq!(Envelope::decode(&first.payload)?, failed);
    assert_eq!(first.subject.as_str(), "bamf.audit.login.failed");
    first.double_ack().await.map_err(|e| anyhow::anyhow!(e))?;

    let second = next(&consumer).await?;
    assert_eq!(Envelope::decode(&second.payload)?.id, created.id);
    assert!(second.subject.starts_with("bamf.evt.user."));
    // Not acked yet: the server holds it as pending (redelivered after ack_wait).
    let mut consumer = consumer;
    let pending = consumer.info().await?.num_ack_pending;
    assert_eq!(pending, 1);
    second.double_ack().await.map_err(|e| anyhow::anyhow!(e))?;
    let info = consumer.info().await?;
    assert_eq!(
        (info.num_ack_pending, info.ack_floor.stream_sequence),
        (0, 2)
    );

    // Durable: a second client binding by name resumes after the acked records.
    let again: Consumer<pull::Config> = stream
        .get_consumer("SIEM")
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let third = envelope(&id(), user_created("bob@corp.example"));
    nats.log.append(&third, Expected::NoEvents).await?;
    let m = next(&again).await?;
    assert_eq!(Envelope::decode(&m.payload)?.id, third.id);
    m.double_ack().await.map_err(|e| anyhow::anyhow!(e))?;
    Ok(())
}

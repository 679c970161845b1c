//! The export's durable consumer on a real nats-server: created at the
//! requested start, bound by name afterwards and resumed at its ack floor
//! (what a dropped reader had unacked comes again, at once on request),
//! bounded by max_ack_pending, and refused when an existing consumer of that
//! name would skip records. The whole-stream reader stops at the last
//! sequence seen at open.

mod common;

use std::time::Duration;

use bamf_domain::events::{Event, LoginFailed};
use bamf_events::durable::{Bound, StartAt};
use bamf_events::jetstream::consumer::{pull, AckPolicy};
use bamf_events::streams::AUDIT_STREAM;
use bamf_events::{AuditLog, Durable, DurableConfig, DurableError, StreamReader};
use common::*;

/// Long enough that nothing is redelivered by timeout during a test.
const ACK_WAIT: Duration = Duration::from_secs(30);
/// Bound on one fetch's wait when nothing is pending.
const WAIT: Duration = Duration::from_millis(500);
const MAX_BYTES: usize = 1 << 20;

fn config(name: &str, start: StartAt) -> DurableConfig {
    DurableConfig {
        stream: AUDIT_STREAM.into(),
        name: name.into(),
        ack_wait: ACK_WAIT,
        max_ack_pending: 100,
        start,
        description: None,
    }
}

/// `n` audit-only records; answers their sequences.
async fn records(nats: &Nats, n: usize) -> anyhow::Result<Vec<u64>> {
    let audit = AuditLog::new(nats.js.clone());
    let mut seqs = Vec::new();
    for i in 0..n {
        let e = envelope(
            &id(),
            Event::LoginFailed(LoginFailed {
                email: format!("mallory{i}@corp.example"),
                provider: "local".into(),
                reason: "wrong_password".into(),
            }),
        );
        seqs.push(audit.record(&e).await?);
    }
    Ok(seqs)
}

fn seqs(batch: &[bamf_events::Delivery]) -> Vec<u64> {
    batch.iter().map(|d| d.seq).collect()
}

#[tokio::test]
async fn a_dropped_consumer_resumes_at_its_ack_floor() -> anyhow::Result<()> {
    let nats = nats().await?;
    let all = records(&nats, 10).await?;
    assert_eq!(all, (1..=10).collect::<Vec<_>>());

    let first = Durable::bind(&nats.js, &config("EXPORT", StartAt::First)).await?;
    assert_eq!(first.bound(), &Bound::Created);
    let acked = first.fetch(4, MAX_BYTES, WAIT).await?;
    assert_eq!(seqs(&acked), [1, 2, 3, 4]);
    // The payload is the stored message, byte for byte.
    let stored = nats
        .js
        .get_stream(AUDIT_STREAM)
        .await?
        .get_raw_message(1)
        .await?;
    assert_eq!(acked[0].payload, stored.payload);
    assert_eq!(acked[0].subject, "bamf.audit.login.failed");
    assert_eq!((acked[0].delivered, acked[3].pending), (1, 6));
    first.ack(&acked).await?;
    let in_hand = first.fetch(3, MAX_BYTES, WAIT).await?;
    assert_eq!(seqs(&in_hand), [5, 6, 7]);
    drop(in_hand);
    drop(first);

    // Bound again by name: the start is ignored, the position kept.
    let mut again = Durable::bind(&nats.js, &config("EXPORT", StartAt::Sequence(9))).await?;
    assert_eq!(again.bound(), &Bound::Existing { updated: vec![] });
    let state = again.state().await?;
    assert_eq!(
        (state.ack_floor, state.num_ack_pending, state.num_pending),
        (4, 3, 3)
    );
    // The unacked records come again at once, from the ack floor on.
    let state = again.redeliver_unacked().await?;
    assert_eq!(state.num_ack_pending, 0, "{state:?}");
    let batch = again.fetch(10, MAX_BYTES, WAIT).await?;
    assert_eq!(seqs(&batch), [5, 6, 7, 8, 9, 10]);
    again.ack(&batch).await?;
    let state = again.state().await?;
    assert_eq!(
        (state.ack_floor, state.num_ack_pending, state.num_pending),
        (10, 0, 0)
    );
    assert!(again.fetch(10, MAX_BYTES, WAIT).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn the_start_applies_at_creation_and_max_ack_pending_bounds_deliveries() -> anyhow::Result<()>
{
    let nats = nats().await?;
    records(&nats, 12).await?;
    let from_seq = Durable::bind(&nats.js, &config("FROM_SEQ", StartAt::Sequence(5))).await?;
    assert_eq!(seqs(&from_seq.fetch(2, MAX_BYTES, WAIT).await?), [5, 6]);

    let bounded = DurableConfig {
        max_ack_pending: 3,
        ..config("BOUNDED", StartAt::First)
    };
    let d = Durable::bind(&nats.js, &bounded).await?;
    // Asking for more than max_ack_pending gets max_ack_pending.
    let batch = d.fetch(10, MAX_BYTES, WAIT).await?;
    assert_eq!(seqs(&batch), [1, 2, 3]);
    let state = d.state().await?;
    assert_eq!((state.num_ack_pending, state.num_pending), (3, 9));
    // Nothing more until some are acked: back-pressure, the rest waits on the server.
    assert!(d.fetch(10, MAX_BYTES, WAIT).await?.is_empty());
    d.ack(&batch).await?;
    assert_eq!(seqs(&d.fetch(10, MAX_BYTES, WAIT).await?), [4, 5, 6]);

    // Binding with other limits updates them.
    let wider = DurableConfig {
        max_ack_pending: 50,
        ack_wait: Duration::from_secs(10),
        ..config("BOUNDED", StartAt::First)
    };
    let d = Durable::bind(&nats.js, &wider).await?;
    assert_eq!(
        d.bound(),
        &Bound::Existing {
            updated: vec!["ack_wait", "max_ack_pending"]
        }
    );
    let state = d.state().await?;
    assert_eq!(
        (state.max_ack_pending, state.ack_wait),
        (50, Duration::from_secs(10))
    );
    Ok(())
}

#[tokio::test]
async fn an_existing_consumer_that_would_skip_records_is_refused() -> anyhow::Result<()> {
    let nats = nats().await?;
    let stream = nats.js.get_stream(AUDIT_STREAM).await?;
    stream
        .create_consumer(pull::Config {
            durable_name: Some("FILTERED".into()),
            filter_subject: "bamf.audit.>".into(),
            ack_policy: AckPolicy::Explicit,
            ..Default::default()
        })
        .await?;
    stream
        .create_consumer(pull::Config {
            durable_name: Some("NO_ACKS".into()),
            ack_policy: AckPolicy::None,
            ..Default::default()
        })
        .await?;
    stream
        .create_consumer(pull::Config {
            durable_name: Some("GIVES_UP".into()),
            ack_policy: AckPolicy::Explicit,
            max_deliver: 3,
            ..Default::default()
        })
        .await?;
    for (name, says) in [
        ("FILTERED", "it filters subjects (bamf.audit.>)"),
        ("NO_ACKS", "not explicit"),
        ("GIVES_UP", "after 3 deliveries"),
    ] {
        let err = Durable::bind(&nats.js, &config(name, StartAt::First))
            .await
            .err()
            .unwrap_or_else(|| panic!("{name} was accepted"));
        assert!(
            matches!(&err, DurableError::Incompatible { name: n, .. } if n == name),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains(says) && text.contains(&format!("nats consumer rm BAMF_AUDIT {name}")),
            "{text}"
        );
    }

    // A stream that does not exist is named as such.
    let missing = DurableConfig {
        stream: "NO_SUCH_STREAM".into(),
        ..config("X", StartAt::First)
    };
    assert!(matches!(
        Durable::bind(&nats.js, &missing).await,
        Err(DurableError::StreamNotFound { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn the_stream_reader_reads_everything_up_to_the_last_sequence_at_open() -> anyhow::Result<()>
{
    let nats = nats().await?;
    // Empty: nothing, at once.
    let mut empty = StreamReader::open(&nats.js, AUDIT_STREAM).await?;
    assert!(empty.next().await.is_none());

    records(&nats, 5).await?;
    let mut reader = StreamReader::open(&nats.js, AUDIT_STREAM).await?;
    assert_eq!(reader.range(), (1, 5));
    // Records arriving after open are not part of this read.
    records(&nats, 2).await?;
    let stream = nats.js.get_stream(AUDIT_STREAM).await?;
    let mut read = Vec::new();
    while let Some(r) = reader.next().await {
        let r = r?;
        assert_eq!(r.payload, stream.get_raw_message(r.seq).await?.payload);
        read.push(r.seq);
    }
    assert_eq!(read, [1, 2, 3, 4, 5]);
    Ok(())
}

#[tokio::test]
async fn a_fetch_on_a_caught_up_consumer_returns_a_record_as_soon_as_it_arrives(
) -> anyhow::Result<()> {
    let nats = nats().await?;
    records(&nats, 3).await?;
    let d = Durable::bind(&nats.js, &config("WAITING", StartAt::First)).await?;
    let batch = d.fetch(8, MAX_BYTES, WAIT).await?;
    assert_eq!(seqs(&batch), [1, 2, 3], "what is there comes at once");
    d.ack(&batch).await?;
    // Nothing there: empty after the wait.
    assert!(d.fetch(8, MAX_BYTES, WAIT).await?.is_empty());
    // A record arriving during a long wait ends it at once.
    let long = Duration::from_secs(20);
    let started = std::time::Instant::now();
    let (batch, _) = tokio::join!(d.fetch(8, MAX_BYTES, long), records(&nats, 1));
    assert_eq!(seqs(&batch?), [4]);
    assert!(started.elapsed() < long / 2, "{:?}", started.elapsed());
    Ok(())
}

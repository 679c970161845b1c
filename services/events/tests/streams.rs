//! Stream set-up against a real nats-server.

use std::time::Duration;

use async_nats::header::{HeaderMap, NATS_MESSAGE_TTL};
use bamf_events::streams::{self, StreamOutcome, AUDIT_STREAM, EVENTS_STREAM, HEARTBEATS_STREAM};
use bamf_events::{ensure_streams, jetstream, StreamOptions};
use bamf_testkit::NatsServer;

#[tokio::test]
async fn stream_set_up_is_idempotent_and_updates_a_changed_definition() -> anyhow::Result<()> {
    let server = NatsServer::start().await?;
    let js = jetstream::new(bamf_events::connect(server.url()).await?);
    let defaults = StreamOptions::default();

    let first = ensure_streams(&js, &defaults).await?;
    assert!(
        first.iter().all(|(_, o)| *o == StreamOutcome::Created),
        "{first:?}"
    );
    assert_eq!(first.len(), 4);

    let second = ensure_streams(&js, &defaults).await?;
    assert!(
        second.iter().all(|(_, o)| *o == StreamOutcome::Unchanged),
        "{second:?}"
    );

    // A changed definition (a shorter audit retention) updates that stream only.
    let shorter = StreamOptions {
        audit_max_age: Some(Duration::from_secs(7 * 24 * 3600)),
    };
    let third = ensure_streams(&js, &shorter).await?;
    for (name, outcome) in &third {
        let want = if name == AUDIT_STREAM {
            StreamOutcome::Updated
        } else {
            StreamOutcome::Unchanged
        };
        assert_eq!(*outcome, want, "{name}");
    }
    let audit = js.get_stream(AUDIT_STREAM).await?.get_info().await?;
    assert_eq!(audit.config.max_age, Duration::from_secs(7 * 24 * 3600));
    assert!(audit.config.deny_delete && audit.config.deny_purge);
    assert_eq!(
        ensure_streams(&js, &shorter)
            .await?
            .iter()
            .filter(|(_, o)| *o != StreamOutcome::Unchanged)
            .count(),
        0
    );

    // A definition edited in another key (e.g. in the file) is applied too.
    let mut defs = streams::definitions(&defaults)?;
    defs[0].set("description", "changed".into())?;
    let fourth = streams::ensure(&js, &defs).await?;
    assert_eq!(
        fourth[0],
        (EVENTS_STREAM.to_string(), StreamOutcome::Updated)
    );
    Ok(())
}

#[tokio::test]
async fn streams_behave_as_defined() -> anyhow::Result<()> {
    let server = NatsServer::start().await?;
    let js = jetstream::new(bamf_events::connect(server.url()).await?);
    ensure_streams(&js, &StreamOptions::default()).await?;

    // BAMF_AUDIT receives BAMF_EVENTS through its source, and refuses purge and delete.
    js.publish("bamf.evt.user.x.deleted", "{}".into())
        .await?
        .await?;
    js.publish("bamf.audit.login.failed", "{}".into())
        .await?
        .await?;
    let mut audit = js.get_stream(AUDIT_STREAM).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while audit.get_info().await?.state.messages < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "BAMF_EVENTS not sourced into BAMF_AUDIT"
        );
        tokio::task::yield_now().await;
    }
    assert!(audit.purge().await.is_err(), "audit purge must be denied");
    assert!(
        audit.delete_message(1).await.is_err(),
        "audit delete must be denied"
    );
    let events = js.get_stream(EVENTS_STREAM).await?;
    assert!(
        events.delete_message(1).await.is_err(),
        "event delete must be denied"
    );

    // BAMF_HEARTBEATS keeps the last message per subject and takes a per-message TTL.
    let mut headers = HeaderMap::new();
    headers.insert(NATS_MESSAGE_TTL, "30s");
    for _ in 0..3 {
        js.publish_with_headers("bamf.hb.agent.a1", headers.clone(), "{}".into())
            .await?
            .await?;
    }
    let hb = js.get_stream(HEARTBEATS_STREAM).await?.get_info().await?;
    assert_eq!(hb.state.messages, 1);
    let _ = audit.info().await?;
    Ok(())
}

//! The projection runner against a real nats-server: snapshot + tail replay,
//! poison parking, read-your-writes.

mod common;

use std::time::Duration;

use async_nats::header::HeaderMap;
use bamf_domain::{Event, Projection, RuntimeView};
use bamf_events::runner::{RunnerConfig, SnapshotPolicy};
use bamf_events::snapshot::{SnapshotStore, SNAPSHOT_BUCKET};
use bamf_events::{EventLog, Expected, ProjectionRunner};
use common::*;

const WAIT: Duration = Duration::from_secs(10);

/// Appends `sessions` session lifecycles (request, close for every other one)
/// for one user; returns the last sequence.
async fn append_sessions(
    log: &EventLog,
    user: &bamf_domain::AggregateId,
    sessions: usize,
) -> anyhow::Result<u64> {
    let mut last = 0;
    for i in 0..sessions {
        let s = id();
        last = log
            .append(&envelope(&s, session_requested(user)), Expected::NoEvents)
            .await?
            .seq;
        if i % 2 == 0 {
            last = log
                .append(&envelope(&s, session_closed(i as u64)), Expected::Any)
                .await?
                .seq;
        }
    }
    Ok(last)
}

fn with_snapshots(every_events: u64) -> RunnerConfig {
    RunnerConfig {
        snapshots: Some(SnapshotPolicy {
            every_events,
            every: Duration::from_secs(3600),
            on_stop: true,
        }),
        ..RunnerConfig::default()
    }
}

fn cold() -> RunnerConfig {
    RunnerConfig {
        snapshots: None,
        ..RunnerConfig::default()
    }
}

#[tokio::test]
async fn a_restart_from_a_snapshot_replays_only_the_tail_and_equals_a_cold_replay(
) -> anyhow::Result<()> {
    let n = nats().await?;
    let user = id();
    n.log
        .append(
            &envelope(&user, user_created("e@corp.example")),
            Expected::NoEvents,
        )
        .await?;
    let first_part = append_sessions(&n.log, &user, 100).await?;
    let store = SnapshotStore::open(&n.js, SNAPSHOT_BUCKET).await?;

    let runner =
        ProjectionRunner::<RuntimeView>::start(&n.js, with_snapshots(40), Some(store.clone()))
            .await?;
    assert_eq!(runner.started_from(), 0);
    runner.wait_for(first_part, WAIT).await?;
    runner.stop().await?; // writes the final snapshot at `first_part`

    let tail_end = append_sessions(&n.log, &user, 20).await?;
    let tail = tail_end - first_part;

    let restarted =
        ProjectionRunner::<RuntimeView>::start(&n.js, with_snapshots(1_000), Some(store)).await?;
    assert_eq!(restarted.started_from(), first_part);
    restarted.wait_for(tail_end, WAIT).await?;
    assert_eq!(restarted.handled(), tail, "only the tail is replayed");

    let cold = ProjectionRunner::<RuntimeView>::start(&n.js, cold(), None).await?;
    cold.wait_for(tail_end, WAIT).await?;
    assert_eq!(cold.handled(), tail_end);
    assert_eq!(
        restarted.digest(),
        cold.digest(),
        "snapshot + tail == cold replay"
    );
    let (users, open) = restarted.read(|v| (v.users.len(), v.sessions.len()));
    assert_eq!((users, open), (1, 60));
    assert_eq!(restarted.read(|v| v.clone()), cold.read(|v| v.clone()));
    Ok(())
}

#[tokio::test]
async fn a_crash_after_a_periodic_snapshot_resumes_from_it() -> anyhow::Result<()> {
    let n = nats().await?;
    let user = id();
    let last = append_sessions(&n.log, &user, 60).await?; // 90 events
    let store = SnapshotStore::open(&n.js, SNAPSHOT_BUCKET).await?;
    let runner =
        ProjectionRunner::<RuntimeView>::start(&n.js, with_snapshots(25), Some(store.clone()))
            .await?;
    runner.wait_for(last, WAIT).await?;
    // Wait (bounded) for the periodic upload to land, then crash.
    let deadline = tokio::time::Instant::now() + WAIT;
    while runner.snapshots_written() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no periodic snapshot"
        );
        tokio::task::yield_now().await;
    }
    let digest = runner.digest();
    runner.abort().await;
    let restarted =
        ProjectionRunner::<RuntimeView>::start(&n.js, with_snapshots(25), Some(store)).await?;
    assert!(restarted.started_from() > 0 && restarted.started_from() <= last);
    restarted.wait_for(last, WAIT).await?;
    assert_eq!(restarted.handled(), last - restarted.started_from());
    assert_eq!(restarted.digest(), digest);
    Ok(())
}

#[tokio::test]
async fn poison_messages_are_parked_and_the_projection_goes_on() -> anyhow::Result<()> {
    let n = nats().await?;
    let user = id();
    n.log
        .append(
            &envelope(&user, user_created("f@corp.example")),
            Expected::NoEvents,
        )
        .await?;
    let good = String::from_utf8(
        envelope(
            &user,
            Event::UserDeleted(bamf_domain::events::UserDeleted {}),
        )
        .encode()?,
    )?;
    let raw = |subject: String, body: String| {
        let js = n.js.clone();
        async move {
            let ack = js
                .publish_with_headers(subject, HeaderMap::new(), body.into())
                .await?
                .await?;
            anyhow::Ok(ack.sequence)
        }
    };
    let subject = format!("bamf.evt.user.{user}.deleted");
    let p1 = raw(subject.clone(), "this is not json".into()).await?;
    let p2 = raw(
        subject.clone(),
        good.replace(r#""version":1"#, r#""version":99"#),
    )
    .await?;
    let p3 = raw(
        subject.clone(),
        good.replace(r#""data":{}"#, r#""data":{"hash":"x"}"#),
    )
    .await?;
    let p4 = raw(
        subject.clone(),
        good.replace(r#""type":"user.deleted""#, r#""type":"user.exploded""#),
    )
    .await?;
    let p5 = raw(format!("bamf.evt.user.{}.deleted", id()), good.clone()).await?;
    let s = id();
    let after = n
        .log
        .append(&envelope(&s, session_requested(&user)), Expected::NoEvents)
        .await?
        .seq;

    let runner = ProjectionRunner::<RuntimeView>::start(&n.js, cold(), None).await?;
    runner.wait_for(after, WAIT).await?;
    let parked: Vec<(u64, String)> = runner
        .parked()
        .into_iter()
        .map(|p| (p.seq, p.reason))
        .collect();
    assert_eq!(
        parked,
        vec![
            (p1, "not_an_envelope".to_string()),
            (p2, "unknown_type_or_version".to_string()),
            (p3, "invalid_data".to_string()),
            (p4, "unknown_type_or_version".to_string()),
            (p5, "wrong_subject".to_string()),
        ]
    );
    assert_eq!(runner.parked_total(), 5);
    assert!(runner
        .parked()
        .iter()
        .all(|p| p.subject.starts_with("bamf.evt.user.")));
    // The events around the poison were applied.
    assert_eq!(runner.read(|v| (v.users.len(), v.sessions.len())), (1, 1));
    assert_eq!(runner.read(|v| v.events), 2);
    Ok(())
}

#[tokio::test]
async fn wait_for_is_bounded_and_sees_new_writes() -> anyhow::Result<()> {
    let n = nats().await?;
    let runner = ProjectionRunner::<RuntimeView>::start(&n.js, cold(), None).await?;
    let err = runner
        .wait_for(5, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!((err.wanted, err.reached), (5, 0));
    // A write, then a read that must see it.
    let user = id();
    let seq = n
        .log
        .append(
            &envelope(&user, user_created("g@corp.example")),
            Expected::NoEvents,
        )
        .await?
        .seq;
    runner.wait_for(seq, WAIT).await?;
    assert!(runner.read(|v| v.users.contains_key(&user)));
    assert_eq!(RuntimeView::NAME, "runtime");
    Ok(())
}

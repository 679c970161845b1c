//! Appends against a real nats-server: de-duplication, optimistic concurrency,
//! atomic batches.

mod common;

use bamf_domain::events::SessionDenied;
use bamf_domain::Event;
use bamf_events::streams::EVENTS_STREAM;
use bamf_events::{AppendError, Expected};
use common::*;

#[tokio::test]
async fn a_republished_event_is_stored_once() -> anyhow::Result<()> {
    let n = nats().await?;
    let user = id();
    let e = envelope(&user, user_created("alice@corp.example"));
    let first = n.log.append(&e, Expected::NoEvents).await?;
    assert!(!first.duplicate);
    // The retry of the very same envelope (same id) is acknowledged as a
    // duplicate of the first copy — with or without its original expectation
    // (the server checks expectations first; the log recognises its own event).
    for expected in [Expected::Any, Expected::NoEvents] {
        let again = n.log.append(&e, expected).await?;
        assert!(again.duplicate, "{expected:?}");
        assert_eq!(again.seq, first.seq);
    }
    assert_eq!(message_count(&n.js, EVENTS_STREAM).await?, 1);
    Ok(())
}

#[tokio::test]
async fn of_two_concurrent_appends_at_one_sequence_exactly_one_wins() -> anyhow::Result<()> {
    let n = nats().await?;
    let user = id();
    let created = n
        .log
        .append(
            &envelope(&user, user_created("a@corp.example")),
            Expected::NoEvents,
        )
        .await?;
    // Both replicas read the aggregate at `created.seq` and decide concurrently.
    for round in 0..5 {
        let last =
            n.js.get_stream(EVENTS_STREAM)
                .await?
                .get_info()
                .await?
                .state
                .last_sequence;
        let a = envelope(
            &user,
            Event::UserDisabled(bamf_domain::events::UserDisabled {
                reason: format!("a{round}"),
            }),
        );
        let b = envelope(
            &user,
            Event::UserDisabled(bamf_domain::events::UserDisabled {
                reason: format!("b{round}"),
            }),
        );
        let (ra, rb) = tokio::join!(
            n.log.append(&a, Expected::LastSequence(last)),
            n.log.append(&b, Expected::LastSequence(last)),
        );
        let (won, lost) = match (ra, rb) {
            (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
            other => panic!("expected exactly one winner, got {other:?}"),
        };
        assert_eq!(won.seq, last + 1);
        match lost {
            AppendError::Conflict { expected, filter } => {
                assert_eq!(expected, last);
                assert_eq!(filter, format!("bamf.evt.user.{user}.*"));
            }
            other => panic!("expected Conflict, got {other:?}"),
        }
    }
    // Creating the same aggregate twice: the second `NoEvents` conflicts.
    let dup = n
        .log
        .append(
            &envelope(&user, user_created("b@corp.example")),
            Expected::NoEvents,
        )
        .await;
    assert!(
        matches!(dup, Err(AppendError::Conflict { expected: 0, .. })),
        "{dup:?}"
    );
    // The expectation covers the whole aggregate, not just one event subject.
    assert!(created.seq >= 1);
    Ok(())
}

#[tokio::test]
async fn pipelined_appends_are_all_acknowledged_in_order() -> anyhow::Result<()> {
    let n = nats().await?;
    let events: Vec<_> = (0..1000)
        .map(|i| {
            (
                envelope(&id(), user_created(&format!("u{i}@corp.example"))),
                Expected::NoEvents,
            )
        })
        .collect();
    let results = n.log.append_pipelined(&events).await;
    let seqs = results
        .into_iter()
        .map(|r| r.map(|a| a.seq))
        .collect::<Result<Vec<_>, _>>()?;
    assert_eq!(seqs, (1..=1000).collect::<Vec<_>>());
    // Re-sending them all is harmless: every one is a duplicate.
    let again = n.log.append_pipelined(&events).await;
    assert!(
        again.iter().all(|r| matches!(r, Ok(a) if a.duplicate)),
        "{:?}",
        &again[..2]
    );
    assert_eq!(
        message_count(&n.js, bamf_events::streams::EVENTS_STREAM).await?,
        1000
    );
    Ok(())
}

#[tokio::test]
async fn an_atomic_batch_is_stored_whole() -> anyhow::Result<()> {
    let n = nats().await?;
    let (user, session) = (id(), id());
    let batch = vec![
        (
            envelope(&user, user_created("c@corp.example")),
            Expected::NoEvents,
        ),
        (
            envelope(&session, session_requested(&user)),
            Expected::NoEvents,
        ),
        (
            envelope(
                &session,
                Event::SessionDenied(SessionDenied {
                    reason: "no".into(),
                }),
            ),
            Expected::Any,
        ),
    ];
    let stored = n.log.append_batch(&batch).await?;
    assert_eq!((stored.first_seq, stored.last_seq), (1, 3));
    assert_eq!(message_count(&n.js, EVENTS_STREAM).await?, 3);
    Ok(())
}

#[tokio::test]
async fn an_atomic_batch_with_an_invalid_member_stores_nothing() -> anyhow::Result<()> {
    let n = nats().await?;
    let user = id();
    n.log
        .append(
            &envelope(&user, user_created("d@corp.example")),
            Expected::NoEvents,
        )
        .await?;
    let before = message_count(&n.js, EVENTS_STREAM).await?;

    // Server side: the last member's concurrency check fails (the user
    // already exists), so the server refuses the whole batch at commit.
    let (s1, s2) = (id(), id());
    let batch = vec![
        (envelope(&s1, session_requested(&user)), Expected::NoEvents),
        (envelope(&s2, session_requested(&user)), Expected::NoEvents),
        (
            envelope(&user, user_created("d@corp.example")),
            Expected::NoEvents,
        ),
    ];
    let refused = n.log.append_batch(&batch).await;
    assert!(
        matches!(refused, Err(AppendError::Conflict { .. })),
        "{refused:?}"
    );
    assert_eq!(message_count(&n.js, EVENTS_STREAM).await?, before);

    // Client side: an envelope that fails validation stops the batch before
    // anything is sent.
    let mut bad = envelope(&s1, session_requested(&user));
    bad.trace = Some("not-a-traceparent".into());
    let batch = vec![
        (envelope(&s2, session_requested(&user)), Expected::NoEvents),
        (bad, Expected::Any),
    ];
    let refused = n.log.append_batch(&batch).await;
    assert!(
        matches!(refused, Err(AppendError::Invalid(_))),
        "{refused:?}"
    );
    assert_eq!(message_count(&n.js, EVENTS_STREAM).await?, before);

    // Sizes outside 1..=1000 are refused.
    assert!(matches!(
        n.log.append_batch(&[]).await,
        Err(AppendError::BatchSize(0))
    ));
    Ok(())
}

//! What one API replica does at start: streams and migrations applied, the
//! runtime view and the read models following the log, resuming where they
//! stood after a restart.

use std::time::Duration;

use bamf_api::config::DEFAULT_AUDIT_SEARCH_RETENTION;
use bamf_api::startup::{self, Backends};
use bamf_api::{ApiConfig, Projections};
use bamf_domain::events::UserCreated;
use bamf_domain::{Actor, AggregateId, Envelope, Event, Timestamp};
use bamf_events::{EventLog, Expected};
use bamf_testkit::{NatsServer, TestDatabase};

const WAIT: Duration = Duration::from_secs(10);

fn user_created(n: u32) -> Envelope {
    Envelope::new(
        ulid::Ulid::new(),
        Timestamp::from_unix_micros(1_790_000_000_000_000 + i64::from(n)),
        Actor::system(),
        AggregateId::from_ulid(ulid::Ulid::new()),
        Event::UserCreated(UserCreated {
            email: format!("user{n}@corp.example"),
            display_name: format!("User {n}"),
            roles: vec!["everyone".into()],
        }),
    )
}

async fn history_rows(backends: &Backends) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM event_history")
        .fetch_one(&backends.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn start_up_applies_streams_and_migrations_and_projections_follow_the_log() {
    let nats = NatsServer::start().await.unwrap();
    let db = TestDatabase::create().await.unwrap();
    let config = ApiConfig {
        nats_url: nats.url(),
        database_url: db.url().into(),
        ..ApiConfig::default()
    };
    let backends = startup::connect(&config).await.unwrap();
    for stream in [
        "BAMF_EVENTS",
        "BAMF_HEARTBEATS",
        "BAMF_CREDENTIALS",
        "BAMF_AUDIT",
    ] {
        backends.js.get_stream(stream).await.unwrap();
    }
    // A second start is idempotent (streams unchanged, migrations already there).
    let backends = startup::connect(&config).await.unwrap();

    let log = EventLog::new(backends.js.clone(), Default::default());
    let projections = Projections::start(&backends, DEFAULT_AUDIT_SEARCH_RETENTION)
        .await
        .unwrap();
    let first = user_created(1);
    let appended = log.append(&first, Expected::NoEvents).await.unwrap();
    projections
        .history()
        .wait_for(appended.seq, WAIT)
        .await
        .unwrap();
    projections
        .runtime()
        .wait_for(appended.seq, WAIT)
        .await
        .unwrap();
    let (event_id, event_type): (String, String) =
        sqlx::query_as("SELECT event_id, event_type FROM event_history WHERE seq = $1")
            .bind(appended.seq as i64)
            .fetch_one(&backends.pool)
            .await
            .unwrap();
    assert_eq!(event_id, first.id.to_string());
    assert_eq!(event_type, "user.created");
    let digest_before = projections.runtime().digest();
    projections.stop().await;

    // While the replica is down, two more events.
    let mut last = appended.seq;
    for n in 2..=3 {
        last = log
            .append(&user_created(n), Expected::NoEvents)
            .await
            .unwrap()
            .seq;
    }
    let projections = Projections::start(&backends, DEFAULT_AUDIT_SEARCH_RETENTION)
        .await
        .unwrap();
    assert_eq!(
        projections.runtime().started_from(),
        appended.seq,
        "the runtime view resumes from the snapshot written at stop"
    );
    projections.history().wait_for(last, WAIT).await.unwrap();
    projections.runtime().wait_for(last, WAIT).await.unwrap();
    assert_eq!(history_rows(&backends).await, 3, "nothing applied twice");
    assert_ne!(projections.runtime().digest(), digest_before);
    projections.stop().await;

    // A rebuild yields the same rows.
    let reports = bamf_api::projections::rebuild(&backends, DEFAULT_AUDIT_SEARCH_RETENTION)
        .await
        .unwrap();
    assert_eq!(reports[0].replayed, 3);
    assert_eq!(history_rows(&backends).await, 3);
}

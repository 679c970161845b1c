//! Postgres read models against real nats-server and PostgreSQL: one
//! transaction per event with its checkpoint, no double apply after a kill,
//! parked poison, rebuild.

use std::time::Duration;

use bamf_api::readmodel::{self, PgProjection, PgRunner};
use bamf_domain::events::UserCreated;
use bamf_domain::{Actor, AggregateId, Envelope, Event, Timestamp};
use bamf_events::{ensure_streams, jetstream, EventLog, Expected, LogConfig, StreamOptions};
use bamf_testkit::{NatsServer, TestDatabase};
use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);
const ROWS_PER_EVENT: i64 = 3;

/// Writes three ledger rows and bumps a total per event — several statements,
/// so a kill can land between them. Optionally stalls forever after the first
/// row of one sequence, signalling that it got there.
struct Ledger {
    stall_at: Option<(u64, mpsc::Sender<()>)>,
}

impl PgProjection for Ledger {
    fn name(&self) -> &'static str {
        "ledger"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_ledger", "rm_totals"]
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        seq: u64,
        envelope: &Envelope,
    ) -> Result<(), sqlx::Error> {
        for part in 0..ROWS_PER_EVENT {
            sqlx::query("INSERT INTO rm_ledger (seq, part, event_type) VALUES ($1, $2, $3)")
                .bind(seq as i64)
                .bind(part)
                .bind(envelope.event.event_type())
                .execute(&mut *tx)
                .await?;
            if let Some((at, reached)) = &self.stall_at {
                if *at == seq && part == 0 {
                    let _ = reached.send(()).await;
                    std::future::pending::<()>().await;
                }
            }
        }
        sqlx::query(
            "INSERT INTO rm_totals (name, events) VALUES ('all', 1) \
             ON CONFLICT (name) DO UPDATE SET events = rm_totals.events + 1",
        )
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

struct Env {
    _nats: NatsServer,
    _db: TestDatabase,
    js: jetstream::Context,
    log: EventLog,
    pool: PgPool,
}

async fn env() -> anyhow::Result<Env> {
    let nats = NatsServer::start().await?;
    let js = jetstream::new(bamf_events::connect(nats.url()).await?);
    ensure_streams(&js, &StreamOptions::default()).await?;
    let db = TestDatabase::create().await?;
    let pool = PgPool::connect(db.url()).await?;
    readmodel::migrate(&pool).await?;
    sqlx::query("CREATE TABLE rm_ledger (seq bigint NOT NULL, part bigint NOT NULL, event_type text NOT NULL)")
        .execute(&pool)
        .await?;
    sqlx::query("CREATE TABLE rm_totals (name text PRIMARY KEY, events bigint NOT NULL)")
        .execute(&pool)
        .await?;
    let log = EventLog::new(js.clone(), LogConfig::default());
    Ok(Env {
        _nats: nats,
        _db: db,
        js,
        log,
        pool,
    })
}

async fn append_users(log: &EventLog, n: usize) -> anyhow::Result<u64> {
    let mut last = 0;
    for i in 0..n {
        let e = Envelope::new(
            ulid::Ulid::new(),
            Timestamp::from_unix_micros(1_790_000_000_000_000),
            Actor::system(),
            AggregateId::from_ulid(ulid::Ulid::new()),
            Event::UserCreated(UserCreated {
                email: format!("u{i}@corp.example"),
                display_name: format!("U{i}"),
                roles: vec![],
            }),
        );
        last = log.append(&e, Expected::NoEvents).await?.seq;
    }
    Ok(last)
}

/// (rows, distinct (seq, part) rows, total events counted).
async fn counts(pool: &PgPool) -> anyhow::Result<(i64, i64, i64)> {
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM rm_ledger")
        .fetch_one(pool)
        .await?;
    let distinct: i64 = sqlx::query_scalar("SELECT count(DISTINCT (seq, part)) FROM rm_ledger")
        .fetch_one(pool)
        .await?;
    let total: Option<i64> = sqlx::query_scalar("SELECT events FROM rm_totals WHERE name = 'all'")
        .fetch_optional(pool)
        .await?;
    Ok((rows, distinct, total.unwrap_or(0)))
}

#[tokio::test]
async fn a_projection_killed_between_rows_and_restarted_does_not_double_apply() -> anyhow::Result<()>
{
    let e = env().await?;
    let last = append_users(&e.log, 10).await?;
    let (reached_tx, mut reached) = mpsc::channel(1);
    let stall_at = 7;
    let runner = PgRunner::start(
        e.pool.clone(),
        &e.js,
        Ledger {
            stall_at: Some((stall_at, reached_tx)),
        },
    )
    .await?;
    // Event 7 has written its first row (uncommitted) — kill the runner there.
    tokio::time::timeout(WAIT, reached.recv()).await?;
    assert_eq!(runner.applied_seq(), stall_at - 1);
    runner.abort().await;
    assert_eq!(
        readmodel::checkpoint(&e.pool, "ledger").await?,
        stall_at - 1
    );
    assert_eq!(
        counts(&e.pool).await?,
        (6 * ROWS_PER_EVENT, 6 * ROWS_PER_EVENT, 6)
    );

    // Restart: resumes at 7; two runners at once must not double-apply either.
    let a = PgRunner::start(e.pool.clone(), &e.js, Ledger { stall_at: None }).await?;
    let b = PgRunner::start(e.pool.clone(), &e.js, Ledger { stall_at: None }).await?;
    a.wait_for(last, WAIT).await?;
    b.wait_for(last, WAIT).await?;
    let events = last as i64;
    assert_eq!(
        counts(&e.pool).await?,
        (events * ROWS_PER_EVENT, events * ROWS_PER_EVENT, events)
    );
    assert_eq!(readmodel::checkpoint(&e.pool, "ledger").await?, last);

    // Read-your-writes through the runner, bounded.
    let next = append_users(&e.log, 1).await?;
    a.wait_for(next, WAIT).await?;
    let err = a
        .wait_for(next + 100, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(err.reached, next);
    a.stop().await?;
    b.stop().await?;
    Ok(())
}

#[tokio::test]
async fn poison_is_parked_in_postgres_and_rebuild_replays_everything() -> anyhow::Result<()> {
    let e = env().await?;
    append_users(&e.log, 3).await?;
    let poison =
        e.js.publish("bamf.evt.user.x.created", "garbage".into())
            .await?
            .await?
            .sequence;
    let last = append_users(&e.log, 2).await?;

    let runner = PgRunner::start(e.pool.clone(), &e.js, Ledger { stall_at: None }).await?;
    runner.wait_for(last, WAIT).await?;
    runner.stop().await?;
    assert_eq!(counts(&e.pool).await?.2, 5);
    let parked = readmodel::parked(&e.pool, "ledger").await?;
    assert_eq!(parked.len(), 1);
    assert_eq!(
        (parked[0].seq, parked[0].reason.as_str()),
        (poison, "not_an_envelope")
    );

    // Damage the read model, then rebuild it from the log.
    sqlx::query("DELETE FROM rm_ledger WHERE seq < 3")
        .execute(&e.pool)
        .await?;
    sqlx::query("UPDATE rm_totals SET events = 999")
        .execute(&e.pool)
        .await?;
    let report = readmodel::rebuild(&e.pool, &e.js, Ledger { stall_at: None }).await?;
    assert_eq!((report.replayed, report.seq), (last, last));
    assert_eq!(
        counts(&e.pool).await?,
        (5 * ROWS_PER_EVENT, 5 * ROWS_PER_EVENT, 5)
    );
    assert_eq!(readmodel::checkpoint(&e.pool, "ledger").await?, last);
    assert_eq!(readmodel::parked(&e.pool, "ledger").await?.len(), 1);
    Ok(())
}

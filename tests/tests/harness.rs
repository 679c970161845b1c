//! The harness itself starts real servers and waits for readiness.

use bamf_testkit::{NatsServer, TestDatabase};
use sqlx::Connection;

#[tokio::test]
async fn nats_server_starts_with_jetstream_and_restarts_on_the_same_port() -> anyhow::Result<()> {
    let mut nats = NatsServer::start().await?;
    let port = nats.port();
    assert_ne!(port, 4222, "the machine's own NATS is never used");
    std::net::TcpStream::connect(("127.0.0.1", port))?;
    nats.stop();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    nats.restart().await?;
    assert_eq!(nats.port(), port);
    std::net::TcpStream::connect(("127.0.0.1", port))?;
    Ok(())
}

#[tokio::test]
async fn each_test_gets_its_own_empty_database() -> anyhow::Result<()> {
    let a = TestDatabase::create().await?;
    let b = TestDatabase::create().await?;
    assert_ne!(a.name(), b.name());
    let mut conn = sqlx::PgConnection::connect(a.url()).await?;
    sqlx::query("CREATE TABLE t (x int)")
        .execute(&mut conn)
        .await?;
    let mut other = sqlx::PgConnection::connect(b.url()).await?;
    let (count,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut other)
    .await?;
    assert_eq!(count, 0);
    let name = a.name().to_string();
    drop(conn);
    drop(a);
    let (exists,): (bool,) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut other)
            .await?;
    assert!(!exists, "a dropped TestDatabase removes its database");
    Ok(())
}

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

#[test]
fn one_pinned_nats_version_for_compose_the_stack_and_the_tests() -> anyhow::Result<()> {
    let version = bamf_testkit::pinned_version()?;
    let (major, minor) = {
        let mut parts = version.split('.').map(|p| p.parse::<u32>());
        (parts.next().transpose()?, parts.next().transpose()?)
    };
    assert!(
        (major, minor) >= (Some(2), Some(12)),
        "JetStream features need nats-server >= 2.12, pinned {version}"
    );
    // The binary the harness and the local stack run is that version...
    let out = std::process::Command::new(bamf_testkit::nats_server_binary()?)
        .arg("--version")
        .output()?;
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(printed.trim(), format!("nats-server: v{version}"));
    // ...and compose takes its image tag from the same variable (compose reads
    // deploy/.env by itself), with no version written into compose.yaml.
    let compose = std::fs::read_to_string(bamf_testkit::repo_root().join("deploy/compose.yaml"))?;
    assert!(
        compose.contains("image: nats:${NATS_VERSION"),
        "compose.yaml must use NATS_VERSION"
    );
    assert!(
        !compose.contains(&version),
        "compose.yaml repeats the version"
    );
    Ok(())
}

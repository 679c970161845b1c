//! The health server on a real socket: liveness, readiness, and stopping on shutdown.

use std::time::Duration;

use bamf_runtime::{health, probe, Readiness, Shutdown};

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn healthz_readyz_and_stop() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let readiness = Readiness::new();
    let shutdown = Shutdown::new(Duration::from_secs(5));
    let server = shutdown.spawn(health::serve(
        listener,
        health::routes(readiness.clone()),
        shutdown.clone(),
    ));

    let live = probe::get(addr, "/healthz", PROBE_TIMEOUT).await.unwrap();
    assert_eq!(live.status, 200);
    assert!(live.body.contains("ok"));
    assert_eq!(
        probe::get(addr, "/readyz", PROBE_TIMEOUT)
            .await
            .unwrap()
            .status,
        503
    );
    readiness.set(true);
    assert_eq!(
        probe::get(addr, "/readyz", PROBE_TIMEOUT)
            .await
            .unwrap()
            .status,
        200
    );

    shutdown.trigger();
    assert_eq!(
        shutdown.drain().await,
        bamf_runtime::shutdown::Drained::Clean
    );
    server.await.unwrap().unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed after shutdown"
    );
}

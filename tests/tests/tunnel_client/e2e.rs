//! End to end through the real API: bamfctl's code and its binary asking
//! `POST /connect`, the real agent dialling the real bridge, bytes reaching a
//! TCP echo target and a real PostgreSQL, an admin's kill, and refusals in words.

use super::*;

/// The real bridge, enrolled with the API by its bootstrap token (its
/// certificate from the API's CA), heartbeating to the stack's NATS so the
/// API can pick it.
async fn bridge_for(stack: &harness::Stack) -> (Bridge, Shutdown) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let config = BridgeConfig {
        bridge_id: BRIDGE.into(),
        quic_listen: addr,
        advertise_address: addr.to_string(),
        server_name: "localhost".into(),
        api_url: stack.url.clone(),
        bootstrap_token: harness::BRIDGE_BOOTSTRAP_TOKEN.into(),
        data_dir: stack.dir.path().join("bridge"),
        nats_url: stack.nats.url(),
        shutdown_grace: Duration::from_secs(2),
        heartbeat_interval: Duration::from_millis(200),
        ..BridgeConfig::default()
    };
    config.validate().unwrap();
    let shutdown = Shutdown::new(config.shutdown_grace);
    let tls = bamf_bridge::tls_for(&config, &shutdown)
        .await
        .expect("the bridge enrols with the API");
    let bridge = bamf_bridge::start(config, tls, socket, shutdown.clone())
        .await
        .unwrap();
    (bridge, shutdown)
}

/// The whole path: API, the real bridge, the real agent with `resources`.
pub struct E2e {
    agent: harness::RunningAgent,
    bridge_shutdown: Shutdown,
    _bridge: Bridge,
    pub stack: harness::Stack,
}

impl E2e {
    pub async fn start(resources: Vec<bamf_agent::ResourceConfig>) -> E2e {
        let stack = harness::Stack::start().await;
        let (bridge, bridge_shutdown) = bridge_for(&stack).await;
        let token = stack.join_token(serde_json::json!({})).await;
        let data = stack.dir.path().join("agent");
        let agent =
            harness::RunningAgent::start(stack.agent_config(&token, &data, resources)).await;
        E2e {
            agent,
            bridge_shutdown,
            _bridge: bridge,
            stack,
        }
    }

    /// Waits until `/connect` to `resource` can succeed: the API has the
    /// agent's catalog and a live bridge (until then it answers 404 or 503).
    pub async fn wait_connectable(&self, resource: &str) -> (ConnectAnswer, Tunnel) {
        use bamfctl::cmd::connect::{open, ConnectError};
        let client =
            bamfctl::client::ApiClient::new(&self.stack.url, Some(self.stack.admin_token.clone()))
                .expect("an API client");
        harness::eventually("a session", || async {
            match open(&client, resource).await {
                Ok(opened) => Some(opened),
                Err(e) => match e.downcast_ref::<ConnectError>() {
                    Some(ConnectError::NotFound { .. } | ConnectError::Unavailable { .. }) => None,
                    _ => panic!("connect failed: {}", bamfctl::error_report(&e)),
                },
            }
        })
        .await
    }

    pub async fn stop(self) {
        self.agent.stop().await;
        self.bridge_shutdown.trigger();
        self.bridge_shutdown.drain().await;
    }
}

#[tokio::test]
async fn end_to_end_through_the_api_the_bridge_and_the_agent() {
    use bamfctl::cmd::connect::{open, ConnectError};
    let echo = harness::echo_server().await;
    let e2e = E2e::start(vec![harness::resource("echo", echo)]).await;
    let stack = &e2e.stack;
    let client = bamfctl::client::ApiClient::new(&stack.url, Some(stack.admin_token.clone()))
        .expect("an API client");

    let (answer, tunnel) = e2e.wait_connectable("echo").await;
    assert_eq!(answer.bridge_id, BRIDGE);
    assert_eq!(answer.resource, "echo");

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let serving = tokio::spawn(async move { tunnel.serve(listener).await });
    let sent = payload(200_000, 9);
    let (a, b) = tokio::join!(
        echo_over_tcp(port, sent.clone()),
        echo_over_tcp(port, b"second".to_vec())
    );
    assert!(a == sent, "the target echoed every byte");
    assert_eq!(b, b"second");

    // The session is listed, and an admin's kill ends bamfctl's tunnel.
    let listed = client.get(&["sessions"]).await.expect("sessions listed");
    let ids: Vec<&str> = listed["sessions"]
        .as_array()
        .expect("a sessions array")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(ids.contains(&answer.session_id.as_str()), "{listed}");
    client
        .delete(&["sessions", &answer.session_id], &[])
        .await
        .expect("the admin kills the session");
    let ended = tokio::time::timeout(TIMEOUT, serving)
        .await
        .unwrap()
        .unwrap();
    let err = ended.expect_err("a killed session ends the tunnel with an error");
    assert_eq!(err.close_code(), Some(CloseCode::Killed));

    // An unknown resource is refused in words, before any tunnel.
    let err = open(&client, "no-such-thing").await.err().expect("refused");
    assert!(
        matches!(
            err.downcast_ref::<ConnectError>(),
            Some(ConnectError::NotFound { .. })
        ),
        "{err:?}"
    );
    assert!(bamfctl::error_report(&err).starts_with("no resource named no-such-thing"));

    e2e.stop().await;
}

/// The real bamfctl binary, logged in as the stack's admin, with `env`.
pub async fn run_bamfctl(
    e2e: &E2e,
    cli: &bamfctl_bin::Bamfctl,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let home = cli.credentials().parent().unwrap().to_path_buf();
    let mut command = tokio::process::Command::new(bamfctl_bin::binary());
    command
        .env("BAMF_HOME", home)
        .env_remove("BAMF_API_URL")
        .args(["--api-url", &e2e.stack.url])
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .unwrap_or_else(|_| panic!("bamfctl {args:?} did not finish"))
        .expect("bamfctl runs")
}

#[tokio::test]
async fn bamfctl_tcp_exec_and_psql_run_native_clients_through_the_real_stack() {
    let db = bamf_testkit::TestDatabase::create().await.unwrap();
    let pg = reqwest::Url::parse(db.url()).unwrap();
    let pg_addr = tokio::net::lookup_host((pg.host_str().unwrap(), pg.port().unwrap_or(5432)))
        .await
        .unwrap()
        .next()
        .unwrap();
    let echo = harness::echo_server().await;
    let e2e = E2e::start(vec![
        harness::resource("echo", echo),
        harness::resource("pg", pg_addr),
    ])
    .await;
    // Both resources are advertised and a bridge is live before the binary runs.
    let (_, tunnel) = e2e.wait_connectable("echo").await;
    tunnel.close().await;
    let (_, tunnel) = e2e.wait_connectable("pg").await;
    tunnel.close().await;

    let cli = bamfctl_bin::Bamfctl::new(&e2e.stack.url);
    cli.login("admin@corp.example", "admin password 123").await;

    // --exec: {host}/{port} substituted, bytes through the tunnel, and
    // bamfctl exits with the command's status.
    let out = run_bamfctl(
        &e2e,
        &cli,
        &[
            "tcp",
            "echo",
            "--exec",
            "printf through-the-tunnel | socat -t 5 - TCP:{host}:{port}; exit 7",
        ],
        &[],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through-the-tunnel");
    assert!(stderr.starts_with("forwarding 127.0.0.1:"), "{stderr}");
    assert!(stderr.contains("→ echo (session "), "{stderr}");

    // psql: native flags pass through; a query answers.
    let database = pg.path().trim_start_matches('/');
    let out = run_bamfctl(
        &e2e,
        &cli,
        &[
            "psql",
            "pg",
            "-U",
            pg.username(),
            "-d",
            database,
            "-tA",
            "-c",
            "select 40 + 2",
        ],
        &[("PGPASSWORD", pg.password().unwrap_or(""))],
    )
    .await;
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim()
        ),
        (Some(0), "42"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // `tcp --stdio`: bytes both ways; an admin's kill ends it at once with
    // the reason, though its stdin is still open (no hang on a blocked read).
    let home = cli.credentials().parent().unwrap().to_path_buf();
    let mut stdio = tokio::process::Command::new(bamfctl_bin::binary())
        .env("BAMF_HOME", home)
        .env_remove("BAMF_API_URL")
        .args(["--api-url", &e2e.stack.url, "tcp", "--stdio", "echo"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("bamfctl starts");
    let mut stdin = stdio.stdin.take().unwrap();
    let mut stdout = stdio.stdout.take().unwrap();
    stdin.write_all(b"ping").await.unwrap();
    let mut pong = [0u8; 4];
    tokio::time::timeout(TIMEOUT, stdout.read_exact(&mut pong))
        .await
        .expect("echo in time")
        .unwrap();
    assert_eq!(&pong, b"ping");
    let admin =
        bamfctl::client::ApiClient::new(&e2e.stack.url, Some(e2e.stack.admin_token.clone()))
            .unwrap();
    // The session is listed as soon as it is granted; kill every open echo
    // session (an earlier one the bridge already closed is refused, which is
    // fine) until this bamfctl exits. The session's "connected" state may
    // still be on its way from the bridge, so don't wait for it.
    let mut waiting = tokio::spawn(stdio.wait_with_output());
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let out = loop {
        let listed = admin.get(&["sessions"]).await.unwrap();
        for session in listed["sessions"].as_array().unwrap() {
            if session["resource"] == "echo" {
                let _ = admin
                    .delete(&["sessions", session["id"].as_str().unwrap()], &[])
                    .await;
            }
        }
        match tokio::time::timeout(std::time::Duration::from_millis(500), &mut waiting).await {
            Ok(done) => break done.unwrap().unwrap(),
            Err(_) => assert!(
                tokio::time::Instant::now() < deadline,
                "bamfctl exits once the session is killed"
            ),
        }
    };
    drop(stdin);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: the tunnel ended: the session was killed by an administrator\n"
    );

    // A resource nobody advertises: a plain message, exit 1.
    let out = run_bamfctl(&e2e, &cli, &["tcp", "nowhere"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error: no resource named nowhere"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    e2e.stop().await;
}

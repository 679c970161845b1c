//! bamfctl's tunnel core against the real bridge (in-process, on a real
//! nats-server), with certificates from a test CA for made-up sessions. The
//! test plays the agent with quinn: it accepts the streams the bridge opens,
//! checks their bamf/1 header and echoes. Covered: local TCP connections
//! round-tripping, several at once over one session, `--stdio` mode on
//! in-memory pipes, a killed session's close code in words, and an
//! unreachable bridge named in the error. End to end through the real API,
//! bridge and agent: `e2e` (bamfctl's code and binary, `tcp --exec`, `psql`)
//! and `ssh` (`bamfctl ssh` with the real ssh against a real sshd).

// The agent tests' stack (API on NATS and PostgreSQL, the agent in-process);
// this file uses part of it.
#[allow(dead_code)]
#[path = "agent/harness.rs"]
mod harness;
// The real bamfctl binary, as the CLI tests build and run it.
#[allow(dead_code)]
#[path = "cli_control/bamfctl.rs"]
mod bamfctl_bin;
#[path = "tunnel_client/e2e.rs"]
mod e2e;
#[path = "tunnel_client/ssh.rs"]
mod ssh;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bamf_bridge::{Bridge, BridgeConfig, BridgeTls};
use bamf_domain::tunnel::KillCommand;
use bamf_domain::AggregateId;
use bamf_events::jetstream;
use bamf_events::{ensure_streams, StreamOptions};
use bamf_pki::profile::{AgentSessionProfile, BridgeProfile, ClientSessionProfile, Profile};
use bamf_pki::{bridge_client_config, BridgeServerVerifier, Ca, CaConfig, KeyAndCsr, VerifiedCsr};
use bamf_runtime::Shutdown;
use bamf_testkit::NatsServer;
use bamf_tunnel::{client_config, CloseCode, StreamHeader, TransportLimits};
use bamfctl::tunnel::{ConnectAnswer, Tunnel, TunnelError};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BRIDGE: &str = "bridge-1";
const RESOURCE: &str = "orders-db";
/// Bound on every wait in these tests.
const TIMEOUT: Duration = Duration::from_secs(20);

/// NATS, a test CA and a running bridge.
struct Harness {
    nats: NatsServer,
    ca: Ca,
    bridge: Bridge,
    shutdown: Shutdown,
    _files: tempfile::TempDir,
}

/// A certificate (PEM) with its key.
struct Cert {
    pem: String,
    key: KeyAndCsr,
}

impl Harness {
    async fn start() -> Harness {
        let nats = NatsServer::start().await.unwrap();
        let js = jetstream::new(bamf_events::connect(nats.url()).await.unwrap());
        ensure_streams(&js, &StreamOptions::default())
            .await
            .unwrap();
        let ca = Ca::generate(&CaConfig::default(), SystemTime::now()).unwrap();
        let files = tempfile::tempdir().unwrap();
        let bridge_cert = issue(
            &ca,
            Profile::Bridge(BridgeProfile {
                bridge_id: BRIDGE.into(),
                dns_names: vec!["localhost".into()],
                ip_addresses: vec!["127.0.0.1".parse().unwrap()],
            }),
        );
        let dir = files.path();
        std::fs::write(dir.join("bridge.crt"), &bridge_cert.pem).unwrap();
        std::fs::write(dir.join("bridge.key"), bridge_cert.key.private_key_pem()).unwrap();
        std::fs::write(dir.join("ca.crt"), ca.cert_pem()).unwrap();
        let config = BridgeConfig {
            bridge_id: BRIDGE.into(),
            quic_listen: "127.0.0.1:0".parse().unwrap(),
            advertise_address: "127.0.0.1:4433".into(),
            server_name: "localhost".into(),
            cert_file: dir.join("bridge.crt"),
            key_file: dir.join("bridge.key"),
            ca_file: dir.join("ca.crt"),
            nats_url: nats.url(),
            shutdown_grace: Duration::from_secs(2),
            ..BridgeConfig::default()
        };
        config.validate().unwrap();
        let tls = BridgeTls::load(&config).unwrap();
        let socket = std::net::UdpSocket::bind(config.quic_listen).unwrap();
        let shutdown = Shutdown::new(config.shutdown_grace);
        let bridge = bamf_bridge::start(config, tls, socket, shutdown.clone())
            .await
            .unwrap();
        Harness {
            nats,
            ca,
            bridge,
            shutdown,
            _files: files,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.bridge.quic_addr()
    }

    /// What `POST /connect` would answer for a new session, and the key
    /// whose CSR it would have signed.
    fn grant(&self) -> (ConnectAnswer, KeyAndCsr) {
        let session = ulid::Ulid::new().to_string().to_lowercase();
        let cert = issue(
            &self.ca,
            Profile::ClientSession(ClientSessionProfile {
                session_id: session.clone(),
                user_email: "alice@corp.example".into(),
                resource: RESOURCE.into(),
                resource_type: "postgres".into(),
                bridge_id: BRIDGE.into(),
                roles: vec!["everyone".into()],
            }),
        );
        let answer = ConnectAnswer {
            session_id: session,
            resource: RESOURCE.into(),
            resource_type: "postgres".into(),
            bridge_id: BRIDGE.into(),
            bridge_addr: self.addr().to_string(),
            bridge_server_name: "localhost".into(),
            certificate: cert.pem,
            ca_certificate: self.ca.cert_pem().to_owned(),
            expires_at: "2099-01-01T00:00:00Z".into(),
        };
        (answer, cert.key)
    }

    /// bamfctl's tunnel for a new session, paired with an echoing agent.
    async fn paired(&self) -> (ConnectAnswer, Tunnel, quinn::Connection) {
        let (answer, key) = self.grant();
        let tunnel = Tunnel::open(&answer, key.private_key_der(), TIMEOUT)
            .await
            .expect("bamfctl connects to the bridge");
        let agent = self.agent(&answer.session_id).await;
        spawn_echo_agent(agent.clone());
        (answer, tunnel, agent)
    }

    /// The agent side of `session`, connected to the bridge.
    async fn agent(&self, session: &str) -> quinn::Connection {
        let cert = issue(
            &self.ca,
            Profile::AgentSession(AgentSessionProfile {
                session_id: session.into(),
                agent_id: "agent-1".into(),
                resource: RESOURCE.into(),
                resource_type: "postgres".into(),
                bridge_id: BRIDGE.into(),
            }),
        );
        let tls = bridge_client_config(
            Arc::new(BridgeServerVerifier::new(self.ca.trust().clone(), BRIDGE)),
            CertificateDer::from_pem_slice(cert.pem.as_bytes()).unwrap(),
            cert.key.private_key_der(),
        )
        .unwrap();
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        endpoint
            .set_default_client_config(client_config(tls, &TransportLimits::default()).unwrap());
        let connecting = endpoint.connect(self.addr(), "localhost").unwrap();
        tokio::time::timeout(TIMEOUT, connecting)
            .await
            .expect("agent handshake in time")
            .expect("agent admitted")
    }

    /// Asks the bridge, over NATS, to kill `session`, as the API does.
    async fn kill(&self, session: &str) {
        let client = bamf_events::connect(self.nats.url()).await.unwrap();
        let kill = KillCommand {
            session_id: AggregateId::new(session.to_owned()).unwrap(),
        };
        bamf_events::commands::request::<_, ()>(
            &client,
            format!("bamf.cmd.bridge.{BRIDGE}.kill"),
            &kill,
            Default::default(),
            TIMEOUT,
        )
        .await
        .expect("the bridge kills the session");
    }

    async fn stop(self) {
        self.shutdown.trigger();
        self.shutdown.drain().await;
    }
}

fn issue(ca: &Ca, profile: Profile) -> Cert {
    let key = KeyAndCsr::generate().unwrap();
    let csr = VerifiedCsr::from_der(key.csr_der()).unwrap();
    let issued = ca.issue(&profile, &csr, "test", SystemTime::now()).unwrap();
    Cert {
        pem: issued.cert_pem,
        key,
    }
}

/// The test's agent: for each stream the bridge opens, checks the header and echoes.
fn spawn_echo_agent(agent: quinn::Connection) {
    tokio::spawn(async move {
        while let Ok((mut send, mut recv)) = agent.accept_bi().await {
            tokio::spawn(async move {
                let header = StreamHeader::read_from(&mut recv).await.unwrap();
                assert_eq!(header, StreamHeader::TCP);
                tokio::io::copy(&mut recv, &mut send).await.unwrap();
                let _ = send.finish();
            });
        }
    });
}

/// Sends `payload` on a new local TCP connection to `port`, half-closes,
/// and returns everything that came back.
async fn echo_over_tcp(port: u16, payload: Vec<u8>) -> Vec<u8> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut read, mut write) = tcp.into_split();
    let writer = tokio::spawn(async move {
        write.write_all(&payload).await.unwrap();
        write.shutdown().await.unwrap();
    });
    let mut echoed = Vec::new();
    tokio::time::timeout(TIMEOUT, read.read_to_end(&mut echoed))
        .await
        .expect("echo in time")
        .unwrap();
    writer.await.unwrap();
    echoed
}

fn payload(size: usize, seed: u8) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test]
async fn local_tcp_connections_round_trip_concurrently_over_one_session() {
    let h = Harness::start().await;
    let (_answer, tunnel, agent) = h.paired().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let tunnel = Arc::new(tunnel);
    let serving = tokio::spawn({
        let tunnel = tunnel.clone();
        async move { tunnel.serve(listener).await }
    });

    let sizes = [1usize, 4096, 300_000, 1 << 20, 17];
    let mut connections = Vec::new();
    for (i, size) in sizes.into_iter().enumerate() {
        connections.push(tokio::spawn(async move {
            let sent = payload(size, i as u8);
            let echoed = echo_over_tcp(port, sent.clone()).await;
            assert!(
                echoed == sent,
                "connection {i} ({size} bytes) echoed intact"
            );
        }));
    }
    for c in connections {
        c.await.unwrap();
    }
    // And one more after those ended: the session outlives its connections.
    assert_eq!(echo_over_tcp(port, b"again".to_vec()).await, b"again");

    let m = h.bridge.metrics();
    assert_eq!(m.sessions_paired, 1, "every connection rode one session");
    assert_eq!(
        m.protocol_errors, 0,
        "every stream opened with a good header"
    );

    // The agent ending the session normally ends `serve` with Ok.
    agent.close(CloseCode::Normal.varint(), b"done");
    let served = tokio::time::timeout(TIMEOUT, serving)
        .await
        .unwrap()
        .unwrap();
    assert!(served.is_ok(), "a normal close is not an error: {served:?}");
    h.stop().await;
}

#[tokio::test]
async fn stdio_mode_carries_one_connection_and_closes_the_session_when_done() {
    let h = Harness::start().await;
    let (_answer, tunnel, agent) = h.paired().await;
    // In-memory pipes stand in for stdin and stdout.
    let (mut stdin_writer, stdin) = tokio::io::duplex(4096);
    let (stdout, mut stdout_reader) = tokio::io::duplex(4096);
    let running = tokio::spawn(async move { tunnel.stdio(stdin, stdout).await });

    let sent = payload(500_000, 3);
    let writer = tokio::spawn({
        let sent = sent.clone();
        async move {
            stdin_writer.write_all(&sent).await.unwrap();
            stdin_writer.shutdown().await.unwrap();
        }
    });
    let mut got = Vec::new();
    tokio::time::timeout(TIMEOUT, stdout_reader.read_to_end(&mut got))
        .await
        .expect("stdout ends in time")
        .unwrap();
    writer.await.unwrap();
    assert!(got == sent, "stdin came back on stdout intact");

    let ended = tokio::time::timeout(TIMEOUT, running)
        .await
        .unwrap()
        .unwrap();
    assert!(ended.is_ok(), "{ended:?}");
    // bamfctl closed the session normally; the bridge passes that on.
    let closed = tokio::time::timeout(TIMEOUT, agent.closed()).await.unwrap();
    match closed {
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(
                CloseCode::from_varint(c.error_code),
                Some(CloseCode::Normal)
            )
        }
        other => panic!("want a normal application close, got {other:?}"),
    }
    h.stop().await;
}

#[tokio::test]
async fn a_killed_session_ends_the_tunnel_with_the_administrator_message() {
    let h = Harness::start().await;
    let (answer, tunnel, _agent) = h.paired().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let serving = tokio::spawn(async move { tunnel.serve(listener).await });
    // A round trip proves the pair is up before the kill.
    assert_eq!(echo_over_tcp(port, b"up".to_vec()).await, b"up");

    h.kill(&answer.session_id).await;
    let ended = tokio::time::timeout(TIMEOUT, serving)
        .await
        .unwrap()
        .unwrap();
    let err = ended.expect_err("a killed session is an error (non-zero exit)");
    assert_eq!(err.close_code(), Some(CloseCode::Killed));
    assert_eq!(
        err.to_string(),
        "the session was killed by an administrator"
    );
    // What the user sees, through bamfctl's error report.
    let report = bamfctl::error_report(&bamfctl::cmd::connect::session_ended(err));
    assert_eq!(
        report,
        "the tunnel ended: the session was killed by an administrator"
    );
    h.stop().await;
}

#[tokio::test]
async fn an_unreachable_bridge_is_named_in_the_error() {
    let h = Harness::start().await;
    let (mut answer, key) = h.grant();
    // A UDP port nobody answers on: bound here and never read.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    answer.bridge_addr = silent.local_addr().unwrap().to_string();
    let err = Tunnel::open(&answer, key.private_key_der(), Duration::from_millis(500))
        .await
        .err()
        .expect("no bridge, no tunnel");
    assert!(matches!(err, TunnelError::Unreachable { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&answer.bridge_addr),
        "names the address: {err}"
    );
    h.stop().await;
}

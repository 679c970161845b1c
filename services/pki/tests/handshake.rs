//! Real TLS 1.3 handshakes over loopback TCP with the bamf verifiers on both
//! sides: the server (bridge) gets the client's claims; every refusal arrives
//! as its specific `ClaimsError`. Time is injected with `ManualClock`.

mod common;

use std::{
    io,
    sync::{Arc, Mutex},
    time::Duration,
};

use bamf_pki::{
    bridge_client_config, bridge_server_config, claims_from_peer, BridgeClientVerifier,
    BridgeServerVerifier, ClaimsError, Clock, ManualClock, Profile, SessionClaims, Side,
};
use common::*;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Bounds every network wait so a broken handshake fails instead of hanging.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

struct Bridge {
    cert: CertificateDer<'static>,
    key: bamf_pki::KeyAndCsr,
}

fn bridge_cert(t: &TestCa, id: &str) -> Bridge {
    let (issued, key) = t.issue(&Profile::Bridge(bridge_profile(id)), t0());
    Bridge {
        cert: issued.cert_der,
        key,
    }
}

/// Runs one handshake; returns what the server saw and what the client saw.
async fn handshake(
    server: rustls::ServerConfig,
    client: rustls::ClientConfig,
) -> (io::Result<Vec<CertificateDer<'static>>>, io::Result<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let connector = TlsConnector::from(Arc::new(client));

    let server_side = async move {
        let (tcp, _) = listener.accept().await?;
        let mut tls = acceptor.accept(tcp).await?;
        let certs = tls
            .get_ref()
            .1
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        tls.write_all(b"ok").await?;
        tls.shutdown().await?;
        Ok::<_, io::Error>(certs)
    };
    let client_side = async move {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("bridge.invalid").unwrap();
        let mut tls = connector.connect(name, tcp).await?;
        let mut buf = [0u8; 2];
        tls.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"ok");
        Ok::<_, io::Error>(())
    };
    let (s, c) = tokio::time::timeout(IO_TIMEOUT, async { tokio::join!(server_side, client_side) })
        .await
        .expect("handshake finished within the timeout");
    (s, c)
}

struct Setup {
    server: rustls::ServerConfig,
    client: rustls::ClientConfig,
    rejections: Arc<Mutex<Vec<ClaimsError>>>,
}

/// The bridge `server_bridge_id` with its certificate; a client holding
/// `client_profile`'s certificate from `client_ca`, expecting `expected_bridge`.
fn setup(
    ca: &TestCa,
    client_ca: &TestCa,
    server_bridge_id: &str,
    client_profile: &Profile,
    expected_bridge: &str,
    server_clock: Arc<dyn Clock>,
) -> Setup {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(t0()));
    let bridge = bridge_cert(ca, server_bridge_id);
    let rejections = Arc::new(Mutex::new(Vec::new()));
    let sink = rejections.clone();
    let verifier = BridgeClientVerifier::new(ca.ca.trust().clone(), server_bridge_id)
        .with_clock(server_clock)
        .on_reject(Arc::new(move |e: &ClaimsError| {
            sink.lock().unwrap().push(e.clone())
        }));
    let server = bridge_server_config(
        Arc::new(verifier),
        bridge.cert,
        bridge.key.private_key_der(),
    )
    .unwrap();

    let (issued, key) = client_ca.issue(client_profile, t0());
    let verifier =
        BridgeServerVerifier::new(ca.ca.trust().clone(), expected_bridge).with_clock(clock);
    let client =
        bridge_client_config(Arc::new(verifier), issued.cert_der, key.private_key_der()).unwrap();
    Setup {
        server,
        client,
        rejections,
    }
}

fn server_claims(result: io::Result<Vec<CertificateDer<'static>>>) -> SessionClaims {
    let certs = result.expect("server accepted the client");
    claims_from_peer(&certs).expect("claims of a verified peer parse")
}

fn server_rejection(result: io::Result<Vec<CertificateDer<'static>>>) -> ClaimsError {
    let err = result.expect_err("server refused the client");
    ClaimsError::from_io_error(&err)
        .unwrap_or_else(|| panic!("not a bamf rejection: {err:?}"))
        .clone()
}

#[tokio::test]
async fn client_side_round_trip_hands_claims_to_the_bridge() {
    let t = TestCa::new();
    let s = setup(
        &t,
        &t,
        "bridge-1",
        &client_profile_enum("bridge-1"),
        "bridge-1",
        Arc::new(ManualClock::new(t0())),
    );
    let (server, client) = handshake(s.server, s.client).await;
    client.expect("client completed the exchange");
    let claims = server_claims(server);
    assert_eq!(claims.side(), Side::Client);
    assert_eq!(claims.session_id, SESSION_ID);
    assert_eq!(claims.bridge_id, "bridge-1");
    assert_eq!(claims.resource, "orders-db");
    assert_eq!(claims.resource_type, "postgres");
    assert_eq!(claims.user_email(), Some("alice@corp.example"));
    assert_eq!(claims.roles(), ["everyone", "dba"]);
    assert!(s.rejections.lock().unwrap().is_empty());
}

#[tokio::test]
async fn agent_side_round_trip_hands_claims_to_the_bridge() {
    let t = TestCa::new();
    let s = setup(
        &t,
        &t,
        "bridge-1",
        &Profile::AgentSession(agent_session_profile("bridge-1")),
        "bridge-1",
        Arc::new(ManualClock::new(t0())),
    );
    let (server, client) = handshake(s.server, s.client).await;
    client.unwrap();
    let claims = server_claims(server);
    assert_eq!(claims.side(), Side::Agent);
    assert_eq!(claims.agent_id(), Some("agent-7"));
}

#[tokio::test]
async fn bridge_2_refuses_a_certificate_for_bridge_1() {
    let t = TestCa::new();
    let s = setup(
        &t,
        &t,
        "bridge-2",
        &client_profile_enum("bridge-1"),
        "bridge-2",
        Arc::new(ManualClock::new(t0())),
    );
    let (server, client) = handshake(s.server, s.client).await;
    assert!(client.is_err(), "client must not get through");
    let err = server_rejection(server);
    assert!(matches!(err, ClaimsError::WrongBridge { .. }), "{err:?}");
    assert_eq!(s.rejections.lock().unwrap().as_slice(), [err]);
}

#[tokio::test]
async fn expired_session_certificate_is_refused_without_sleeping() {
    let t = TestCa::new();
    let clock = ManualClock::new(t0());
    let s = setup(
        &t,
        &t,
        "bridge-1",
        &client_profile_enum("bridge-1"),
        "bridge-1",
        Arc::new(clock.clone()),
    );
    clock.advance(Duration::from_secs(31));
    let (server, client) = handshake(s.server, s.client).await;
    assert!(client.is_err());
    let err = server_rejection(server);
    assert!(matches!(err, ClaimsError::Expired { .. }), "{err:?}");
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_refused() {
    let ours = TestCa::new();
    let theirs = TestCa::new();
    let s = setup(
        &ours,
        &theirs,
        "bridge-1",
        &client_profile_enum("bridge-1"),
        "bridge-1",
        Arc::new(ManualClock::new(t0())),
    );
    let (server, client) = handshake(s.server, s.client).await;
    assert!(client.is_err());
    let err = server_rejection(server);
    assert!(matches!(err, ClaimsError::UntrustedChain), "{err:?}");
}

#[tokio::test]
async fn client_refuses_a_bridge_with_another_id() {
    let t = TestCa::new();
    // The client expects bridge-1 but reaches bridge-2 (same CA, valid cert).
    let s = setup(
        &t,
        &t,
        "bridge-2",
        &client_profile_enum("bridge-2"),
        "bridge-1",
        Arc::new(ManualClock::new(t0())),
    );
    let (server, client) = handshake(s.server, s.client).await;
    assert!(server.is_err(), "server must see the client abort");
    let err = client.expect_err("client refused the bridge");
    let err = ClaimsError::from_io_error(&err)
        .expect("a bamf rejection")
        .clone();
    assert!(matches!(err, ClaimsError::WrongBridge { .. }), "{err:?}");
}

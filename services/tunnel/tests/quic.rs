//! A real QUIC connection over loopback with bamf's configurations on both
//! sides: mutual TLS with a session certificate, ALPN `bamf/1`, a stream that
//! opens with the header and is spliced to an echo, and a close code the
//! client reads back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bamf_pki::profile::{BridgeProfile, ClientSessionProfile, Profile};
use bamf_pki::{
    bridge_client_config, bridge_server_config, claims_from_peer, BridgeClientVerifier,
    BridgeServerVerifier, Ca, CaConfig, KeyAndCsr, Side, VerifiedCsr,
};
use bamf_tunnel::{client_config, server_config, splice, CloseCode, StreamHeader, TransportLimits};
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BRIDGE: &str = "bridge-1";
const TIMEOUT: Duration = Duration::from_secs(10);

fn issue(ca: &Ca, profile: Profile) -> (CertificateDer<'static>, KeyAndCsr) {
    let key = KeyAndCsr::generate().unwrap();
    let csr = VerifiedCsr::from_der(key.csr_der()).unwrap();
    (
        ca.issue(&profile, &csr, "test", SystemTime::now())
            .unwrap()
            .cert_der,
        key,
    )
}

#[tokio::test]
async fn a_session_stream_is_echoed_and_the_close_code_arrives() {
    let ca = Ca::generate(
        &CaConfig::default(),
        SystemTime::now() - Duration::from_secs(60),
    )
    .unwrap();
    let (bridge_cert, bridge_key) = issue(
        &ca,
        Profile::Bridge(BridgeProfile {
            bridge_id: BRIDGE.into(),
            dns_names: vec!["localhost".into()],
            ip_addresses: vec!["127.0.0.1".parse().unwrap()],
        }),
    );
    let (client_cert, client_key) = issue(
        &ca,
        Profile::ClientSession(ClientSessionProfile {
            session_id: "01jd8x3z7q9w5k2m4n6p8r0t1v".into(),
            user_email: "alice@corp.example".into(),
            resource: "orders-db".into(),
            resource_type: "postgres".into(),
            bridge_id: BRIDGE.into(),
            roles: vec!["everyone".into()],
        }),
    );
    let limits = TransportLimits::default();
    let server_tls = bridge_server_config(
        Arc::new(BridgeClientVerifier::new(ca.trust().clone(), BRIDGE)),
        bridge_cert,
        bridge_key.private_key_der(),
    )
    .unwrap();
    let server = quinn::Endpoint::server(
        server_config(server_tls, &limits).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let addr: SocketAddr = server.local_addr().unwrap();

    let bridge = tokio::spawn(async move {
        let connection = server.accept().await.unwrap().await.unwrap();
        let certs: Vec<CertificateDer<'static>> = *connection
            .peer_identity()
            .unwrap()
            .downcast::<Vec<CertificateDer<'static>>>()
            .unwrap();
        let claims = claims_from_peer(&certs).unwrap();
        assert_eq!(claims.side(), Side::Client);
        assert_eq!(
            connection
                .handshake_data()
                .unwrap()
                .downcast::<quinn::crypto::rustls::HandshakeData>()
                .unwrap()
                .protocol
                .unwrap(),
            b"bamf/1"
        );
        let (send, mut recv) = connection.accept_bi().await.unwrap();
        assert_eq!(
            StreamHeader::read_from(&mut recv).await.unwrap(),
            StreamHeader::TCP
        );
        // Echo through a splice with an in-memory loop.
        let (near, far) = tokio::io::duplex(64 * 1024);
        let (far_read, far_write) = tokio::io::split(far);
        let echo = tokio::spawn(async move {
            let (mut r, mut w) = (far_read, far_write);
            tokio::io::copy(&mut r, &mut w).await.unwrap();
            w.shutdown().await.unwrap();
        });
        let (near_read, near_write) = tokio::io::split(near);
        let counts = splice(recv, send, near_read, near_write).await.unwrap();
        echo.await.unwrap();
        // Wait for the client to read everything before closing.
        connection.closed().await;
        counts
    });

    let client_tls = bridge_client_config(
        Arc::new(BridgeServerVerifier::new(ca.trust().clone(), BRIDGE)),
        client_cert,
        client_key.private_key_der(),
    )
    .unwrap();
    let mut client = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(client_config(client_tls, &limits).unwrap());
    let connection = tokio::time::timeout(TIMEOUT, client.connect(addr, "localhost").unwrap())
        .await
        .unwrap()
        .unwrap();
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(&StreamHeader::TCP.encode()).await.unwrap();
    let payload = vec![42u8; 1 << 20];
    let writer = {
        let payload = payload.clone();
        tokio::spawn(async move {
            send.write_all(&payload).await.unwrap();
            send.finish().unwrap();
        })
    };
    let mut echoed = Vec::new();
    tokio::time::timeout(TIMEOUT, AsyncReadExt::read_to_end(&mut recv, &mut echoed))
        .await
        .unwrap()
        .unwrap();
    writer.await.unwrap();
    assert_eq!(echoed.len(), payload.len());
    assert_eq!(echoed, payload);
    connection.close(
        CloseCode::Normal.varint(),
        CloseCode::Normal.reason().as_bytes(),
    );
    let counts = tokio::time::timeout(TIMEOUT, bridge)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((counts.a_to_b, counts.b_to_a), (1 << 20, 1 << 20));
    client.wait_idle().await;
}

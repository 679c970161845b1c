//! The bridge test harness: a real nats-server with the bamf streams, a test
//! CA issuing the bridge certificate and session certificates, the bridge
//! started in-process on port 0, and real quinn endpoints playing client and
//! agent.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bamf_bridge::{Bridge, BridgeConfig, BridgeTls};
use bamf_domain::{Envelope, Event};
use bamf_events::jetstream::{self, consumer};
use bamf_events::{ensure_streams, StreamOptions};
use bamf_pki::profile::{AgentSessionProfile, BridgeProfile, ClientSessionProfile, Profile};
use bamf_pki::{
    bridge_client_config, BridgeServerVerifier, Ca, CaConfig, KeyAndCsr, Side, VerifiedCsr,
};
use bamf_runtime::Shutdown;
use bamf_testkit::NatsServer;
use bamf_tunnel::{client_config, CloseCode, StreamHeader, TransportLimits};
use futures::StreamExt;
use rustls_pki_types::CertificateDer;

pub const BRIDGE: &str = "bridge-1";
/// Bound on every wait in these tests.
pub const TIMEOUT: Duration = Duration::from_secs(20);

pub fn session_id() -> String {
    ulid::Ulid::new().to_string().to_lowercase()
}

/// A CA and what it issues.
pub struct Pki {
    pub ca: Ca,
}

/// A certificate with its key.
pub struct Cert {
    pub cert: CertificateDer<'static>,
    pub pem: String,
    pub key: KeyAndCsr,
}

impl Pki {
    pub fn new() -> Self {
        // Valid from two hours ago, so expired certificates can be issued.
        let ca = Ca::generate(
            &CaConfig::default(),
            SystemTime::now() - Duration::from_secs(7200),
        )
        .unwrap();
        Pki { ca }
    }

    pub fn issue_at(&self, profile: Profile, now: SystemTime) -> Cert {
        let key = KeyAndCsr::generate().unwrap();
        let csr = VerifiedCsr::from_der(key.csr_der()).unwrap();
        let issued = self.ca.issue(&profile, &csr, "test", now).unwrap();
        Cert {
            cert: issued.cert_der,
            pem: issued.cert_pem,
            key,
        }
    }

    pub fn bridge(&self) -> Cert {
        self.issue_at(
            Profile::Bridge(BridgeProfile {
                bridge_id: BRIDGE.into(),
                dns_names: vec!["localhost".into()],
                ip_addresses: vec!["127.0.0.1".parse().unwrap()],
            }),
            SystemTime::now(),
        )
    }

    pub fn session_for(&self, session: &str, side: Side, bridge: &str, now: SystemTime) -> Cert {
        let profile = match side {
            Side::Client => Profile::ClientSession(ClientSessionProfile {
                session_id: session.into(),
                user_email: "alice@corp.example".into(),
                resource: "orders-db".into(),
                resource_type: "postgres".into(),
                bridge_id: bridge.into(),
                roles: vec!["everyone".into()],
            }),
            Side::Agent => Profile::AgentSession(AgentSessionProfile {
                session_id: session.into(),
                agent_id: "agent-1".into(),
                resource: "orders-db".into(),
                resource_type: "postgres".into(),
                bridge_id: bridge.into(),
            }),
        };
        self.issue_at(profile, now)
    }

    pub fn session(&self, session: &str, side: Side) -> Cert {
        self.session_for(session, side, BRIDGE, SystemTime::now())
    }
}

/// NATS, the PKI and a running bridge.
pub struct Harness {
    pub nats: NatsServer,
    pub js: jetstream::Context,
    pub pki: Pki,
    pub bridge: Bridge,
    pub shutdown: Shutdown,
    _files: tempfile::TempDir,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut BridgeConfig)) -> Self {
        let nats = NatsServer::start().await.unwrap();
        let client = bamf_events::connect(nats.url()).await.unwrap();
        let js = jetstream::new(client);
        ensure_streams(&js, &StreamOptions::default())
            .await
            .unwrap();
        let pki = Pki::new();
        let files = tempfile::tempdir().unwrap();
        let mut config = bridge_config(&pki, &nats.url(), files.path());
        tweak(&mut config);
        config.validate().unwrap();
        let tls = BridgeTls::load(&config).unwrap();
        let socket = std::net::UdpSocket::bind(config.quic_listen).unwrap();
        let shutdown = Shutdown::new(config.shutdown_grace);
        let bridge = bamf_bridge::start(config, tls, socket, shutdown.clone())
            .await
            .unwrap();
        Harness {
            nats,
            js,
            pki,
            bridge,
            shutdown,
            _files: files,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.bridge.quic_addr()
    }

    /// Connects with `cert` (trusting this harness's CA).
    pub async fn connect(&self, cert: &Cert) -> Result<quinn::Connection, quinn::ConnectionError> {
        connect_with(&self.pki, self.addr(), cert).await
    }

    /// Waits for the next event of `session` in BAMF_EVENTS of type `event_type`.
    pub async fn event(&self, session: &str, event_type: &str) -> Envelope {
        let mut events = self.events(session).await;
        tokio::time::timeout(TIMEOUT, async {
            loop {
                let envelope = events.next().await.unwrap();
                if envelope.event.event_type() == event_type {
                    return envelope;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {event_type} event for session {session}"))
    }

    /// An ordered consumer's messages on `filter` of `stream`, from the start.
    pub async fn messages(&self, stream: &str, filter: &str) -> consumer::pull::Ordered {
        self.js
            .get_stream(stream)
            .await
            .unwrap()
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: filter.to_string(),
                ..Default::default()
            })
            .await
            .unwrap()
            .messages()
            .await
            .unwrap()
    }

    /// The audit record about `session` (`access.denied`), waited for in BAMF_AUDIT.
    pub async fn audit(&self, session: &str) -> serde_json::Value {
        let mut messages = self
            .messages("BAMF_AUDIT", "bamf.audit.access.denied")
            .await;
        tokio::time::timeout(TIMEOUT, async {
            loop {
                let message = messages.next().await.unwrap().unwrap();
                let record: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
                if record["subject"]["id"] == session {
                    return record;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no access.denied audit record for session {session}"))
    }

    /// Every event of `session`, from the start of the stream, as they come.
    pub async fn events(&self, session: &str) -> impl futures::Stream<Item = Envelope> + Unpin {
        let messages = self
            .messages("BAMF_EVENTS", &format!("bamf.evt.session.{session}.>"))
            .await;
        Box::pin(messages.map(|m| Envelope::decode(&m.unwrap().message.payload).unwrap()))
    }

    /// Client and agent connected and paired for a new session.
    pub async fn pair(&self) -> (String, quinn::Connection, quinn::Connection) {
        let session = session_id();
        let client = self
            .connect(&self.pki.session(&session, Side::Client))
            .await
            .unwrap();
        let agent = self
            .connect(&self.pki.session(&session, Side::Agent))
            .await
            .unwrap();
        (session, client, agent)
    }

    pub async fn stop(self) {
        self.shutdown.trigger();
        self.shutdown.drain().await;
    }
}

/// A valid config for bridge `BRIDGE`: certificate, key and CA written to
/// `dir`, QUIC on loopback port 0, fast heartbeats.
pub fn bridge_config(pki: &Pki, nats_url: &str, dir: &std::path::Path) -> BridgeConfig {
    let bridge_cert = pki.bridge();
    let cert_file = dir.join("bridge.crt");
    let key_file = dir.join("bridge.key");
    let ca_file = dir.join("ca.crt");
    std::fs::write(&cert_file, &bridge_cert.pem).unwrap();
    std::fs::write(&key_file, bridge_cert.key.private_key_pem()).unwrap();
    std::fs::write(&ca_file, pki.ca.cert_pem()).unwrap();
    BridgeConfig {
        bridge_id: BRIDGE.into(),
        quic_listen: "127.0.0.1:0".parse().unwrap(),
        advertise_address: "127.0.0.1:4433".into(),
        server_name: "localhost".into(),
        cert_file,
        key_file,
        ca_file,
        nats_url: nats_url.into(),
        shutdown_grace: Duration::from_secs(2),
        heartbeat_interval: Duration::from_millis(200),
        heartbeat_ttl: Duration::from_secs(2),
        ..BridgeConfig::default()
    }
}

/// Connects to a bridge at `addr` with `cert`, trusting `pki`'s CA.
pub async fn connect_with(
    pki: &Pki,
    addr: SocketAddr,
    cert: &Cert,
) -> Result<quinn::Connection, quinn::ConnectionError> {
    let tls = bridge_client_config(
        Arc::new(BridgeServerVerifier::new(pki.ca.trust().clone(), BRIDGE)),
        cert.cert.clone(),
        cert.key.private_key_der(),
    )
    .unwrap();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(client_config(tls, &TransportLimits::default()).unwrap());
    let connecting = endpoint.connect(addr, "localhost").unwrap();
    tokio::time::timeout(TIMEOUT, connecting)
        .await
        .expect("handshake within the timeout")
}

/// How the bridge closed `conn`, as a bamf close code.
pub async fn close_code(conn: &quinn::Connection) -> Option<CloseCode> {
    match tokio::time::timeout(TIMEOUT, conn.closed()).await.unwrap() {
        quinn::ConnectionError::ApplicationClosed(close) => {
            CloseCode::from_varint(close.error_code)
        }
        _ => None,
    }
}

/// The handshake was refused by the bridge (during it, or right after the
/// client's view of it completed: in TLS 1.3 the client finishes first).
pub async fn assert_refused_handshake(result: Result<quinn::Connection, quinn::ConnectionError>) {
    match result {
        Err(_) => {}
        Ok(conn) => {
            let closed = tokio::time::timeout(TIMEOUT, conn.closed()).await.unwrap();
            assert!(
                matches!(closed, quinn::ConnectionError::ConnectionClosed(_)),
                "want a TLS refusal, got {closed:?}"
            );
        }
    }
}

/// The test's agent: echoes every stream the bridge opens, after checking its header.
pub fn spawn_echo_agent(agent: quinn::Connection) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((mut send, mut recv)) = agent.accept_bi().await {
            tokio::spawn(async move {
                let header = StreamHeader::read_from(&mut recv).await.unwrap();
                assert_eq!(header, StreamHeader::TCP);
                tokio::io::copy(&mut recv, &mut send).await.unwrap();
                let _ = send.finish();
            });
        }
    })
}

/// Opens a stream from the client, sends `payload`, returns what came back.
pub async fn echo_through(client: &quinn::Connection, payload: Vec<u8>) -> Vec<u8> {
    let (mut send, mut recv) = client.open_bi().await.unwrap();
    send.write_all(&StreamHeader::TCP.encode()).await.unwrap();
    let writer = tokio::spawn(async move {
        send.write_all(&payload).await.unwrap();
        send.finish().unwrap();
    });
    let echoed = tokio::time::timeout(TIMEOUT, recv.read_to_end(usize::MAX))
        .await
        .unwrap()
        .unwrap();
    writer.await.unwrap();
    echoed
}

/// The data of a `session.closed` envelope.
pub fn closed_data(envelope: &Envelope) -> bamf_domain::events::SessionClosed {
    match &envelope.event {
        Event::SessionClosed(closed) => closed.clone(),
        other => panic!("not session.closed: {other:?}"),
    }
}

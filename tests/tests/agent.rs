//! bamf-agent against the real control plane: nats-server, PostgreSQL and
//! bamf-api in-process, the agent in-process with a TCP echo server as its
//! resource. It joins, heartbeats its catalog, keeps its identity across a
//! restart, refuses a dial for a resource it was not configured with, and
//! carries a session: this test plays the API's part of the dial (the CA from
//! the API's data dir signs the agent's CSR) and the bridge's (a quinn server
//! with a bridge certificate from the same CA), since the real bridge is not
//! part of this test.

#[path = "agent/harness.rs"]
mod harness;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bamf_agent::enroll::{renew_now, RenewError};
use bamf_agent::identity::Identity;
use bamf_domain::tunnel::{DialCert, DialCommand, DialCsr};
use bamf_domain::AggregateId;
use bamf_events::commands::{self, agent_command_subject, CommandError, Reply};
use bamf_pki::profile::{AgentProfile, AgentSessionProfile, BridgeProfile, Profile};
use bamf_pki::{BridgeClientVerifier, Ca, KeyAndCsr, VerifiedCsr};
use bamf_tunnel::{CloseCode, StreamHeader, TransportLimits};
use harness::{echo_server, eventually, resource, RunningAgent, Stack, REQUEST_TIMEOUT};
use serde_json::json;

const BRIDGE_ID: &str = "bridge-1";
const BRIDGE_NAME: &str = "bridge.test";

fn agent_id_in(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("agent_id")).expect("agent_id is stored")
}

fn dial(session: &str, resource: &str, bridge_addr: String) -> DialCommand {
    DialCommand {
        session_id: AggregateId::new(session).expect("a valid id"),
        resource: resource.into(),
        bridge_id: AggregateId::new(BRIDGE_ID).expect("a valid id"),
        bridge_addr,
        bridge_server_name: BRIDGE_NAME.into(),
    }
}

#[tokio::test]
async fn joins_heartbeats_restarts_with_its_identity_and_refuses_unknown_resources() {
    let stack = Stack::start().await;
    let token = stack.join_token(json!({"env": "test"})).await;
    let echo = echo_server().await;
    let data = stack.dir.path().join("agent");
    let config = stack.agent_config(&token, &data, vec![resource("echo", echo)]);

    let agent = RunningAgent::start(config.clone()).await;
    let key_mode = std::fs::metadata(data.join("agent.key"))
        .expect("the key is stored")
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
    let agent_id = agent_id_in(&data);

    // Listed online, with its resource carrying the token's and its own labels.
    let listed = eventually("agent listed online", || async {
        let (status, body) = stack
            .call(reqwest::Method::GET, "/api/v1/agents", None)
            .await;
        assert_eq!(status, 200, "{body}");
        let agents = body["agents"].as_array()?.clone();
        let online = agents
            .iter()
            .any(|a| a["id"] == agent_id.as_str() && a["online"] == true);
        online.then_some(agents)
    })
    .await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["name"], "edge-1");
    let echo_entry = eventually("resource listed", || async {
        let (_, body) = stack
            .call(reqwest::Method::GET, "/api/v1/resources", None)
            .await;
        body["resources"]
            .as_array()?
            .iter()
            .find(|r| r["name"] == "echo")
            .cloned()
    })
    .await;
    assert_eq!(echo_entry["agent_id"], agent_id.as_str());
    assert_eq!(echo_entry["labels"]["env"], "test", "{echo_entry}");
    assert_eq!(echo_entry["labels"]["team"], "core", "{echo_entry}");
    assert!(
        !echo_entry.to_string().contains(&echo.port().to_string()),
        "no port: {echo_entry}"
    );

    // Restart: the single-use token is spent, so readiness proves the stored
    // identity was used and no second join happened.
    agent.stop().await;
    let agent = RunningAgent::start(config).await;
    assert_eq!(agent_id_in(&data), agent_id);
    let (_, body) = stack
        .call(reqwest::Method::GET, "/api/v1/agents", None)
        .await;
    assert_eq!(body["agents"].as_array().map(Vec::len), Some(1), "{body}");

    // A dial for a resource the agent was not configured with is refused.
    let nats = bamf_events::connect(stack.nats.url())
        .await
        .expect("NATS connects");
    let subject = agent_command_subject(&AggregateId::new(agent_id.clone()).unwrap(), "dial");
    let refused = commands::request::<_, DialCsr>(
        &nats,
        subject,
        &dial("sess-unknown", "payroll-db", "127.0.0.1:9".into()),
        Default::default(),
        REQUEST_TIMEOUT,
    )
    .await;
    assert!(
        matches!(&refused, Err(CommandError::Refused(r)) if r.code == "unknown_resource"),
        "{refused:?}"
    );
    agent.stop().await;
}

#[tokio::test]
async fn a_config_without_token_or_identity_fails_naming_the_key() {
    let stack = Stack::start().await;
    let data = stack.dir.path().join("agent");
    let mut config = stack.agent_config("", &data, vec![]);
    config.join_token = None;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = bamf_runtime::Shutdown::new(Duration::from_secs(1));
    let err = tokio::time::timeout(
        harness::READY_TIMEOUT,
        bamf_agent::run(config, listener, shutdown),
    )
    .await
    .expect("run returns")
    .expect_err("no identity and no token");
    assert!(format!("{err:#}").contains("join_token"), "{err:#}");
}

/// The test's bridge: a quinn server with a bridge certificate from the API's CA.
fn bridge_endpoint(ca: &Ca) -> quinn::Endpoint {
    let key = KeyAndCsr::generate().expect("a key");
    let csr = VerifiedCsr::from_der(key.csr_der()).expect("our own CSR verifies");
    let issued = ca
        .issue(
            &Profile::Bridge(BridgeProfile {
                bridge_id: BRIDGE_ID.into(),
                dns_names: vec![BRIDGE_NAME.into()],
                ip_addresses: vec![],
            }),
            &csr,
            "test",
            SystemTime::now(),
        )
        .expect("bridge certificate");
    let verifier = Arc::new(BridgeClientVerifier::new(ca.trust().clone(), BRIDGE_ID));
    let tls = bamf_pki::bridge_server_config(verifier, issued.cert_der, key.private_key_der())
        .expect("bridge TLS config");
    let server = bamf_tunnel::server_config(tls, &TransportLimits::default()).expect("QUIC config");
    quinn::Endpoint::server(server, "127.0.0.1:0".parse().unwrap()).expect("UDP port 0 binds")
}

#[tokio::test]
async fn a_dial_connects_to_the_bridge_and_streams_reach_the_target() {
    let stack = Stack::start().await;
    let token = stack.join_token(json!({})).await;
    let echo = echo_server().await;
    let closed = {
        // A port nothing listens on any more.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let data = stack.dir.path().join("agent");
    let mut config = stack.agent_config(
        &token,
        &data,
        vec![resource("echo", echo), resource("closed", closed)],
    );
    config.max_sessions = 1;
    let agent = RunningAgent::start(config).await;
    let agent_id = agent_id_in(&data);
    let ca = Ca::load(
        &stack.api_data.join("ca.crt"),
        &stack.api_data.join("ca.key"),
    )
    .expect("the API's CA loads");
    let bridge = bridge_endpoint(&ca);
    let nats = bamf_events::connect(stack.nats.url())
        .await
        .expect("NATS connects");
    let subject = agent_command_subject(&AggregateId::new(agent_id.clone()).unwrap(), "dial");

    // Step 1: the dial; the agent answers with a CSR for a fresh key.
    let bridge_addr = bridge.local_addr().unwrap().to_string();
    let first = commands::request::<_, DialCsr>(
        &nats,
        subject.clone(),
        &dial("sess-1", "echo", bridge_addr.clone()),
        Default::default(),
        REQUEST_TIMEOUT,
    )
    .await
    .expect("the agent answers the dial with a CSR");
    let csr = VerifiedCsr::from_pem(&first.answer.csr).expect("the agent's CSR verifies");
    // Step 2: sign it as the agent side of the session.
    let issued = ca
        .issue(
            &Profile::AgentSession(AgentSessionProfile {
                session_id: "sess-1".into(),
                agent_id: agent_id.clone(),
                resource: "echo".into(),
                resource_type: "tcp".into(),
                bridge_id: BRIDGE_ID.into(),
            }),
            &csr,
            "test",
            SystemTime::now(),
        )
        .expect("session certificate");
    let reply_to = first.reply_to.expect("the agent waits for its certificate");
    commands::answer(
        &nats,
        reply_to,
        &Reply::Ok(DialCert {
            certificate: issued.cert_pem,
            ca_certificate: ca.cert_pem().to_string(),
        }),
    )
    .await
    .expect("the certificate is sent");

    // The agent connects to the bridge with that certificate.
    let incoming = tokio::time::timeout(REQUEST_TIMEOUT, bridge.accept())
        .await
        .expect("the agent connects in time")
        .expect("the endpoint is open");
    let connection = incoming.await.expect("the handshake completes");

    // A TCP stream: bytes go to the echo target and come back.
    let (mut send, mut recv) = connection.open_bi().await.expect("a stream opens");
    let payload = b"hello through bamf".repeat(1000);
    send.write_all(&StreamHeader::TCP.encode()).await.unwrap();
    send.write_all(&payload).await.unwrap();
    send.finish().unwrap();
    let back = tokio::time::timeout(REQUEST_TIMEOUT, recv.read_to_end(1 << 20))
        .await
        .expect("the echo comes back in time")
        .expect("the stream ends cleanly");
    assert_eq!(back, payload);

    // Garbage instead of the header: the stream is reset as a protocol error.
    let (mut send, mut recv) = connection.open_bi().await.expect("a stream opens");
    send.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let garbage = tokio::time::timeout(REQUEST_TIMEOUT, recv.read_to_end(1024))
        .await
        .expect("the reset comes in time");
    assert!(
        matches!(&garbage, Err(quinn::ReadToEndError::Read(quinn::ReadError::Reset(code)))
            if *code == CloseCode::ProtocolError.varint()),
        "{garbage:?}"
    );
    assert!(
        connection.close_reason().is_none(),
        "the session survives a bad stream"
    );

    connection.close(CloseCode::Normal.varint(), b"done");
    bridge.wait_idle().await;

    // A second session to an unreachable target, once the first has ended
    // (until the agent sees the close, it answers `busy`): its stream is
    // reset as such.
    let first = eventually("the first session's slot is free", || async {
        let answer = commands::request::<_, DialCsr>(
            &nats,
            subject.clone(),
            &dial("sess-2", "closed", bridge_addr.clone()),
            Default::default(),
            REQUEST_TIMEOUT,
        )
        .await;
        match answer {
            Err(CommandError::Refused(r)) if r.code == "busy" => None,
            other => Some(other.expect("the agent answers the dial with a CSR")),
        }
    })
    .await;
    let csr = VerifiedCsr::from_pem(&first.answer.csr).expect("the agent's CSR verifies");
    let issued = ca
        .issue(
            &Profile::AgentSession(AgentSessionProfile {
                session_id: "sess-2".into(),
                agent_id: agent_id.clone(),
                resource: "closed".into(),
                resource_type: "tcp".into(),
                bridge_id: BRIDGE_ID.into(),
            }),
            &csr,
            "test",
            SystemTime::now(),
        )
        .expect("session certificate");
    commands::answer(
        &nats,
        first.reply_to.expect("the agent waits"),
        &Reply::Ok(DialCert {
            certificate: issued.cert_pem,
            ca_certificate: ca.cert_pem().to_string(),
        }),
    )
    .await
    .unwrap();
    let connection = tokio::time::timeout(REQUEST_TIMEOUT, bridge.accept())
        .await
        .expect("the agent connects in time")
        .expect("the endpoint is open")
        .await
        .expect("the handshake completes");
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(&StreamHeader::TCP.encode()).await.unwrap();
    let unreachable = tokio::time::timeout(REQUEST_TIMEOUT, recv.read_to_end(1024))
        .await
        .expect("the reset comes in time");
    assert!(
        matches!(&unreachable, Err(quinn::ReadToEndError::Read(quinn::ReadError::Reset(code)))
            if *code == CloseCode::TargetUnreachable.varint()),
        "{unreachable:?}"
    );
    connection.close(CloseCode::Normal.varint(), b"done");
    agent.stop().await;
}

#[tokio::test]
async fn renewal_keeps_the_key_and_stops_once_the_agent_is_deleted() {
    let stack = Stack::start().await;
    let token = stack.join_token(json!({})).await;
    let data = stack.dir.path().join("agent");
    let agent = RunningAgent::start(stack.agent_config(&token, &data, vec![])).await;
    agent.stop().await;

    let api = bamf_agent::api::ApiClient::new(&stack.url, REQUEST_TIMEOUT).expect("API client");
    let joined = Identity::load(&data)
        .expect("the identity loads")
        .expect("the agent joined");
    let renewed = renew_now(&joined, &api, &data)
        .await
        .expect("a live agent renews");
    assert_ne!(renewed.cert_pem, joined.cert_pem, "a new certificate");
    let stored = Identity::load(&data).unwrap().unwrap();
    assert_eq!(
        stored.cert_pem, renewed.cert_pem,
        "the new certificate is stored"
    );
    assert_eq!(stored.key_pem, joined.key_pem, "the key is kept");

    let (status, body) = stack
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/agents/{}", joined.agent_id),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let refused = renew_now(&stored, &api, &data).await.expect_err("deleted");
    assert!(matches!(refused, RenewError::Deleted { .. }), "{refused:?}");
    assert!(refused.to_string().contains("was deleted"), "{refused}");

    // The running agent stops on it: give it a certificate (same key, from
    // the API's CA) already past its renewal time, so it renews at once.
    let ca = Ca::load(
        &stack.api_data.join("ca.crt"),
        &stack.api_data.join("ca.key"),
    )
    .expect("the API's CA loads");
    let csr = bamf_pki::KeyAndCsr::from_key_pem(&stored.key_pem)
        .and_then(|k| k.csr_pem())
        .expect("a CSR for the stored key");
    let old = ca
        .issue(
            &Profile::Agent(AgentProfile {
                agent_id: joined.agent_id.to_string(),
            }),
            &VerifiedCsr::from_pem(&csr).expect("the CSR verifies"),
            "test",
            SystemTime::now() - Duration::from_secs(23 * 3600),
        )
        .expect("an old agent certificate");
    std::fs::write(data.join("agent.crt"), old.cert_pem).expect("the certificate is replaced");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = bamf_runtime::Shutdown::new(Duration::from_secs(3));
    let stopped = tokio::time::timeout(
        harness::READY_TIMEOUT,
        bamf_agent::run(
            stack.agent_config(&token, &data, vec![]),
            listener,
            shutdown,
        ),
    )
    .await
    .expect("the agent stops by itself")
    .expect_err("a deleted agent stops with an error");
    assert!(
        format!("{stopped:#}").contains("was deleted"),
        "{stopped:#}"
    );
}

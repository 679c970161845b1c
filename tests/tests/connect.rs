//! A tunnel end to end with every program real: nats-server, PostgreSQL,
//! bamf-api, bamf-bridge (its certificate from the API's CA) and bamf-agent
//! in-process, a TCP echo server as the resource. A user allowed by a role
//! connects (`POST /connect`), then plays the client with quinn and the
//! session certificate: bytes go through bridge and agent to the target and
//! back; the session is recorded (`session.requested`, `.granted`,
//! `.connected`, two `cert.issued`), listed while open, and an admin's
//! `DELETE /sessions/{id}` kills it (the client sees `Killed`, the log
//! `session.closed`).

#[path = "agent/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bamf_bridge::{BridgeConfig, BridgeTls};
use bamf_domain::events::Event;
use bamf_domain::Envelope;
use bamf_events::feed::Feed;
use bamf_events::streams::EVENTS_STREAM;
use bamf_pki::profile::{BridgeProfile, Profile};
use bamf_pki::{bridge_client_config, BridgeServerVerifier, Ca, CaTrust, KeyAndCsr, VerifiedCsr};
use bamf_runtime::Shutdown;
use bamf_tunnel::{client_config, CloseCode, StreamHeader, TransportLimits};
use harness::{echo_server, eventually, resource, RunningAgent, Stack, REQUEST_TIMEOUT};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};

const BRIDGE_ID: &str = "bridge-1";
const BRIDGE_NAME: &str = "localhost";

/// The real bridge, with a 24-hour certificate from the API's CA.
async fn start_bridge(stack: &Stack) -> (bamf_bridge::Bridge, Shutdown) {
    let ca = Ca::load(
        &stack.api_data.join("ca.crt"),
        &stack.api_data.join("ca.key"),
    )
    .expect("the API's CA loads");
    let key = KeyAndCsr::generate().expect("a key");
    let csr = VerifiedCsr::from_der(key.csr_der()).expect("our own CSR verifies");
    let issued = ca
        .issue(
            &Profile::Bridge(BridgeProfile {
                bridge_id: BRIDGE_ID.into(),
                dns_names: vec![BRIDGE_NAME.into()],
                ip_addresses: vec!["127.0.0.1".parse().expect("an address")],
            }),
            &csr,
            "test",
            SystemTime::now(),
        )
        .expect("bridge certificate");
    let dir = stack.dir.path().join("bridge");
    std::fs::create_dir_all(&dir).expect("bridge dir");
    let (cert_file, key_file, ca_file) = (
        dir.join("bridge.crt"),
        dir.join("bridge.key"),
        dir.join("ca.crt"),
    );
    std::fs::write(&cert_file, &issued.cert_pem).unwrap();
    std::fs::write(&key_file, key.private_key_pem()).unwrap();
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("UDP port 0 binds");
    let quic = socket.local_addr().expect("bound address");
    let config = BridgeConfig {
        bridge_id: BRIDGE_ID.into(),
        quic_listen: quic,
        advertise_address: quic.to_string(),
        server_name: BRIDGE_NAME.into(),
        cert_file,
        key_file,
        ca_file,
        nats_url: stack.nats.url(),
        shutdown_grace: Duration::from_secs(2),
        heartbeat_interval: Duration::from_millis(200),
        heartbeat_ttl: Duration::from_secs(2),
        ..BridgeConfig::default()
    };
    config
        .validate()
        .expect("the test's bridge config is valid");
    let tls = BridgeTls::load(&config).expect("bridge TLS files load");
    let shutdown = Shutdown::new(config.shutdown_grace);
    let bridge = bamf_bridge::start(config, tls, socket, shutdown.clone())
        .await
        .expect("the bridge starts");
    (bridge, shutdown)
}

/// One request with `token`; answers the status and the JSON body.
async fn call(
    stack: &Stack,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("HTTP client");
    let mut request = http
        .request(method, format!("{}/api/v1{path}", stack.url))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Reads `filter` from the start of BAMF_EVENTS until `done` holds.
async fn events_until(
    stack: &Stack,
    filter: &str,
    done: impl Fn(&[Envelope]) -> bool,
) -> Vec<Envelope> {
    let js = bamf_events::jetstream::new(
        bamf_events::connect(stack.nats.url())
            .await
            .expect("NATS connects"),
    );
    let mut feed = Feed::open(&js, EVENTS_STREAM, Some(filter), 1)
        .await
        .expect("BAMF_EVENTS opens");
    let mut seen = Vec::new();
    tokio::time::timeout(harness::READY_TIMEOUT, async {
        while !done(&seen) {
            let item = feed
                .next()
                .await
                .expect("the feed goes on")
                .expect("readable");
            seen.push(item.decoded.expect("a valid event"));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("events on {filter} incomplete: {seen:?}"));
    seen
}

fn types(events: &[Envelope]) -> Vec<&'static str> {
    events.iter().map(|e| e.event.event_type()).collect()
}

#[tokio::test]
async fn a_user_connects_through_the_real_bridge_and_agent_and_an_admin_kills_it() {
    let stack = Stack::start().await;
    let (bridge, bridge_shutdown) = start_bridge(&stack).await;
    let echo = echo_server().await;
    let token = stack.join_token(json!({})).await;
    let data = stack.dir.path().join("agent");
    let agent =
        RunningAgent::start(stack.agent_config(&token, &data, vec![resource("echo", echo)])).await;

    // alice may reach `echo` through a custom role.
    let admin = stack.admin_token.clone();
    let role = json!({"name": "echo-users", "allow": {"names": ["echo"]}});
    let (status, body) = call(&stack, &admin, reqwest::Method::POST, "/roles", Some(role)).await;
    assert_eq!(status, 201, "{body}");
    let user = json!({"email": "alice@corp.example", "password": "alice password 1", "roles": ["echo-users"]});
    let (status, body) = call(&stack, &admin, reqwest::Method::POST, "/users", Some(user)).await;
    assert_eq!(status, 201, "{body}");
    let (status, login) = call(
        &stack,
        "",
        reqwest::Method::POST,
        "/auth/local/login",
        Some(json!({"email": "alice@corp.example", "password": "alice password 1"})),
    )
    .await;
    assert_eq!(status, 200, "{login}");
    let alice = login["token"].as_str().expect("a token").to_string();

    // Operators see the bridge and its load; a user without a role may not.
    let listed = eventually("the bridge is listed", || async {
        let (status, body) = call(&stack, &admin, reqwest::Method::GET, "/bridges", None).await;
        assert_eq!(status, 200, "{body}");
        let bridges = body["bridges"].as_array().unwrap().clone();
        (!bridges.is_empty()).then_some(bridges)
    })
    .await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], BRIDGE_ID);
    assert_eq!(listed[0]["server_name"], BRIDGE_NAME);
    assert_eq!(listed[0]["online"], true);
    assert_eq!(listed[0]["draining"], false);
    let (status, body) = call(&stack, &alice, reqwest::Method::GET, "/bridges", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );

    // Connect, once the API has the agent's catalog and the bridge's
    // heartbeat (until then: 404 / 503, which is what we probe on).
    let key = KeyAndCsr::generate().expect("a key");
    let csr = key.csr_pem().expect("a CSR");
    let connected = eventually("connect succeeds", || async {
        let (status, body) = call(
            &stack,
            &alice,
            reqwest::Method::POST,
            "/connect",
            Some(json!({"resource": "echo", "csr": csr})),
        )
        .await;
        match status {
            200 => Some(body),
            404 | 503 => None,
            _ => panic!("unexpected answer {status}: {body}"),
        }
    })
    .await;
    assert_eq!(connected["resource"], "echo");
    assert_eq!(connected["resource_type"], "tcp");
    assert_eq!(connected["bridge_id"], BRIDGE_ID);
    assert_eq!(connected["bridge_addr"], bridge.quic_addr().to_string());
    assert_eq!(connected["bridge_server_name"], BRIDGE_NAME);
    let session = connected["session_id"]
        .as_str()
        .expect("a session id")
        .to_string();

    // The client: the session certificate with our key, the CA from the answer.
    let trust = CaTrust::from_pem(connected["ca_certificate"].as_str().unwrap())
        .expect("the answer's CA parses");
    let cert =
        CertificateDer::from_pem_slice(connected["certificate"].as_str().unwrap().as_bytes())
            .expect("the answer's certificate parses");
    let tls = bridge_client_config(
        Arc::new(BridgeServerVerifier::new(trust, BRIDGE_ID)),
        cert,
        key.private_key_der(),
    )
    .expect("client TLS config");
    let mut endpoint =
        quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).expect("UDP port 0 binds");
    endpoint.set_default_client_config(
        client_config(tls, &TransportLimits::default()).expect("QUIC client config"),
    );
    let addr = connected["bridge_addr"].as_str().unwrap().parse().unwrap();
    let connection = tokio::time::timeout(
        REQUEST_TIMEOUT,
        endpoint.connect(addr, BRIDGE_NAME).expect("a valid dial"),
    )
    .await
    .expect("handshake in time")
    .expect("the bridge accepts the session certificate");

    // Bytes through bridge and agent to the echo target, and back.
    let (mut send, mut recv) = connection.open_bi().await.expect("a stream opens");
    let payload = b"through bamf, both ways ".repeat(4096);
    send.write_all(&StreamHeader::TCP.encode()).await.unwrap();
    send.write_all(&payload).await.unwrap();
    send.finish().unwrap();
    let back = tokio::time::timeout(REQUEST_TIMEOUT, recv.read_to_end(1 << 22))
        .await
        .expect("the echo comes back in time")
        .expect("the stream ends cleanly");
    assert_eq!(back.len(), payload.len());
    assert!(back == payload, "the echo differs");

    // Recorded: requested, granted, connected; two certificates for it.
    let events = events_until(&stack, &format!("bamf.evt.session.{session}.>"), |seen| {
        seen.iter()
            .any(|e| matches!(e.event, Event::SessionConnected(_)))
    })
    .await;
    assert_eq!(
        types(&events),
        ["session.requested", "session.granted", "session.connected"]
    );
    let san = format!("bamf://session/{session}");
    let certs = events_until(&stack, "bamf.evt.cert.>", |seen| {
        seen.iter()
            .filter(|e| matches!(&e.event, Event::CertIssued(c) if c.sans.contains(&san)))
            .count()
            >= 2
    })
    .await;
    let mut kinds: Vec<String> = certs
        .iter()
        .filter_map(|e| match &e.event {
            Event::CertIssued(c) if c.sans.contains(&san) => Some(format!("{:?}", c.kind)),
            _ => None,
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["SessionAgent", "SessionClient"]);

    // Listed while open, for its user.
    let (status, open) = call(&stack, &alice, reqwest::Method::GET, "/sessions", None).await;
    assert_eq!(status, 200, "{open}");
    let listed = open["sessions"].as_array().expect("a list");
    assert!(
        listed.iter().any(|s| s["id"] == session.as_str()
            && s["email"] == "alice@corp.example"
            && s["resource"] == "echo"),
        "{open}"
    );

    // Killed by an admin: the client is closed with `Killed`, the log says so.
    let (status, body) = call(
        &stack,
        &admin,
        reqwest::Method::DELETE,
        &format!("/sessions/{session}"),
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let closed = tokio::time::timeout(REQUEST_TIMEOUT, connection.closed())
        .await
        .expect("the bridge closes the client in time");
    match closed {
        quinn::ConnectionError::ApplicationClosed(close) => {
            assert_eq!(
                CloseCode::from_varint(close.error_code),
                Some(CloseCode::Killed)
            )
        }
        other => panic!("want Killed, got {other:?}"),
    }
    let events = events_until(&stack, &format!("bamf.evt.session.{session}.>"), |seen| {
        seen.iter()
            .any(|e| matches!(e.event, Event::SessionClosed(_)))
    })
    .await;
    let Some(Event::SessionClosed(closed)) = events.last().map(|e| &e.event) else {
        panic!("the last event is session.closed: {:?}", types(&events));
    };
    assert_eq!(closed.reason, "killed");
    assert!(closed.bytes_up >= payload.len() as u64, "{closed:?}");
    // The administrator's act is an audit record naming them.
    let js = bamf_events::jetstream::new(bamf_events::connect(stack.nats.url()).await.unwrap());
    let message = js
        .get_stream("BAMF_AUDIT")
        .await
        .unwrap()
        .get_last_raw_message_by_subject("bamf.audit.session.killed")
        .await
        .expect("a session.killed audit record");
    let record: Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(record["subject"]["id"], session.as_str());
    assert_eq!(record["actor"]["kind"], "user");
    assert_eq!(record["actor"]["email"], "admin@corp.example", "{record}");
    assert_eq!(record["data"]["bridge_id"], BRIDGE_ID, "{record}");

    agent.stop().await;
    bridge_shutdown.trigger();
    bridge_shutdown.drain().await;
}

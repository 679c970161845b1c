//! The bridge's certificate from the real API: enrolment with the bootstrap
//! token (the key stays in `data_dir` at 0600, the issuance is a
//! `cert.issued` by the bridge), a restart that needs no token, a renewal
//! that is stored and served without a restart, and the refusals (wrong
//! token, no token, a certificate from another CA) with nothing stored.

#[allow(dead_code)]
#[path = "agent/harness.rs"]
mod harness;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use bamf_bridge::BridgeConfig;
use bamf_domain::events::{CertKind, Event};
use bamf_domain::{ActorKind, Envelope};
use bamf_pki::{CaTrust, KeyAndCsr};
use bamf_runtime::Shutdown;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde_json::json;

const BRIDGE: &str = "bridge-7";

fn config(stack: &harness::Stack, data_dir: &Path, server_name: &str, token: &str) -> BridgeConfig {
    let config = BridgeConfig {
        bridge_id: BRIDGE.into(),
        quic_listen: "127.0.0.1:0".parse().unwrap(),
        advertise_address: "127.0.0.1:4433".into(),
        server_name: server_name.into(),
        api_url: stack.url.clone(),
        bootstrap_token: token.into(),
        data_dir: data_dir.to_path_buf(),
        nats_url: stack.nats.url(),
        shutdown_grace: Duration::from_secs(2),
        ..BridgeConfig::default()
    };
    config.validate().expect("a valid bridge config");
    config
}

/// Every envelope in BAMF_EVENTS.
async fn events(stack: &harness::Stack) -> Vec<Envelope> {
    let js = bamf_events::jetstream::new(bamf_events::connect(stack.nats.url()).await.unwrap());
    let mut stream = js.get_stream("BAMF_EVENTS").await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        if let Ok(message) = stream.get_raw_message(seq).await {
            out.push(Envelope::decode(&message.payload).expect("a valid envelope"));
        }
    }
    out
}

/// The bridge certificates recorded so far: (subject actor id, SANs).
async fn bridge_issuances(stack: &harness::Stack) -> Vec<(String, Vec<String>)> {
    events(stack)
        .await
        .into_iter()
        .filter_map(|e| match e.event {
            Event::CertIssued(issued) if issued.kind == CertKind::Bridge => {
                assert_eq!(e.actor.kind, ActorKind::Bridge);
                Some((e.actor.id, issued.sans))
            }
            _ => None,
        })
        .collect()
}

fn stored_cert(dir: &Path) -> CertificateDer<'static> {
    let pem = std::fs::read_to_string(dir.join("bridge.crt")).expect("bridge.crt is stored");
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("a PEM certificate")
}

#[tokio::test]
async fn a_bridge_enrols_once_restarts_without_the_token_and_renews_in_place() {
    let stack = harness::Stack::start().await;
    let dir = stack.dir.path().join("bridge");

    // First start: enrols with the token.
    let shutdown = Shutdown::new(Duration::from_secs(2));
    let first = config(&stack, &dir, "localhost", harness::BRIDGE_BOOTSTRAP_TOKEN);
    let tls = bamf_bridge::tls_for(&first, &shutdown)
        .await
        .expect("the bridge enrols");
    let key_mode = std::fs::metadata(dir.join("bridge.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600, "the key is private");
    let cert = stored_cert(&dir);
    assert_eq!(
        tls.cert.certificate(),
        cert,
        "the stored certificate is served"
    );
    let ca = std::fs::read_to_string(stack.api_data.join("ca.crt")).unwrap();
    let claims = CaTrust::from_pem(&ca)
        .unwrap()
        .verify_bridge(std::slice::from_ref(&cert), SystemTime::now(), BRIDGE)
        .expect("a bridge certificate of the API's CA");
    assert_eq!(claims.dns_names, ["localhost"]);
    assert_eq!(
        claims.ip_addresses,
        ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    let issued = bridge_issuances(&stack).await;
    assert_eq!(issued.len(), 1, "{issued:?}");
    assert_eq!(issued[0].0, BRIDGE);
    assert!(
        issued[0].1.contains(&"dns:localhost".to_string()),
        "{issued:?}"
    );
    shutdown.trigger();
    shutdown.drain().await;

    // Restart without a token: the stored identity is used as it is.
    let shutdown = Shutdown::new(Duration::from_secs(2));
    let again = config(&stack, &dir, "localhost", "");
    let tls = bamf_bridge::tls_for(&again, &shutdown)
        .await
        .expect("the stored identity loads");
    assert_eq!(tls.cert.certificate(), cert);
    shutdown.trigger();
    shutdown.drain().await;
    assert_eq!(bridge_issuances(&stack).await.len(), 1, "nothing issued");

    // A new server name: the bridge starts on the stored certificate and
    // renews at once (same key, no token), storing and serving the new one.
    let shutdown = Shutdown::new(Duration::from_secs(2));
    let renamed = config(&stack, &dir, "bridge.corp.example", "");
    let tls = bamf_bridge::tls_for(&renamed, &shutdown)
        .await
        .expect("the stored identity loads");
    let renewed = harness::eventually("the renewed certificate is served", || async {
        let served = tls.cert.certificate();
        (served != cert).then_some(served)
    })
    .await;
    let claims = CaTrust::from_pem(&ca)
        .unwrap()
        .verify_bridge(std::slice::from_ref(&renewed), SystemTime::now(), BRIDGE)
        .expect("the renewal is a bridge certificate");
    assert_eq!(claims.dns_names, ["bridge.corp.example"]);
    harness::eventually("the renewal is stored", || async {
        (stored_cert(&dir) == renewed).then_some(())
    })
    .await;
    let key_before =
        KeyAndCsr::from_key_pem(&std::fs::read_to_string(dir.join("bridge.key")).unwrap()).unwrap();
    let csr = bamf_pki::VerifiedCsr::from_der(key_before.csr_der()).unwrap();
    assert!(csr.same_key_as_cert(&renewed), "the key was kept");
    assert!(csr.same_key_as_cert(&cert));
    assert_eq!(bridge_issuances(&stack).await.len(), 2);
    shutdown.trigger();
    shutdown.drain().await;
}

#[tokio::test]
async fn enrolment_refusals_store_nothing_and_a_wrong_token_is_audited() {
    let stack = harness::Stack::start().await;
    let shutdown = Shutdown::new(Duration::from_secs(2));

    let dir = stack.dir.path().join("wrong");
    let wrong = config(&stack, &dir, "localhost", "not the bootstrap token at all");
    let error = bamf_bridge::tls_for(&wrong, &shutdown)
        .await
        .err()
        .expect("a wrong token is refused");
    let text = format!("{error:#}");
    assert!(text.contains("unknown bridge bootstrap token"), "{text}");
    assert!(!dir.join("bridge.crt").exists() && !dir.join("bridge.key").exists());
    let js = bamf_events::jetstream::new(bamf_events::connect(stack.nats.url()).await.unwrap());
    let message = js
        .get_stream("BAMF_AUDIT")
        .await
        .unwrap()
        .get_last_raw_message_by_subject("bamf.audit.access.denied")
        .await
        .expect("an access.denied audit record");
    let record: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(record["actor"]["kind"], "bridge");
    assert_eq!(record["data"]["action"], "bridges.enroll");
    assert_eq!(record["data"]["target"], BRIDGE);
    assert!(
        !String::from_utf8_lossy(&message.payload).contains("not the bootstrap token"),
        "the presented token is not recorded"
    );

    let empty = config(&stack, &stack.dir.path().join("none"), "localhost", "");
    let error = bamf_bridge::tls_for(&empty, &shutdown)
        .await
        .err()
        .expect("no token and no stored identity");
    assert!(
        format!("{error:#}").contains("bootstrap_token"),
        "{error:#}"
    );

    // Renewal needs a certificate of this CA naming the bridge.
    let other = bamf_pki::Ca::generate(&bamf_pki::CaConfig::default(), SystemTime::now()).unwrap();
    let key = KeyAndCsr::generate().unwrap();
    let csr = bamf_pki::VerifiedCsr::from_der(key.csr_der()).unwrap();
    let foreign = other
        .issue(
            &bamf_pki::profile::Profile::Bridge(bamf_pki::profile::BridgeProfile {
                bridge_id: BRIDGE.into(),
                dns_names: vec!["localhost".into()],
                ip_addresses: vec![],
            }),
            &csr,
            "test",
            SystemTime::now(),
        )
        .unwrap();
    let (status, body) = stack
        .call(
            reqwest::Method::POST,
            "/api/v1/bridges/renew",
            Some(json!({
                "bridge_id": BRIDGE,
                "certificate": foreign.cert_pem,
                "names": ["localhost"],
                "csr": key.csr_pem().unwrap(),
            })),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthenticated")),
        "{body}"
    );
    let (status, body) = stack
        .call(
            reqwest::Method::POST,
            "/api/v1/bridges/enroll",
            Some(json!({
                "token": harness::BRIDGE_BOOTSTRAP_TOKEN,
                "bridge_id": "Not.An.Id",
                "names": ["localhost"],
                "csr": key.csr_pem().unwrap(),
            })),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_argument")),
        "{body}"
    );
    assert!(bridge_issuances(&stack).await.is_empty(), "nothing issued");
    shutdown.trigger();
    shutdown.drain().await;
}

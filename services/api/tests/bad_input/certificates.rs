//! Join tokens, CSRs and certificates that prove nothing: unknown, used-up
//! and revoked join tokens (401/409); CSRs that are garbage, the wrong PEM,
//! badly signed or truncated, and hostile agent names (400, the token
//! unspent); for renewal, certificates from another CA, expired, of the
//! wrong kind or badly signed (401), and CSRs for another key (400).

use std::time::{Duration, SystemTime};

use bamf_pki::profile::{AgentProfile, AgentSessionProfile, BridgeProfile, Profile};
use bamf_pki::{Ca, CaConfig, KeyAndCsr, VerifiedCsr};
use base64::Engine;
use serde_json::json;

use super::{post, Bench};
use crate::common::Req;

/// `pem` with its base64 body decoded, changed by `f`, and encoded again.
fn tamper_pem(pem: &str, label: &str, f: impl FnOnce(&mut Vec<u8>)) -> String {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let engine = base64::engine::general_purpose::STANDARD;
    let mut der = engine.decode(b64).expect("PEM body is base64");
    f(&mut der);
    let body = engine.encode(der);
    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
}

/// Flips the last bit of a DER object: its signature, for CSRs and certificates.
fn flip_last_bit(der: &mut [u8]) {
    let last = der.len() - 1;
    der[last] ^= 0x01;
}

fn join(token: &str, name: &str, csr: &str) -> Req {
    post(
        "/agents/join",
        json!({"token": token, "name": name, "csr": csr}),
    )
}

fn renew(certificate: &str, csr: &str) -> Req {
    post(
        "/agents/renew",
        json!({"certificate": certificate, "csr": csr}),
    )
}

#[tokio::test]
async fn join_tokens_csrs_and_certificates_that_prove_nothing_are_refused() {
    let bench = Bench::start().await;
    let (anon, admin) = (&bench.anon, &bench.admin);
    let created = admin
        .post("/join-tokens", json!({"name": "edge", "max_uses": 2}))
        .await
        .expect(201);
    let token = created["token"].as_str().unwrap().to_string();
    let token_id = created["id"].as_str().unwrap().to_string();
    let key = KeyAndCsr::generate().unwrap();
    let csr = key.csr_pem().unwrap();

    // Join tokens that are not ours.
    for (what, t) in [
        ("an empty join token", String::new()),
        ("a short join token", "x".into()),
        ("a join token of the right shape nobody has", "A".repeat(43)),
        ("a join token with a dot", format!("{}.", &token[..42])),
        ("a join token of 10k characters", "a".repeat(10_000)),
        (
            "a login token as a join token",
            admin.token.clone().unwrap(),
        ),
    ] {
        let req = join(&t, "edge-1", &csr);
        bench.refused(what, anon, req, 401, "unauthenticated").await;
    }

    // One good join (the token allows two), then garbage CSRs and names:
    // refused, and the second use unspent.
    let joined = anon.req(&join(&token, "edge-0", &csr)).await.expect(201);
    let ca_pem = joined["ca_certificate"].as_str().unwrap().to_string();
    let cert_pem = joined["certificate"].as_str().unwrap().to_string();
    let agent_id = joined["agent_id"].as_str().unwrap().to_string();
    let other_key = KeyAndCsr::generate().unwrap();
    let garbage_b64 =
        "-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n";
    let long_name = "a".repeat(10_000);
    for (what, name, bad) in [
        ("a CSR that is not PEM", "edge-1", "hello".to_string()),
        ("an empty CSR", "edge-1", String::new()),
        ("a certificate as the CSR", "edge-1", ca_pem.clone()),
        (
            "a private key as the CSR",
            "edge-1",
            other_key.private_key_pem(),
        ),
        ("a CSR of garbage base64", "edge-1", garbage_b64.to_string()),
        (
            "a CSR with a broken signature",
            "edge-1",
            tamper_pem(&csr, "CERTIFICATE REQUEST", |der| flip_last_bit(der)),
        ),
        (
            "a truncated CSR",
            "edge-1",
            tamper_pem(&csr, "CERTIFICATE REQUEST", |der| {
                der.truncate(der.len() / 2)
            }),
        ),
        ("an agent name with a NATS wildcard", "edge.*", csr.clone()),
        ("an agent name with a path", "../edge", csr.clone()),
        ("an agent name with NUL", "edge\0", csr.clone()),
        ("an agent name of 10k characters", &long_name, csr.clone()),
    ] {
        let req = join(&token, name, &bad);
        bench
            .refused(what, anon, req, 400, "invalid_argument")
            .await;
    }
    let tokens = admin.get("/join-tokens").await.expect(200);
    let listed = tokens["join_tokens"].as_array().unwrap();
    let ours = listed
        .iter()
        .find(|t| t["id"] == token_id.as_str())
        .unwrap();
    assert_eq!(ours["uses"], 1, "refused joins spend nothing");

    // Used up, and revoked.
    let second = join(&token, "edge-2", &other_key.csr_pem().unwrap());
    anon.req(&second).await.expect(201);
    let req = join(&token, "edge-3", &csr);
    bench
        .refused("a used-up join token", anon, req, 409, "conflict")
        .await;
    let revoked = admin
        .post("/join-tokens", json!({"name": "edge"}))
        .await
        .expect(201);
    let revoke = format!("/join-tokens/{}", revoked["id"].as_str().unwrap());
    admin.delete(&revoke).await.expect(204);
    let req = join(revoked["token"].as_str().unwrap(), "edge-3", &csr);
    bench
        .refused("a revoked join token", anon, req, 401, "unauthenticated")
        .await;
    let req = Req::new("DELETE", revoke.clone());
    bench
        .refused("revoking it twice", admin, req, 409, "conflict")
        .await;

    // Renewal with certificates that prove nothing, all for the live agent.
    let verified = VerifiedCsr::from_pem(&csr).unwrap();
    let now = SystemTime::now();
    let agent = Profile::Agent(AgentProfile {
        agent_id: agent_id.clone(),
    });
    let other_ca = Ca::generate(&CaConfig::default(), now).unwrap();
    let foreign = other_ca
        .issue(&agent, &verified, "test", now)
        .unwrap()
        .cert_pem;
    let our_ca = bamf_api::bootstrap::load_ca(&bench.backends.config().data_dir).unwrap();
    let two_days_ago = now - Duration::from_secs(2 * 86_400);
    let expired = our_ca
        .issue(&agent, &verified, "test", two_days_ago)
        .unwrap()
        .cert_pem;
    let bridge = Profile::Bridge(BridgeProfile {
        bridge_id: "bridge-1".into(),
        dns_names: vec!["bridge.corp.example".into()],
        ip_addresses: vec![],
    });
    let bridge = our_ca
        .issue(&bridge, &verified, "test", now)
        .unwrap()
        .cert_pem;
    let session = Profile::AgentSession(AgentSessionProfile {
        session_id: "01jd0000000000000000000000".into(),
        agent_id: agent_id.clone(),
        resource: "web-1".into(),
        resource_type: "ssh".into(),
        bridge_id: "bridge-1".into(),
    });
    let session = our_ca
        .issue(&session, &verified, "test", now)
        .unwrap()
        .cert_pem;
    let (invalid, unauthenticated) = ((400, "invalid_argument"), (401, "unauthenticated"));
    for (what, certificate, (status, code)) in [
        (
            "a certificate that is not PEM",
            "hello".to_string(),
            invalid,
        ),
        ("a CSR as the certificate", csr.clone(), invalid),
        ("the CA's own certificate", ca_pem.clone(), unauthenticated),
        ("a certificate from another CA", foreign, unauthenticated),
        ("an expired agent certificate", expired, unauthenticated),
        ("a bridge certificate", bridge, unauthenticated),
        ("an agent's session certificate", session, unauthenticated),
        (
            "a certificate with a broken signature",
            tamper_pem(&cert_pem, "CERTIFICATE", |der| flip_last_bit(der)),
            unauthenticated,
        ),
    ] {
        let req = renew(&certificate, &csr);
        bench.refused(what, anon, req, status, code).await;
    }
    for (what, new_csr) in [
        ("garbage as the new CSR", "hello".to_string()),
        ("the certificate as the new CSR", cert_pem.clone()),
        ("a CSR for another key", other_key.csr_pem().unwrap()),
    ] {
        let req = renew(&cert_pem, &new_csr);
        bench
            .refused(what, anon, req, 400, "invalid_argument")
            .await;
    }
    // The real certificate and key still renew: the refusals were the input's.
    anon.req(&renew(&cert_pem, &csr)).await.expect(200);
    bench.stop().await;
}

//! Issuance: each profile carries the SANs, lifetime and key usage of §3, a
//! random 128-bit serial, and a record that matches the certificate.

mod common;

use std::time::Duration;

use bamf_pki::{
    parse_agent_claims, parse_bridge_claims, parse_session_claims, AgentSessionProfile, CertKind,
    ClientSessionProfile, IssuanceRecord, KeyAndCsr, PkiError, Profile, SanKind, SessionPeer, Side,
    VerifiedCsr, AGENT_CERT_LIFETIME, BRIDGE_CERT_LIFETIME, SESSION_CERT_LIFETIME,
};
use common::*;
use x509_parser::prelude::*;

fn lifetime(der: &[u8]) -> i64 {
    let (_, c) = X509Certificate::from_der(der).unwrap();
    c.validity().not_after.timestamp() - c.validity().not_before.timestamp()
}

fn usage(der: &[u8]) -> (bool, bool, bool, bool) {
    let (_, c) = X509Certificate::from_der(der).unwrap();
    let ku = c.key_usage().unwrap().unwrap().value;
    let eku = c.extended_key_usage().unwrap().unwrap().value;
    (
        ku.digital_signature(),
        eku.client_auth,
        eku.server_auth,
        c.is_ca(),
    )
}

#[test]
fn client_session_certificate_matches_the_profile() {
    let t = TestCa::new();
    let (issued, _) = t.issue(&client_profile_enum("bridge-1"), t0());
    let claims = parse_session_claims(&issued.cert_der).unwrap();
    assert_eq!(claims.session_id, SESSION_ID);
    assert_eq!(claims.resource, "orders-db");
    assert_eq!(claims.resource_type, "postgres");
    assert_eq!(claims.bridge_id, "bridge-1");
    assert_eq!(claims.side(), Side::Client);
    assert_eq!(claims.user_email(), Some("alice@corp.example"));
    assert_eq!(claims.roles(), ["everyone", "dba"]);
    assert_eq!(claims.not_after, t0() + SESSION_CERT_LIFETIME);
    assert_eq!(usage(&issued.cert_der), (true, true, false, false));
    assert_eq!(
        issued.record.sans,
        [
            format!("bamf://session/{SESSION_ID}"),
            "bamf://resource/orders-db".into(),
            "bamf://bridge/bridge-1".into(),
            "bamf://side/client".into(),
            "bamf://role/everyone".into(),
            "bamf://role/dba".into(),
            "bamf://type/postgres".into(),
        ]
    );
    assert_eq!(issued.record.subject, "alice@corp.example");
    assert_eq!(issued.record.kind, CertKind::SessionClient);
}

#[test]
fn agent_session_certificate_matches_the_profile() {
    let t = TestCa::new();
    let (issued, _) = t.issue(
        &Profile::AgentSession(agent_session_profile("bridge-1")),
        t0(),
    );
    let claims = parse_session_claims(&issued.cert_der).unwrap();
    assert_eq!(claims.side(), Side::Agent);
    assert_eq!(
        claims.peer,
        SessionPeer::Agent {
            agent_id: "agent-7".into()
        }
    );
    assert_eq!(claims.session_id, SESSION_ID);
    assert!(claims.roles().is_empty());
    assert_eq!(lifetime(&issued.cert_der), 40); // 10 s backdate + 30 s
    assert_eq!(usage(&issued.cert_der), (true, true, false, false));
    assert_eq!(issued.record.kind, CertKind::SessionAgent);
    assert_eq!(SESSION_CERT_LIFETIME, Duration::from_secs(30));
}

#[test]
fn agent_certificate_lives_24h() {
    let t = TestCa::new();
    let (issued, _) = t.issue(&Profile::Agent(agent_profile()), t0());
    let claims = parse_agent_claims(&issued.cert_der).unwrap();
    assert_eq!(claims.agent_id, "agent-7");
    assert_eq!(claims.not_after, t0() + AGENT_CERT_LIFETIME);
    assert_eq!(usage(&issued.cert_der), (true, true, false, false));
    assert_eq!(issued.record.sans, ["bamf://agent/agent-7"]);
}

#[test]
fn bridge_certificate_has_dns_names_and_server_auth() {
    let t = TestCa::new();
    let (issued, _) = t.issue(&Profile::Bridge(bridge_profile("bridge-1")), t0());
    let claims = parse_bridge_claims(&issued.cert_der).unwrap();
    assert_eq!(claims.bridge_id, "bridge-1");
    assert_eq!(claims.dns_names, ["localhost", "bridge-1.corp.example"]);
    assert_eq!(
        claims.ip_addresses,
        ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(claims.not_after, t0() + BRIDGE_CERT_LIFETIME);
    assert_eq!(usage(&issued.cert_der), (true, false, true, false));
    assert_eq!(
        issued.record.sans,
        [
            "bamf://bridge/bridge-1",
            "dns:localhost",
            "dns:bridge-1.corp.example",
            "ip:127.0.0.1"
        ]
    );
}

#[test]
fn serials_are_random_128_bit_and_match_the_record() {
    let t = TestCa::new();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let (issued, _) = t.issue(&client_profile_enum("bridge-1"), t0());
        let claims = parse_session_claims(&issued.cert_der).unwrap();
        assert_eq!(claims.serial, issued.record.serial);
        // 16 random bytes: at most 32 hex digits; fewer only with leading zero bytes.
        assert!(claims.serial.len() <= 32 && claims.serial.len() >= 24);
        let (_, c) = X509Certificate::from_der(&issued.cert_der).unwrap();
        let raw = c.raw_serial();
        assert!(raw.len() == 16 || (raw.len() == 17 && raw[0] == 0));
        assert!(seen.insert(claims.serial));
    }
}

#[test]
fn certificate_carries_the_csr_key_only() {
    let t = TestCa::new();
    let key = KeyAndCsr::generate().unwrap();
    let csr = VerifiedCsr::from_pem(&key.csr_pem().unwrap()).unwrap();
    let issued =
        t.ca.issue(
            &client_profile_enum("bridge-1"),
            &csr,
            "alice@corp.example",
            t0(),
        )
        .unwrap();
    let (_, c) = X509Certificate::from_der(&issued.cert_der).unwrap();
    let (_, csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(key.csr_der())
            .unwrap();
    assert_eq!(
        c.public_key().raw,
        csr.certification_request_info.subject_pki.raw
    );
    assert_eq!(issued.record.requester, "alice@corp.example");
}

#[test]
fn record_serialises_for_the_cert_issued_event() {
    let t = TestCa::new();
    let (issued, _) = t.issue(&client_profile_enum("bridge-1"), t0());
    let json = serde_json::to_value(&issued.record).unwrap();
    assert_eq!(json["kind"], "session_client");
    assert_eq!(json["subject"], "alice@corp.example");
    assert!(json["not_after"].as_str().unwrap().ends_with('Z'));
    assert!(json.get("key").is_none() && json.get("private_key").is_none());
    let back: IssuanceRecord = serde_json::from_value(json).unwrap();
    assert_eq!(back, issued.record);
}

#[test]
fn duplicate_roles_are_dropped_at_issuance() {
    let t = TestCa::new();
    let mut p = client_profile("bridge-1");
    p.roles = vec!["dba".into(), "dba".into(), "everyone".into()];
    let (issued, _) = t.issue(&Profile::ClientSession(p), t0());
    let claims = parse_session_claims(&issued.cert_der).unwrap();
    assert_eq!(claims.roles(), ["dba", "everyone"]);
}

#[test]
fn invalid_profile_values_are_refused_before_signing() {
    let t = TestCa::new();
    let key = KeyAndCsr::generate().unwrap();
    let csr = VerifiedCsr::from_der(key.csr_der()).unwrap();
    let cases: Vec<(Profile, SanKind)> = vec![
        (
            Profile::ClientSession(ClientSessionProfile {
                user_email: "not-an-email".into(),
                ..client_profile("bridge-1")
            }),
            SanKind::CommonName,
        ),
        (
            Profile::ClientSession(ClientSessionProfile {
                resource: "../etc/passwd".into(),
                ..client_profile("bridge-1")
            }),
            SanKind::Resource,
        ),
        (
            Profile::ClientSession(ClientSessionProfile {
                roles: vec!["ok".into(), "bad role".into()],
                ..client_profile("bridge-1")
            }),
            SanKind::Role,
        ),
        (
            Profile::AgentSession(AgentSessionProfile {
                bridge_id: "Bridge.1".into(),
                ..agent_session_profile("bridge-1")
            }),
            SanKind::Bridge,
        ),
        (
            Profile::AgentSession(AgentSessionProfile {
                session_id: "a/b".into(),
                ..agent_session_profile("bridge-1")
            }),
            SanKind::Session,
        ),
    ];
    for (profile, kind) in cases {
        let err = t.ca.issue(&profile, &csr, "test", t0()).unwrap_err();
        assert!(
            matches!(err, PkiError::InvalidField { kind: k, .. } if k == kind),
            "{kind}: {err:?}"
        );
    }
    let mut too_many = client_profile("bridge-1");
    too_many.roles = (0..40).map(|i| format!("role-{i}")).collect();
    assert!(matches!(
        t.ca.issue(&Profile::ClientSession(too_many), &csr, "test", t0()),
        Err(PkiError::InvalidField {
            kind: SanKind::Role,
            ..
        })
    ));
}

//! One test per rejection: each asserts its specific `ClaimsError` variant.
//! Forged certificates are signed by the real test CA, so only the one thing
//! under test is wrong.

mod common;

use std::time::{Duration, SystemTime};

use bamf_pki::{
    AgentProfile, CaTrust, ClaimsError, Profile, SanKind, SessionClaims, Side, SidePolicy,
};
use common::*;
use rcgen::{DnType, ExtendedKeyUsagePurpose, KeyUsagePurpose, SanType};
use rustls_pki_types::CertificateDer;

fn verify(
    trust: &CaTrust,
    der: &CertificateDer<'_>,
    now: SystemTime,
) -> Result<SessionClaims, ClaimsError> {
    trust.verify_session(
        std::slice::from_ref(der),
        now,
        "bridge-1",
        SidePolicy::Either,
    )
}

fn forged(t: &TestCa, uris: &[String]) -> CertificateDer<'static> {
    t.forge(&session_params(&uris_ref(uris)))
}

#[test]
fn forged_baseline_is_accepted() {
    // Guards the tests below: the forging helper makes a valid certificate
    // unless a test breaks it.
    let t = TestCa::new();
    let claims = verify(t.ca.trust(), &forged(&t, &good_client_uris()), t0()).unwrap();
    assert_eq!(claims.roles(), ["everyone"]);
}

#[test]
fn missing_san_is_refused() {
    let t = TestCa::new();
    let uris: Vec<String> = good_client_uris()
        .into_iter()
        .filter(|u| !u.starts_with("bamf://bridge/"))
        .collect();
    let err = verify(t.ca.trust(), &forged(&t, &uris), t0()).unwrap_err();
    assert!(
        matches!(
            err,
            ClaimsError::MissingSan {
                kind: SanKind::Bridge
            }
        ),
        "{err:?}"
    );
    // No SAN extension at all: the side is the first thing looked for.
    let err = verify(t.ca.trust(), &forged(&t, &[]), t0()).unwrap_err();
    assert!(
        matches!(
            err,
            ClaimsError::MissingSan {
                kind: SanKind::Side
            }
        ),
        "{err:?}"
    );
}

#[test]
fn duplicated_san_is_refused() {
    let t = TestCa::new();
    let mut uris = good_client_uris();
    uris.push("bamf://bridge/bridge-2".into());
    let err = verify(t.ca.trust(), &forged(&t, &uris), t0()).unwrap_err();
    assert!(
        matches!(
            err,
            ClaimsError::DuplicateSan {
                kind: SanKind::Bridge
            }
        ),
        "{err:?}"
    );
    let mut uris = good_client_uris();
    uris.push("bamf://role/everyone".into());
    let err = verify(t.ca.trust(), &forged(&t, &uris), t0()).unwrap_err();
    assert!(
        matches!(
            err,
            ClaimsError::DuplicateSan {
                kind: SanKind::Role
            }
        ),
        "{err:?}"
    );
}

#[test]
fn unknown_scheme_is_refused() {
    let t = TestCa::new();
    let mut uris = good_client_uris();
    uris.push("spiffe://corp/alice".into());
    let err = verify(t.ca.trust(), &forged(&t, &uris), t0()).unwrap_err();
    assert!(
        matches!(&err, ClaimsError::UnknownScheme { uri } if uri == "spiffe://corp/alice"),
        "{err:?}"
    );
}

#[test]
fn unknown_san_kind_is_refused() {
    let t = TestCa::new();
    let mut uris = good_client_uris();
    uris.push("bamf://superuser/yes".into());
    let err = verify(t.ca.trust(), &forged(&t, &uris), t0()).unwrap_err();
    assert!(
        matches!(&err, ClaimsError::UnknownSanKind { kind } if kind == "superuser"),
        "{err:?}"
    );
}

#[test]
fn invalid_san_value_is_refused() {
    let t = TestCa::new();
    let uris: Vec<String> = good_client_uris()
        .into_iter()
        .map(|u| {
            if u.starts_with("bamf://resource/") {
                "bamf://resource/orders-db%2F..".into()
            } else {
                u
            }
        })
        .collect();
    let err = verify(t.ca.trust(), &forged(&t, &uris), t0()).unwrap_err();
    assert!(
        matches!(
            err,
            ClaimsError::InvalidValue {
                kind: SanKind::Resource,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn certificate_from_another_ca_with_identical_sans_is_refused() {
    let ours = TestCa::new();
    // Same CA name, same profile, same SANs: only the key differs.
    let theirs = TestCa::new();
    let (issued, _) = theirs.issue(&client_profile_enum("bridge-1"), t0());
    let err = verify(ours.ca.trust(), &issued.cert_der, t0()).unwrap_err();
    assert!(matches!(err, ClaimsError::UntrustedChain), "{err:?}");
    // And a self-signed certificate with our SANs.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let self_signed = session_params(&uris_ref(&good_client_uris()))
        .self_signed(&key)
        .unwrap();
    let err = verify(ours.ca.trust(), self_signed.der(), t0()).unwrap_err();
    assert!(matches!(err, ClaimsError::UntrustedChain), "{err:?}");
}

#[test]
fn thirty_second_session_certificate_expires() {
    let t = TestCa::new();
    let (issued, _) = t.issue(&client_profile_enum("bridge-1"), t0());
    verify(
        t.ca.trust(),
        &issued.cert_der,
        t0() + Duration::from_secs(29),
    )
    .unwrap();
    verify(
        t.ca.trust(),
        &issued.cert_der,
        t0() + Duration::from_secs(30),
    )
    .unwrap();
    let err = verify(
        t.ca.trust(),
        &issued.cert_der,
        t0() + Duration::from_secs(31),
    )
    .unwrap_err();
    assert!(matches!(err, ClaimsError::Expired { .. }), "{err:?}");
}

#[test]
fn not_yet_valid_certificate_is_refused() {
    let t = TestCa::new();
    let (issued, _) = t.issue(&client_profile_enum("bridge-1"), t0());
    // not-before is backdated 10 s for clock skew; earlier than that is refused.
    verify(
        t.ca.trust(),
        &issued.cert_der,
        t0() - Duration::from_secs(10),
    )
    .unwrap();
    let err = verify(
        t.ca.trust(),
        &issued.cert_der,
        t0() - Duration::from_secs(11),
    )
    .unwrap_err();
    assert!(matches!(err, ClaimsError::NotYetValid { .. }), "{err:?}");
}

#[test]
fn wrong_key_usage_is_refused() {
    let t = TestCa::new();
    let uris = good_client_uris();
    // serverAuth instead of clientAuth (caught by the chain check).
    let mut p = session_params(&uris_ref(&uris));
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let err = verify(t.ca.trust(), &t.forge(&p), t0()).unwrap_err();
    assert!(matches!(err, ClaimsError::WrongKeyUsage { .. }), "{err:?}");
    // Key usage that could sign certificates.
    let mut p = session_params(&uris_ref(&uris));
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    let err = verify(t.ca.trust(), &t.forge(&p), t0()).unwrap_err();
    assert!(matches!(err, ClaimsError::WrongKeyUsage { .. }), "{err:?}");
    // No key usage at all.
    let mut p = session_params(&uris_ref(&uris));
    p.key_usages = vec![];
    let err = verify(t.ca.trust(), &t.forge(&p), t0()).unwrap_err();
    assert!(matches!(err, ClaimsError::WrongKeyUsage { .. }), "{err:?}");
    // Both EKUs: a session certificate must not be able to act as a server.
    let mut p = session_params(&uris_ref(&uris));
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::ServerAuth,
    ];
    let err = verify(t.ca.trust(), &t.forge(&p), t0()).unwrap_err();
    assert!(matches!(err, ClaimsError::WrongKeyUsage { .. }), "{err:?}");
    // A real bridge certificate presented as a client certificate.
    let (bridge, _) = t.issue(&Profile::Bridge(bridge_profile("bridge-1")), t0());
    let err = verify(t.ca.trust(), &bridge.cert_der, t0()).unwrap_err();
    assert!(matches!(err, ClaimsError::WrongKeyUsage { .. }), "{err:?}");
    // The CA certificate itself.
    let err = verify(t.ca.trust(), t.ca.cert_der(), t0()).unwrap_err();
    assert!(matches!(err, ClaimsError::WrongKeyUsage { .. }), "{err:?}");
}

#[test]
fn wrong_side_is_refused() {
    let t = TestCa::new();
    let (client, _) = t.issue(&client_profile_enum("bridge-1"), t0());
    let chain = std::slice::from_ref(&client.cert_der);
    let trust = t.ca.trust();
    trust
        .verify_session(chain, t0(), "bridge-1", SidePolicy::Only(Side::Client))
        .unwrap();
    let err = trust
        .verify_session(chain, t0(), "bridge-1", SidePolicy::Only(Side::Agent))
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClaimsError::WrongSide {
                expected: Side::Agent,
                found: Side::Client
            }
        ),
        "{err:?}"
    );
}

#[test]
fn certificate_for_bridge_1_is_refused_by_bridge_2() {
    let t = TestCa::new();
    let (issued, _) = t.issue(&client_profile_enum("bridge-1"), t0());
    let err =
        t.ca.trust()
            .verify_session(
                std::slice::from_ref(&issued.cert_der),
                t0(),
                "bridge-2",
                SidePolicy::Either,
            )
            .unwrap_err();
    assert!(
        matches!(&err, ClaimsError::WrongBridge { expected, found }
            if expected == "bridge-2" && found == "bridge-1"),
        "{err:?}"
    );
    // Same on the client side: bridge-2's server certificate when bridge-1 is expected.
    let (server, _) = t.issue(&Profile::Bridge(bridge_profile("bridge-2")), t0());
    let err =
        t.ca.trust()
            .verify_bridge(std::slice::from_ref(&server.cert_der), t0(), "bridge-1")
            .unwrap_err();
    assert!(matches!(err, ClaimsError::WrongBridge { .. }), "{err:?}");
}

#[test]
fn sans_outside_the_profile_are_refused() {
    let t = TestCa::new();
    // A DNS name in a session certificate.
    let mut p = session_params(&uris_ref(&good_client_uris()));
    p.subject_alt_names
        .push(SanType::DnsName("evil.example".try_into().unwrap()));
    let err = verify(t.ca.trust(), &t.forge(&p), t0()).unwrap_err();
    assert!(matches!(err, ClaimsError::UnexpectedSan { .. }), "{err:?}");
    // An agent SAN on the client side.
    let mut uris = good_client_uris();
    uris.push("bamf://agent/agent-7".into());
    let err = verify(t.ca.trust(), &forged(&t, &uris), t0()).unwrap_err();
    assert!(matches!(err, ClaimsError::UnexpectedSan { .. }), "{err:?}");
}

#[test]
fn agent_side_cn_must_match_the_agent_san() {
    let t = TestCa::new();
    let uris = [
        format!("bamf://session/{SESSION_ID}"),
        "bamf://resource/orders-db".into(),
        "bamf://bridge/bridge-1".into(),
        "bamf://side/agent".into(),
        "bamf://agent/agent-7".into(),
        "bamf://type/postgres".into(),
    ];
    let mut p = session_params(&uris_ref(&uris));
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(DnType::CommonName, "agent-8");
    p.distinguished_name = dn;
    let err = verify(t.ca.trust(), &t.forge(&p), t0()).unwrap_err();
    assert!(
        matches!(
            err,
            ClaimsError::InvalidValue {
                kind: SanKind::CommonName,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn too_many_sans_are_refused() {
    let t = TestCa::new();
    let mut uris = good_client_uris();
    uris.extend((0..70).map(|i| format!("bamf://role/r{i}")));
    let err = verify(t.ca.trust(), &forged(&t, &uris), t0()).unwrap_err();
    assert!(matches!(err, ClaimsError::TooManySans { .. }), "{err:?}");
}

#[test]
fn agent_identity_certificate_is_not_a_session_certificate() {
    let t = TestCa::new();
    let (agent, _) = t.issue(
        &Profile::Agent(AgentProfile {
            agent_id: "agent-7".into(),
        }),
        t0(),
    );
    let err = verify(t.ca.trust(), &agent.cert_der, t0()).unwrap_err();
    assert!(
        matches!(
            err,
            ClaimsError::MissingSan {
                kind: SanKind::Side
            }
        ),
        "{err:?}"
    );
    // But it is a good agent certificate.
    let claims =
        t.ca.trust()
            .verify_agent(std::slice::from_ref(&agent.cert_der), t0())
            .unwrap();
    assert_eq!(claims.agent_id, "agent-7");
}

#[test]
fn empty_chain_and_garbage_are_refused() {
    let t = TestCa::new();
    let err =
        t.ca.trust()
            .verify_session(&[], t0(), "bridge-1", SidePolicy::Either)
            .unwrap_err();
    assert!(matches!(err, ClaimsError::NoCertificate), "{err:?}");
    let garbage = CertificateDer::from(b"\x30\x82\x01\x00garbage".to_vec());
    let err = verify(t.ca.trust(), &garbage, t0()).unwrap_err();
    assert!(matches!(err, ClaimsError::Malformed { .. }), "{err:?}");
}

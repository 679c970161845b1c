//! Property tests over hostile DER: the claims parser and the full verifier
//! never panic, and refuse garbage and any mutation of a valid certificate.

mod common;

use std::sync::LazyLock;

use bamf_pki::{
    cert_validity, parse_agent_claims, parse_bridge_claims, parse_claims, parse_session_claims,
    CaTrust, ClaimsError, SidePolicy, VerifiedCsr,
};
use common::*;
use proptest::prelude::*;
use rustls_pki_types::CertificateDer;

struct Fixture {
    ca: TestCa,
    valid: Vec<Vec<u8>>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let ca = TestCa::new();
    let valid = [
        client_profile_enum("bridge-1"),
        bamf_pki::Profile::AgentSession(agent_session_profile("bridge-1")),
        bamf_pki::Profile::Agent(agent_profile()),
        bamf_pki::Profile::Bridge(bridge_profile("bridge-1")),
    ]
    .iter()
    .map(|p| ca.issue(p, t0()).0.cert_der.to_vec())
    .collect();
    Fixture { ca, valid }
});

fn trust() -> &'static CaTrust {
    FIXTURE.ca.ca.trust()
}

/// Runs every parser and the verifier; returns the verifier's verdict.
fn exercise(der: &[u8]) -> Result<(), ClaimsError> {
    let _ = parse_claims(der);
    let _ = parse_session_claims(der);
    let _ = parse_agent_claims(der);
    let _ = parse_bridge_claims(der);
    let _ = cert_validity(der);
    let _ = VerifiedCsr::from_der(der);
    let chain = [CertificateDer::from(der.to_vec())];
    let _ = trust().verify_agent(&chain, t0());
    let _ = trust().verify_bridge(&chain, t0(), "bridge-1");
    trust()
        .verify_session(&chain, t0(), "bridge-1", SidePolicy::Either)
        .map(|_| ())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn arbitrary_bytes_never_panic_and_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(parse_claims(&bytes).is_err());
        prop_assert!(exercise(&bytes).is_err());
    }

    #[test]
    fn der_shaped_garbage_is_refused(len in 0usize..1500, body in proptest::collection::vec(any::<u8>(), 0..1500)) {
        // A SEQUENCE header in front so the parser gets past the first byte.
        let mut der = vec![0x30, 0x82, (len >> 8) as u8, len as u8];
        der.extend_from_slice(&body);
        prop_assert!(parse_claims(&der).is_err());
        prop_assert!(exercise(&der).is_err());
    }

    #[test]
    fn flipped_byte_in_a_valid_certificate_is_refused(which in 0usize..4, pos in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let mut der = FIXTURE.valid[which].clone();
        let i = pos.index(der.len());
        der[i] ^= xor;
        prop_assert!(trust().verify_session(&[CertificateDer::from(der.clone())], t0(), "bridge-1", SidePolicy::Either).is_err());
        prop_assert!(trust().verify_bridge(&[CertificateDer::from(der.clone())], t0(), "bridge-1").is_err());
        prop_assert!(trust().verify_agent(&[CertificateDer::from(der.clone())], t0()).is_err());
        let _ = exercise(&der);
    }

    #[test]
    fn truncated_or_extended_certificate_is_refused(which in 0usize..4, cut in any::<prop::sample::Index>(), extra in proptest::collection::vec(any::<u8>(), 0..8), pos in any::<prop::sample::Index>()) {
        let valid = &FIXTURE.valid[which];
        let truncated = &valid[..cut.index(valid.len())];
        prop_assert!(parse_claims(truncated).is_err());
        prop_assert!(exercise(truncated).is_err());
        if !extra.is_empty() {
            let mut grown = valid.clone();
            let at = pos.index(grown.len() + 1);
            grown.splice(at..at, extra);
            prop_assert!(exercise(&grown).is_err());
        }
    }

    #[test]
    fn arbitrary_san_uris_signed_by_our_ca_never_panic(uris in proptest::collection::vec("bamf://[a-z]{0,9}/[ -~]{0,40}|[ -~]{0,40}", 0..10)) {
        let refs: Vec<&str> = uris.iter().map(String::as_str).collect();
        let der = FIXTURE.ca.forge(&session_params(&refs));
        match trust().verify_session(&[der], t0(), "bridge-1", SidePolicy::Either) {
            // Only a complete, well-formed client session set can pass.
            Ok(claims) => {
                let session_san = format!("bamf://session/{}", claims.session_id);
                prop_assert!(uris.contains(&session_san));
                prop_assert!(uris.contains(&"bamf://side/client".to_string()));
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}

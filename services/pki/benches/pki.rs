//! Session-certificate issuance and verification per second on one core, each
//! against a bare *ring* ECDSA P-256 sign / verify measured in the same run.
//!
//! `cargo bench -p bamf-pki --bench pki`
//!
//! - issuance: CSR DER → parse + verify the CSR's signature → build the client
//!   session profile → sign with the CA (one ECDSA verify + one ECDSA sign).
//! - verification: `BridgeClientVerifier::verify` — the check rustls runs on
//!   the bridge: chain to the CA (one ECDSA verify), validity, EKU, claims.
//! - baselines: one ECDSA P-256/SHA-256 sign, resp. verify, of a message the
//!   size of a certificate's signed part; for issuance also sign + verify,
//!   the crypto issuance cannot avoid.

use std::{
    hint::black_box,
    sync::Arc,
    time::{Duration, Instant},
};

use bamf_pki::{
    BridgeClientVerifier, Ca, CaConfig, ClientSessionProfile, KeyAndCsr, ManualClock, Profile,
    VerifiedCsr,
};
use ring::{
    rand::SystemRandom,
    signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey},
};
use rustls_pki_types::CertificateDer;

/// Time spent on each measurement (after a warm-up of a tenth of it).
const BUDGET: Duration = Duration::from_secs(3);
/// Iteration cap per measurement, whatever the speed.
const MAX_ITERS: u64 = 2_000_000;
/// Distinct CSRs / certificates cycled through.
const POOL: usize = 64;

/// Runs `f` repeatedly for about `BUDGET`; returns operations per second.
fn rate(mut f: impl FnMut(usize)) -> f64 {
    let warm = Instant::now();
    let mut i = 0usize;
    while warm.elapsed() < BUDGET / 10 {
        f(i);
        i += 1;
    }
    let start = Instant::now();
    let mut n = 0u64;
    while n < MAX_ITERS {
        f(n as usize);
        n += 1;
        if n.is_multiple_of(64) && start.elapsed() >= BUDGET {
            break;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn profile(i: usize) -> Profile {
    Profile::ClientSession(ClientSessionProfile {
        session_id: "01JD8X3Z7Q9W5K2M4N6P8R0T1V".into(),
        user_email: "alice@corp.example".into(),
        resource: format!("orders-db-{}", i % 8),
        resource_type: "postgres".into(),
        bridge_id: "bridge-1".into(),
        roles: vec!["everyone".into(), "dba".into()],
    })
}

fn main() {
    let now = std::time::SystemTime::now();
    let ca = Ca::generate(&CaConfig::default(), now).expect("CA generation");
    let csrs: Vec<Vec<u8>> = (0..POOL)
        .map(|_| {
            KeyAndCsr::generate()
                .expect("key generation")
                .csr_der()
                .to_vec()
        })
        .collect();

    let certs: Vec<CertificateDer<'static>> = (0..POOL)
        .map(|i| {
            let csr = VerifiedCsr::from_der(&csrs[i]).expect("valid CSR");
            ca.issue(&profile(i), &csr, "bench", now)
                .expect("issuance")
                .cert_der
        })
        .collect();
    // Baseline message: the size of a certificate's signed part (TBS).
    let msg_len = certs[0].len().saturating_sub(80);
    let msg: Vec<u8> = (0..msg_len).map(|i| i as u8).collect();

    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        .expect("ring key generation");
    let key = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        pkcs8.as_ref(),
        &rng,
    )
    .expect("ring key parse");
    let sig = key.sign(&rng, &msg).expect("ring sign");
    let public = UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_ASN1,
        key.public_key().as_ref().to_vec(),
    );

    let issue = rate(|i| {
        let csr = VerifiedCsr::from_der(&csrs[i % POOL]).expect("valid CSR");
        black_box(ca.issue(&profile(i), &csr, "bench", now).expect("issuance"));
    });
    let sign = rate(|_| {
        black_box(key.sign(&rng, black_box(&msg)).expect("ring sign"));
    });

    // Issuance must check the CSR's signature as well as sign: this is the
    // crypto it cannot avoid, to show the overhead of everything else.
    let sign_and_verify = rate(|_| {
        black_box(key.sign(&rng, black_box(&msg)).expect("ring sign"));
        public
            .verify(black_box(&msg), black_box(sig.as_ref()))
            .expect("ring verify");
    });

    let verifier = BridgeClientVerifier::new(ca.trust().clone(), "bridge-1")
        .with_clock(Arc::new(ManualClock::new(now)));
    let verify = rate(|i| {
        black_box(
            verifier
                .verify(&certs[i % POOL], &[])
                .expect("verification"),
        );
    });
    let bare_verify = rate(|_| {
        public
            .verify(black_box(&msg), black_box(sig.as_ref()))
            .expect("ring verify");
    });

    println!("bamf-pki benchmark (one thread, ring {msg_len}-byte messages, {POOL}-item pools, ~{}s per figure)", BUDGET.as_secs());
    println!("| figure | per second | baseline | baseline per second | ratio |");
    println!("|---|---:|---|---:|---:|");
    println!(
        "| session-cert issuance (CSR check + profile + sign) | {issue:.0} | ring ECDSA P-256 sign | {sign:.0} | {:.2} |",
        issue / sign
    );
    println!(
        "| session-cert issuance (same) | {issue:.0} | ring ECDSA P-256 sign + verify | {sign_and_verify:.0} | {:.2} |",
        issue / sign_and_verify
    );
    println!(
        "| session-cert verification (chain + claims, bridge verifier) | {verify:.0} | ring ECDSA P-256 verify | {bare_verify:.0} | {:.2} |",
        verify / bare_verify
    );
}

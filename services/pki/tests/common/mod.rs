//! Shared test set-up: a real CA on disk, plus its key loaded back so tests can
//! forge certificates our profiles would never issue (missing SANs, wrong key
//! usage, …), signed by the very same CA.
#![allow(dead_code)] // each test binary uses a different subset

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bamf_pki::{
    AgentProfile, AgentSessionProfile, BridgeProfile, Ca, CaConfig, ClientSessionProfile, Issued,
    KeyAndCsr, Profile, VerifiedCsr,
};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tempfile::TempDir;
use time::OffsetDateTime;

/// A fixed, realistic "now" for deterministic tests.
pub fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_000_000)
}

pub const SESSION_ID: &str = "01JD8X3Z7Q9W5K2M4N6P8R0T1V";

pub struct TestCa {
    pub ca: Ca,
    /// The CA's own key, loaded back from its file, for forging.
    pub issuer: Issuer<'static, KeyPair>,
    pub dir: TempDir,
}

impl TestCa {
    pub fn new() -> TestCa {
        Self::with_config(&CaConfig::default())
    }

    pub fn with_config(config: &CaConfig) -> TestCa {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("ca.pem"), dir.path().join("ca.key"));
        let ca = Ca::init(&cert, &key, config, t0() - Duration::from_secs(3600)).unwrap();
        let key_pair = KeyPair::from_pem(&std::fs::read_to_string(&key).unwrap()).unwrap();
        let issuer = Issuer::from_ca_cert_pem(ca.cert_pem(), key_pair).unwrap();
        TestCa { ca, issuer, dir }
    }

    /// Issues `profile` for a fresh key at `now`.
    pub fn issue(&self, profile: &Profile, now: SystemTime) -> (Issued, KeyAndCsr) {
        let key = KeyAndCsr::generate().unwrap();
        let csr = VerifiedCsr::from_der(key.csr_der()).unwrap();
        (self.ca.issue(profile, &csr, "test", now).unwrap(), key)
    }

    /// Signs arbitrary parameters with the CA key.
    pub fn forge(&self, params: &CertificateParams) -> CertificateDer<'static> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        params.signed_by(&key, &self.issuer).unwrap().der().clone()
    }
}

pub fn client_profile(bridge: &str) -> ClientSessionProfile {
    ClientSessionProfile {
        session_id: SESSION_ID.into(),
        user_email: "alice@corp.example".into(),
        resource: "orders-db".into(),
        resource_type: "postgres".into(),
        bridge_id: bridge.into(),
        roles: vec!["everyone".into(), "dba".into()],
    }
}

pub fn agent_session_profile(bridge: &str) -> AgentSessionProfile {
    AgentSessionProfile {
        session_id: SESSION_ID.into(),
        agent_id: "agent-7".into(),
        resource: "orders-db".into(),
        resource_type: "postgres".into(),
        bridge_id: bridge.into(),
    }
}

pub fn agent_profile() -> AgentProfile {
    AgentProfile {
        agent_id: "agent-7".into(),
    }
}

pub fn bridge_profile(bridge: &str) -> BridgeProfile {
    BridgeProfile {
        bridge_id: bridge.into(),
        dns_names: vec!["localhost".into(), format!("{bridge}.corp.example")],
        ip_addresses: vec!["127.0.0.1".parse().unwrap()],
    }
}

/// Parameters shaped like a client session certificate with the given URI
/// SANs, valid around `t0()`; tests then break one thing at a time.
pub fn session_params(uris: &[&str]) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "alice@corp.example");
    p.distinguished_name = dn;
    let now = OffsetDateTime::from(t0());
    p.not_before = now - Duration::from_secs(10);
    p.not_after = now + Duration::from_secs(30);
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.subject_alt_names = uris
        .iter()
        .map(|u| SanType::URI((*u).to_string().try_into().unwrap()))
        .collect();
    p
}

/// The URI SANs of a good client session certificate for bridge-1.
pub fn good_client_uris() -> Vec<String> {
    vec![
        format!("bamf://session/{SESSION_ID}"),
        "bamf://resource/orders-db".into(),
        "bamf://bridge/bridge-1".into(),
        "bamf://side/client".into(),
        "bamf://role/everyone".into(),
        "bamf://type/postgres".into(),
    ]
}

pub fn uris_ref(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

pub fn key_of(k: &KeyAndCsr) -> PrivateKeyDer<'static> {
    k.private_key_der()
}

pub fn client_profile_enum(bridge: &str) -> Profile {
    Profile::ClientSession(client_profile(bridge))
}

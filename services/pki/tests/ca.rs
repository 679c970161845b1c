//! CA creation, loading and export (§3: key file 0600, refused when open).

mod common;

use std::{fs, os::unix::fs::PermissionsExt, time::Duration};

use bamf_pki::{Ca, CaConfig, CaTrust, PkiError};
use common::{t0, TestCa};
use x509_parser::{extensions::ParsedExtension, prelude::*};

#[test]
fn init_writes_key_0600_and_load_round_trips() {
    let t = TestCa::new();
    let key = t.dir.path().join("ca.key");
    let mode = fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "key file mode {mode:o}");
    let loaded = Ca::load(&t.dir.path().join("ca.pem"), &key).unwrap();
    assert_eq!(loaded.cert_der(), t.ca.cert_der());
    assert_eq!(loaded.cert_pem(), t.ca.cert_pem());
}

#[test]
fn load_refuses_key_readable_by_others() {
    let t = TestCa::new();
    let key = t.dir.path().join("ca.key");
    for mode in [0o640, 0o604, 0o644, 0o660] {
        fs::set_permissions(&key, fs::Permissions::from_mode(mode)).unwrap();
        let err = Ca::load(&t.dir.path().join("ca.pem"), &key).unwrap_err();
        assert!(
            matches!(err, PkiError::KeyFileTooOpen { mode: m, .. } if m == mode),
            "{mode:o}: {err:?}"
        );
    }
    // 0400 is stricter than 0600 and fine.
    fs::set_permissions(&key, fs::Permissions::from_mode(0o400)).unwrap();
    Ca::load(&t.dir.path().join("ca.pem"), &key).unwrap();
}

#[test]
fn init_refuses_to_overwrite() {
    let t = TestCa::new();
    let err = Ca::init(
        &t.dir.path().join("ca.pem"),
        &t.dir.path().join("ca.key"),
        &CaConfig::default(),
        t0(),
    )
    .unwrap_err();
    assert!(matches!(err, PkiError::AlreadyExists { .. }), "{err:?}");
}

#[test]
fn load_refuses_a_key_of_another_ca() {
    let a = TestCa::new();
    let b = TestCa::new();
    let err = Ca::load(&a.dir.path().join("ca.pem"), &b.dir.path().join("ca.key")).unwrap_err();
    assert!(matches!(err, PkiError::KeyMismatch), "{err:?}");
}

#[test]
fn load_refuses_garbage_key() {
    let t = TestCa::new();
    let key = t.dir.path().join("bad.key");
    fs::write(&key, "not a key").unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let err = Ca::load(&t.dir.path().join("ca.pem"), &key).unwrap_err();
    assert!(matches!(err, PkiError::InvalidKey { .. }), "{err:?}");
}

#[test]
fn load_or_init_creates_once_then_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("ca.pem"), dir.path().join("ca.key"));
    let (first, created) = Ca::load_or_init(&cert, &key, &CaConfig::default(), t0()).unwrap();
    assert!(created);
    let (second, created) = Ca::load_or_init(&cert, &key, &CaConfig::default(), t0()).unwrap();
    assert!(!created);
    assert_eq!(first.cert_der(), second.cert_der());
}

#[test]
fn ca_certificate_is_p256_ca_pathlen_0_signing_certs_and_crls() {
    let t = TestCa::new();
    let (_, cert) = X509Certificate::from_der(t.ca.cert_der()).unwrap();
    assert_eq!(
        cert.public_key().algorithm.algorithm,
        x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY
    );
    let bc = cert.basic_constraints().unwrap().unwrap().value;
    assert!(bc.ca);
    assert_eq!(bc.path_len_constraint, Some(0));
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.crl_sign());
    assert!(!ku.digital_signature());
    assert!(cert
        .extensions()
        .iter()
        .any(|e| matches!(e.parsed_extension(), ParsedExtension::BasicConstraints(_))));
    let lifetime = cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
    assert!(lifetime >= Duration::from_secs(9 * 365 * 86400).as_secs() as i64);
}

#[test]
fn exported_certificate_is_a_usable_trust_root() {
    let t = TestCa::new();
    let out = t.dir.path().join("export/ca.pem");
    fs::create_dir(out.parent().unwrap()).unwrap();
    t.ca.export_cert(&out).unwrap();
    let trust = CaTrust::from_pem(&fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(trust.ca_cert_der(), t.ca.cert_der());
    assert!(matches!(
        t.ca.export_cert(&out),
        Err(PkiError::AlreadyExists { .. })
    ));
}

#[test]
fn trust_refuses_a_leaf_as_root() {
    let t = TestCa::new();
    let (issued, _) = t.issue(&common::client_profile_enum("bridge-1"), t0());
    let err = CaTrust::from_der(&issued.cert_der).unwrap_err();
    assert!(matches!(err, PkiError::InvalidCaCert { .. }), "{err:?}");
}

//! Certificate signing requests: the requester's side (a fresh key pair and a
//! CSR carrying only its public key) and the CA's side (parse, check the key
//! type, verify the self-signature as proof of possession). Everything in the
//! CSR except the public key is ignored: the profile decides the contents.

use rcgen::{CertificateParams, KeyPair, PublicKeyData, SignatureAlgorithm};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use rustls_pki_types::{pem::PemObject, CertificateSigningRequestDer, PrivateKeyDer};
use x509_parser::{
    certification_request::X509CertificationRequest,
    oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ECDSA_WITH_SHA256},
    prelude::FromDer,
};

use crate::error::PkiError;

/// Largest CSR accepted; ours are about 250 bytes.
pub const MAX_CSR_LEN: usize = 4096;

/// An uncompressed P-256 point: 0x04 || X || Y.
const P256_POINT_LEN: usize = 65;

/// A CSR whose self-signature verified; holds only the public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCsr {
    /// Uncompressed P-256 point.
    point: Vec<u8>,
}

impl VerifiedCsr {
    /// Parses a DER PKCS#10 request and verifies its signature.
    ///
    /// Accepts ECDSA P-256 keys signed with SHA-256 only (the CA's own
    /// algorithm; what rcgen, rustls and quinn clients make by default).
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        if der.len() > MAX_CSR_LEN {
            return Err(PkiError::CsrTooLarge {
                len: der.len(),
                limit: MAX_CSR_LEN,
            });
        }
        let (rest, csr) =
            X509CertificationRequest::from_der(der).map_err(|e| PkiError::InvalidCsr {
                reason: e.to_string(),
            })?;
        if !rest.is_empty() {
            return Err(PkiError::InvalidCsr {
                reason: "trailing bytes after the request".into(),
            });
        }
        let info = &csr.certification_request_info;
        let spki = &info.subject_pki;
        let curve_ok = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .is_some_and(|oid| oid == OID_EC_P256);
        if spki.algorithm.algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY
            || !curve_ok
            || csr.signature_algorithm.algorithm != OID_SIG_ECDSA_WITH_SHA256
        {
            return Err(PkiError::UnsupportedKeyAlgorithm);
        }
        let point = spki.subject_public_key.data.as_ref();
        if point.len() != P256_POINT_LEN || point[0] != 0x04 {
            return Err(PkiError::UnsupportedKeyAlgorithm);
        }
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
            .verify(info.raw, csr.signature_value.data.as_ref())
            .map_err(|_| PkiError::CsrSignature)?;
        Ok(VerifiedCsr {
            point: point.to_vec(),
        })
    }

    /// Whether the subject public key of `cert_der` is this CSR's key (a
    /// renewal keeps the key it proves possession of). A certificate that
    /// does not parse matches nothing.
    pub fn same_key_as_cert(&self, cert_der: &[u8]) -> bool {
        x509_parser::parse_x509_certificate(cert_der)
            .map(|(_, cert)| {
                cert.public_key().subject_public_key.data.as_ref() == self.point.as_slice()
            })
            .unwrap_or(false)
    }

    /// Parses a PEM `CERTIFICATE REQUEST` and verifies it.
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        if pem.len() > 2 * MAX_CSR_LEN {
            return Err(PkiError::CsrTooLarge {
                len: pem.len(),
                limit: 2 * MAX_CSR_LEN,
            });
        }
        let der = CertificateSigningRequestDer::from_pem_slice(pem.as_bytes()).map_err(|e| {
            PkiError::InvalidCsr {
                reason: format!("not a PEM certificate request: {e}"),
            }
        })?;
        Self::from_der(der.as_ref())
    }
}

impl PublicKeyData for VerifiedCsr {
    fn der_bytes(&self) -> &[u8] {
        &self.point
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

/// A fresh key pair and the CSR for it, made where the key will be used (the
/// CLI per tunnel, the agent per session and for renewal, the bridge).
pub struct KeyAndCsr {
    key: KeyPair,
    csr: rcgen::CertificateSigningRequest,
}

impl std::fmt::Debug for KeyAndCsr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("KeyAndCsr")
            .field("csr_len", &self.csr.der().len())
            .finish_non_exhaustive()
    }
}

impl KeyAndCsr {
    /// Generates an ECDSA P-256 key and a CSR with an empty subject; the CA
    /// fills in everything from the profile.
    pub fn generate() -> Result<Self, PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(PkiError::KeyGeneration)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        let csr = params.serialize_request(&key).map_err(PkiError::Sign)?;
        Ok(KeyAndCsr { key, csr })
    }

    /// A new CSR for an existing key (PKCS#8 PEM): renewal keeps the key.
    pub fn from_key_pem(key_pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(key_pem).map_err(PkiError::InvalidPrivateKey)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        let csr = params.serialize_request(&key).map_err(PkiError::Sign)?;
        Ok(KeyAndCsr { key, csr })
    }

    /// The CSR in DER, to send to the API.
    pub fn csr_der(&self) -> &[u8] {
        self.csr.der()
    }

    /// The CSR in PEM.
    pub fn csr_pem(&self) -> Result<String, PkiError> {
        self.csr.pem().map_err(PkiError::Sign)
    }

    /// The private key (PKCS#8 DER) for the TLS stack; stays on this machine.
    pub fn private_key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.serialize_der().into())
    }

    /// The private key as PKCS#8 PEM, for writing to a 0600 file.
    pub fn private_key_pem(&self) -> String {
        self.key.serialize_pem()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_csr_verifies() {
        let k = KeyAndCsr::generate().unwrap();
        VerifiedCsr::from_der(k.csr_der()).unwrap();
        VerifiedCsr::from_pem(&k.csr_pem().unwrap()).unwrap();
    }

    #[test]
    fn a_csr_for_a_stored_key_names_the_same_key() {
        let k = KeyAndCsr::generate().unwrap();
        let again = KeyAndCsr::from_key_pem(&k.private_key_pem()).unwrap();
        let a = VerifiedCsr::from_der(k.csr_der()).unwrap();
        let b = VerifiedCsr::from_der(again.csr_der()).unwrap();
        assert_eq!(a.der_bytes(), b.der_bytes());
        assert!(KeyAndCsr::from_key_pem("not a key").is_err());
    }

    #[test]
    fn tampered_csr_signature_is_refused() {
        let k = KeyAndCsr::generate().unwrap();
        let mut der = k.csr_der().to_vec();
        // The last bytes are the signature's s value.
        let last = der.len() - 1;
        der[last] ^= 0x01;
        assert!(matches!(
            VerifiedCsr::from_der(&der),
            Err(PkiError::CsrSignature)
        ));
    }

    #[test]
    fn non_p256_key_is_refused() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let csr = CertificateParams::default()
            .serialize_request(&key)
            .unwrap();
        assert!(matches!(
            VerifiedCsr::from_der(csr.der()),
            Err(PkiError::UnsupportedKeyAlgorithm)
        ));
    }

    #[test]
    fn garbage_and_oversize_are_refused() {
        assert!(matches!(
            VerifiedCsr::from_der(b"\x30\x03\x02\x01\x00"),
            Err(PkiError::InvalidCsr { .. })
        ));
        assert!(matches!(
            VerifiedCsr::from_der(&vec![0u8; MAX_CSR_LEN + 1]),
            Err(PkiError::CsrTooLarge { .. })
        ));
    }
}

//! [`CaTrust`]: everything a verifier needs from the CA — its certificate and
//! nothing secret. Verification = chain to our CA (webpki: signature, validity
//! at the given `now`, EKU), then the structural claims of [`crate::claims`],
//! then the caller's expectations (bridge id, side).

use std::{sync::Arc, time::SystemTime};

use rustls_pki_types::{pem::PemObject, CertificateDer, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, KeyUsage};
use x509_parser::{certificate::X509Certificate, prelude::FromDer};

use crate::{
    claims::{
        parse_agent_claims, parse_bridge_claims, parse_session_claims, AgentClaims, BridgeClaims,
        SessionClaims, MAX_CERT_LEN,
    },
    error::{CertKind, ClaimsError, PkiError, Side},
};

/// The only signature algorithm our CA uses; anything else is not ours.
static SIG_ALGS: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm] =
    &[webpki::ring::ECDSA_P256_SHA256];

/// Which sides of a session a verifier accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SidePolicy {
    /// Client or agent side (the bridge, which pairs the two).
    Either,
    /// Only this side.
    Only(Side),
}

/// The trust root: our CA certificate. Cheap to clone.
#[derive(Clone)]
pub struct CaTrust {
    inner: Arc<Inner>,
}

struct Inner {
    ca_der: CertificateDer<'static>,
    anchors: Vec<TrustAnchor<'static>>,
    /// The CA subject, DER, for the TLS CertificateRequest hint.
    subject: Vec<u8>,
}

impl std::fmt::Debug for CaTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaTrust")
            .field("ca_cert_len", &self.inner.ca_der.len())
            .finish()
    }
}

impl CaTrust {
    /// Trusts the CA certificate given in DER. It must be a CA certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        let invalid = |reason: String| PkiError::InvalidCaCert { reason };
        if der.len() > MAX_CERT_LEN {
            return Err(invalid("larger than any CA certificate we make".into()));
        }
        let (rest, cert) = X509Certificate::from_der(der).map_err(|e| invalid(e.to_string()))?;
        if !rest.is_empty() {
            return Err(invalid("trailing bytes after the certificate".into()));
        }
        if !cert.is_ca() {
            return Err(invalid(
                "not a CA certificate (basicConstraints CA:false)".into(),
            ));
        }
        let subject = cert.subject().as_raw().to_vec();
        let ca_der = CertificateDer::from(der.to_vec());
        let anchor = webpki::anchor_from_trusted_cert(&ca_der)
            .map_err(|e| invalid(format!("not usable as a trust anchor: {e:?}")))?
            .to_owned();
        Ok(CaTrust {
            inner: Arc::new(Inner {
                anchors: vec![anchor],
                ca_der,
                subject,
            }),
        })
    }

    /// Trusts the CA certificate given as PEM (what `Ca::cert_pem` exports).
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| {
            PkiError::InvalidCaCert {
                reason: format!("not a PEM certificate: {e}"),
            }
        })?;
        Self::from_der(&der)
    }

    /// The CA certificate, DER.
    pub fn ca_cert_der(&self) -> &CertificateDer<'static> {
        &self.inner.ca_der
    }

    /// The CA subject name, DER (used as the client-auth root hint).
    pub fn ca_subject_der(&self) -> &[u8] {
        &self.inner.subject
    }

    /// Verifies a session certificate chain (leaf first) for `bridge_id`.
    pub fn verify_session(
        &self,
        chain: &[CertificateDer<'_>],
        now: SystemTime,
        bridge_id: &str,
        sides: SidePolicy,
    ) -> Result<SessionClaims, ClaimsError> {
        // The EKU check is the same for both sides; the profile only names
        // the error.
        let leaf = self.verify_chain(chain, now, CertKind::SessionClient)?;
        let claims = parse_session_claims(leaf)?;
        if claims.bridge_id != bridge_id {
            return Err(ClaimsError::WrongBridge {
                expected: bridge_id.to_owned(),
                found: claims.bridge_id,
            });
        }
        if let SidePolicy::Only(expected) = sides {
            if claims.side() != expected {
                return Err(ClaimsError::WrongSide {
                    expected,
                    found: claims.side(),
                });
            }
        }
        Ok(claims)
    }

    /// Verifies an agent identity certificate chain (leaf first).
    pub fn verify_agent(
        &self,
        chain: &[CertificateDer<'_>],
        now: SystemTime,
    ) -> Result<AgentClaims, ClaimsError> {
        let leaf = self.verify_chain(chain, now, CertKind::Agent)?;
        parse_agent_claims(leaf)
    }

    /// Verifies a bridge server certificate chain (leaf first) naming
    /// `bridge_id`.
    pub fn verify_bridge(
        &self,
        chain: &[CertificateDer<'_>],
        now: SystemTime,
        bridge_id: &str,
    ) -> Result<BridgeClaims, ClaimsError> {
        let leaf = self.verify_chain(chain, now, CertKind::Bridge)?;
        let claims = parse_bridge_claims(leaf)?;
        if claims.bridge_id != bridge_id {
            return Err(ClaimsError::WrongBridge {
                expected: bridge_id.to_owned(),
                found: claims.bridge_id,
            });
        }
        Ok(claims)
    }

    /// Chain, signature, validity and EKU via webpki; returns the leaf.
    fn verify_chain<'c>(
        &self,
        chain: &'c [CertificateDer<'c>],
        now: SystemTime,
        profile: CertKind,
    ) -> Result<&'c [u8], ClaimsError> {
        let usage = match profile {
            CertKind::Bridge => KeyUsage::server_auth(),
            _ => KeyUsage::client_auth(),
        };
        let (leaf, intermediates) = chain.split_first().ok_or(ClaimsError::NoCertificate)?;
        if leaf.len() > MAX_CERT_LEN {
            return Err(ClaimsError::TooLarge {
                len: leaf.len(),
                limit: MAX_CERT_LEN,
            });
        }
        let ee = EndEntityCert::try_from(leaf).map_err(|e| map_webpki(e, profile))?;
        let time = UnixTime::since_unix_epoch(
            now.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
        );
        ee.verify_for_usage(
            SIG_ALGS,
            &self.inner.anchors,
            intermediates,
            time,
            usage,
            None,
            None,
        )
        .map_err(|e| map_webpki(e, profile))?;
        Ok(leaf.as_ref())
    }
}

/// webpki's verdict as a bamf rejection.
fn map_webpki(e: webpki::Error, profile: CertKind) -> ClaimsError {
    use webpki::Error as W;
    match e {
        W::UnknownIssuer | W::InvalidSignatureForPublicKey => ClaimsError::UntrustedChain,
        W::UnsupportedSignatureAlgorithmContext(_)
        | W::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => ClaimsError::UntrustedChain,
        W::CertExpired { time, not_after } => ClaimsError::Expired {
            not_after: not_after.as_secs(),
            now: time.as_secs(),
        },
        W::CertNotValidYet { time, not_before } => ClaimsError::NotYetValid {
            not_before: not_before.as_secs(),
            now: time.as_secs(),
        },
        W::RequiredEkuNotFoundContext(_) => ClaimsError::WrongKeyUsage {
            profile,
            reason: "extended key usage does not allow this use",
        },
        W::CaUsedAsEndEntity => ClaimsError::WrongKeyUsage {
            profile,
            reason: "certificate is a CA",
        },
        W::BadDer | W::BadDerTime | W::TrailingData(_) | W::UnsupportedCertVersion => {
            ClaimsError::Malformed {
                reason: format!("{e:?}"),
            }
        }
        other => ClaimsError::Chain(other),
    }
}

//! rustls verifiers built on [`CaTrust`], and the TLS configurations that use
//! them. The bridge uses [`BridgeClientVerifier`] (client certificates from our
//! CA only, for its own bridge id); the CLI and the agent use
//! [`BridgeServerVerifier`] (the bridge's server certificate from our CA, with
//! the expected `bamf://bridge/<id>` — the bridge id is the identity, DNS names
//! in the certificate are not matched).
//!
//! Rejections travel inside the rustls error as
//! `CertificateError::Other(OtherError(Arc<ClaimsError>))`; get them back with
//! [`ClaimsError::from_tls_error`] / [`ClaimsError::from_io_error`], or register
//! a hook with [`BridgeClientVerifier::on_reject`] (QUIC stacks keep only the
//! alert). After a successful handshake the bridge reads the claims with
//! [`crate::claims_from_peer`] on the connection's `peer_certificates()`.

use std::sync::{Arc, OnceLock, RwLock};

use rustls::{
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider},
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime},
    server::danger::{ClientCertVerified, ClientCertVerifier},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, OtherError,
    ServerConfig, SignatureScheme,
};

use crate::{
    clock::{Clock, SystemClock},
    error::ClaimsError,
    trust::{CaTrust, SidePolicy},
};

/// Called with every rejection a verifier makes (for audit and metrics).
pub type RejectHook = Arc<dyn Fn(&ClaimsError) + Send + Sync>;

/// The process-wide *ring* provider (the only one bamf uses).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

fn to_tls(e: ClaimsError) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(e))))
}

/// The bridge's client-certificate verifier: chain to our CA, session
/// certificate for this bridge id, side per policy (both by default).
pub struct BridgeClientVerifier {
    trust: CaTrust,
    bridge_id: String,
    sides: SidePolicy,
    clock: Arc<dyn Clock>,
    hints: Vec<DistinguishedName>,
    provider: Arc<CryptoProvider>,
    on_reject: Option<RejectHook>,
}

impl std::fmt::Debug for BridgeClientVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeClientVerifier")
            .field("bridge_id", &self.bridge_id)
            .field("sides", &self.sides)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl BridgeClientVerifier {
    /// Accepts session certificates of either side for `bridge_id`, on the
    /// system clock.
    pub fn new(trust: CaTrust, bridge_id: impl Into<String>) -> Self {
        let hints = vec![DistinguishedName::from(trust.ca_subject_der().to_vec())];
        BridgeClientVerifier {
            trust,
            bridge_id: bridge_id.into(),
            sides: SidePolicy::Either,
            clock: Arc::new(SystemClock),
            hints,
            provider: crypto_provider(),
            on_reject: None,
        }
    }

    /// Reads the time from `clock` instead of the system.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Accepts only the given sides.
    pub fn with_sides(mut self, sides: SidePolicy) -> Self {
        self.sides = sides;
        self
    }

    /// Calls `hook` with every rejection.
    pub fn on_reject(mut self, hook: RejectHook) -> Self {
        self.on_reject = Some(hook);
        self
    }

    /// The check rustls runs, callable directly (benchmarks, non-TLS callers).
    pub fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<crate::SessionClaims, ClaimsError> {
        let mut chain = Vec::with_capacity(1 + intermediates.len());
        chain.push(end_entity.clone());
        chain.extend(intermediates.iter().cloned());
        let result =
            self.trust
                .verify_session(&chain, self.clock.now(), &self.bridge_id, self.sides);
        if let (Err(e), Some(hook)) = (&result, &self.on_reject) {
            hook(e);
        }
        result
    }
}

impl ClientCertVerifier for BridgeClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Our clock, not rustls's `now`, so tests can inject time.
        self.verify(end_entity, intermediates)
            .map(|_| ClientCertVerified::assertion())
            .map_err(to_tls)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The CLI's and agent's server-certificate verifier: chain to our CA, a
/// bridge certificate naming the expected bridge id.
pub struct BridgeServerVerifier {
    trust: CaTrust,
    bridge_id: String,
    clock: Arc<dyn Clock>,
    provider: Arc<CryptoProvider>,
}

impl std::fmt::Debug for BridgeServerVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeServerVerifier")
            .field("bridge_id", &self.bridge_id)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl BridgeServerVerifier {
    /// Accepts only the bridge `bridge_id`, on the system clock.
    pub fn new(trust: CaTrust, bridge_id: impl Into<String>) -> Self {
        BridgeServerVerifier {
            trust,
            bridge_id: bridge_id.into(),
            clock: Arc::new(SystemClock),
            provider: crypto_provider(),
        }
    }

    /// Reads the time from `clock` instead of the system.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The check rustls runs, callable directly.
    pub fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<crate::BridgeClaims, ClaimsError> {
        let mut chain = Vec::with_capacity(1 + intermediates.len());
        chain.push(end_entity.clone());
        chain.extend(intermediates.iter().cloned());
        self.trust
            .verify_bridge(&chain, self.clock.now(), &self.bridge_id)
    }
}

impl ServerCertVerifier for BridgeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verify(end_entity, intermediates)
            .map(|_| ServerCertVerified::assertion())
            .map_err(to_tls)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The bridge's TLS 1.3 server configuration: its own certificate and key,
/// client certificates checked by `verifier`. Callers add ALPN (`bamf/1`).
pub fn bridge_server_config(
    verifier: Arc<BridgeClientVerifier>,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, rustls::Error> {
    ServerConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert], key)
}

/// The bridge's server certificate and key, replaceable while the bridge
/// runs: a renewal takes effect for the next handshake, and connections
/// already made keep theirs.
#[derive(Debug)]
pub struct ServerCertSlot {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ServerCertSlot {
    /// A slot holding `cert` and its `key`.
    pub fn new(
        cert: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, rustls::Error> {
        Ok(ServerCertSlot {
            current: RwLock::new(certified_key(cert, key)?),
        })
    }

    /// Replaces the certificate and key; on error the old pair stays.
    pub fn replace(
        &self,
        cert: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
    ) -> Result<(), rustls::Error> {
        let next = certified_key(cert, key)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }

    /// The certificate served now (DER).
    pub fn certificate(&self) -> CertificateDer<'static> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).cert[0].clone()
    }
}

impl ResolvesServerCert for ServerCertSlot {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

fn certified_key(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<CertifiedKey>, rustls::Error> {
    let signing = crypto_provider().key_provider.load_private_key(key)?;
    let certified = CertifiedKey::new(vec![cert], signing);
    certified.keys_match()?;
    Ok(Arc::new(certified))
}

/// [`bridge_server_config`] serving whatever `slot` holds at each handshake.
pub fn bridge_server_config_from_slot(
    verifier: Arc<BridgeClientVerifier>,
    slot: Arc<ServerCertSlot>,
) -> Result<ServerConfig, rustls::Error> {
    Ok(ServerConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(slot))
}

/// The CLI's or agent's TLS 1.3 client configuration towards one bridge:
/// its session certificate and key, the bridge checked by `verifier`.
pub fn bridge_client_config(
    verifier: Arc<BridgeServerVerifier>,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> Result<ClientConfig, rustls::Error> {
    ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(vec![cert], key)
}

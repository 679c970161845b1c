//! Parsing a certificate into typed claims. This is the structural half of
//! verification: it reads subject, SANs, key usage and validity from DER and
//! refuses anything outside the profile, but does not check the signature or
//! the time — [`crate::CaTrust`] does that first and then calls in here.
//!
//! Every input is hostile: any byte string yields claims or a specific
//! [`ClaimsError`], never a panic (property-tested in `tests/fuzz_claims.rs`).

use std::{
    net::IpAddr,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rustls_pki_types::CertificateDer;
use x509_parser::{
    certificate::X509Certificate, extensions::GeneralName, prelude::FromDer, time::ASN1Time,
};

use crate::{
    error::{CertKind, ClaimsError, Side},
    names::{self, parse_san_uri, SanKind, UriError},
};

/// Largest certificate parsed; ours are well under 2 KiB.
pub const MAX_CERT_LEN: usize = 8192;
/// Most SAN entries in a certificate (roles are capped at 32 at issuance).
pub const MAX_SANS: usize = 64;

/// Claims of a session certificate (either side), as the bridge needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionClaims {
    pub session_id: String,
    pub bridge_id: String,
    pub resource: String,
    pub resource_type: String,
    /// Who holds the certificate; decides the side.
    pub peer: SessionPeer,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// Lower-case hex, no leading zero bytes; matches [`crate::IssuanceRecord::serial`].
    pub serial: String,
}

/// The holder of a session certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionPeer {
    /// Client side: the user (CN) and their roles at grant time.
    User { email: String, roles: Vec<String> },
    /// Agent side.
    Agent { agent_id: String },
}

impl SessionClaims {
    /// Which end of the tunnel this certificate is for.
    pub fn side(&self) -> Side {
        match self.peer {
            SessionPeer::User { .. } => Side::Client,
            SessionPeer::Agent { .. } => Side::Agent,
        }
    }

    /// The user's e-mail on the client side.
    pub fn user_email(&self) -> Option<&str> {
        match &self.peer {
            SessionPeer::User { email, .. } => Some(email),
            SessionPeer::Agent { .. } => None,
        }
    }

    /// The agent id on the agent side.
    pub fn agent_id(&self) -> Option<&str> {
        match &self.peer {
            SessionPeer::Agent { agent_id } => Some(agent_id),
            SessionPeer::User { .. } => None,
        }
    }

    /// The user's roles (empty on the agent side).
    pub fn roles(&self) -> &[String] {
        match &self.peer {
            SessionPeer::User { roles, .. } => roles,
            SessionPeer::Agent { .. } => &[],
        }
    }
}

/// Claims of an agent identity certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentClaims {
    pub agent_id: String,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub serial: String,
}

/// Claims of a bridge server certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeClaims {
    pub bridge_id: String,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub serial: String,
}

/// Claims of any bamf certificate, when the kind is not known in advance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerClaims {
    Session(SessionClaims),
    Agent(AgentClaims),
    Bridge(BridgeClaims),
}

/// The claims of the session certificate a verified TLS peer presented.
///
/// For the bridge after the handshake: pass `peer_certificates()` of a
/// connection whose client certificate [`crate::BridgeClientVerifier`]
/// accepted. It re-reads the (already verified) leaf; it does **not** check
/// the chain or the time, so never call it on an unverified connection.
pub fn claims_from_peer(certs: &[CertificateDer<'_>]) -> Result<SessionClaims, ClaimsError> {
    let leaf = certs.first().ok_or(ClaimsError::NoCertificate)?;
    parse_session_claims(leaf)
}

/// Parses a session certificate (client or agent side; the side SAN decides).
pub fn parse_session_claims(der: &[u8]) -> Result<SessionClaims, ClaimsError> {
    let cert = Parsed::new(der)?;
    let side = cert.side()?;
    let kind = match side {
        Side::Client => CertKind::SessionClient,
        Side::Agent => CertKind::SessionAgent,
    };
    cert.check_usage(kind)?;
    let allowed: &[SanKind] = match side {
        Side::Client => &[
            SanKind::Session,
            SanKind::Resource,
            SanKind::Bridge,
            SanKind::Side,
            SanKind::Role,
            SanKind::Type,
        ],
        Side::Agent => &[
            SanKind::Session,
            SanKind::Resource,
            SanKind::Bridge,
            SanKind::Side,
            SanKind::Agent,
            SanKind::Type,
        ],
    };
    cert.only(kind, allowed, false)?;
    let session_id = cert.one(SanKind::Session)?;
    let resource = cert.one(SanKind::Resource)?;
    let bridge_id = cert.one(SanKind::Bridge)?;
    let resource_type = cert.one(SanKind::Type)?;
    let cn = cert.common_name()?;
    let peer = match side {
        Side::Client => {
            names::validate_email(cn)?;
            SessionPeer::User {
                email: cn.to_owned(),
                roles: cert.many(SanKind::Role)?,
            }
        }
        Side::Agent => {
            let agent_id = cert.one(SanKind::Agent)?;
            cert.cn_matches(cn, &agent_id)?;
            SessionPeer::Agent { agent_id }
        }
    };
    Ok(SessionClaims {
        session_id,
        bridge_id,
        resource,
        resource_type,
        peer,
        not_before: cert.not_before,
        not_after: cert.not_after,
        serial: cert.serial,
    })
}

/// Parses an agent identity certificate.
pub fn parse_agent_claims(der: &[u8]) -> Result<AgentClaims, ClaimsError> {
    let cert = Parsed::new(der)?;
    cert.check_usage(CertKind::Agent)?;
    cert.only(CertKind::Agent, &[SanKind::Agent], false)?;
    let agent_id = cert.one(SanKind::Agent)?;
    cert.cn_matches(cert.common_name()?, &agent_id)?;
    Ok(AgentClaims {
        agent_id,
        not_before: cert.not_before,
        not_after: cert.not_after,
        serial: cert.serial,
    })
}

/// Parses a bridge server certificate.
pub fn parse_bridge_claims(der: &[u8]) -> Result<BridgeClaims, ClaimsError> {
    let cert = Parsed::new(der)?;
    cert.check_usage(CertKind::Bridge)?;
    cert.only(CertKind::Bridge, &[SanKind::Bridge], true)?;
    let bridge_id = cert.one(SanKind::Bridge)?;
    cert.cn_matches(cert.common_name()?, &bridge_id)?;
    Ok(BridgeClaims {
        bridge_id,
        dns_names: cert.dns.clone(),
        ip_addresses: cert.ips.clone(),
        not_before: cert.not_before,
        not_after: cert.not_after,
        serial: cert.serial,
    })
}

/// Parses any bamf certificate: a `session` SAN makes it a session
/// certificate, else a `bridge` SAN a bridge one, else an agent one.
pub fn parse_claims(der: &[u8]) -> Result<PeerClaims, ClaimsError> {
    let cert = Parsed::new(der)?;
    let has = |k: SanKind| cert.uris.iter().any(|(kind, _)| *kind == k);
    if has(SanKind::Session) {
        parse_session_claims(der).map(PeerClaims::Session)
    } else if has(SanKind::Bridge) {
        parse_bridge_claims(der).map(PeerClaims::Bridge)
    } else {
        parse_agent_claims(der).map(PeerClaims::Agent)
    }
}

/// Lower-case hex of a serial number without leading zero bytes (DER adds one
/// when the top bit is set; the record is made from the raw random bytes).
pub(crate) fn serial_hex(bytes: &[u8]) -> String {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let trimmed = &bytes[start..];
    if trimmed.is_empty() {
        return "00".into();
    }
    trimmed.iter().map(|b| format!("{b:02x}")).collect()
}

fn malformed(reason: impl std::fmt::Display) -> ClaimsError {
    ClaimsError::Malformed {
        reason: reason.to_string(),
    }
}

fn to_system_time(t: ASN1Time) -> SystemTime {
    let secs = t.timestamp();
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

/// Key usage facts read from the certificate.
struct Usage {
    /// None when the extension is absent.
    digital_signature: Option<bool>,
    signs_certs_or_crls: bool,
    /// None when the extension is absent.
    client_auth: Option<bool>,
    server_auth: bool,
    any_eku: bool,
    is_ca: bool,
}

/// The fields of one certificate, borrowed from its DER.
struct Parsed<'a> {
    cns: Vec<Result<String, ()>>,
    uris: Vec<(SanKind, &'a str)>,
    dns: Vec<String>,
    ips: Vec<IpAddr>,
    /// The first SAN entry of a type no profile uses, if any.
    foreign: Option<&'static str>,
    usage: Usage,
    not_before: SystemTime,
    not_after: SystemTime,
    serial: String,
}

impl<'a> Parsed<'a> {
    fn new(der: &'a [u8]) -> Result<Self, ClaimsError> {
        if der.len() > MAX_CERT_LEN {
            return Err(ClaimsError::TooLarge {
                len: der.len(),
                limit: MAX_CERT_LEN,
            });
        }
        let (rest, cert) = X509Certificate::from_der(der).map_err(malformed)?;
        if !rest.is_empty() {
            return Err(malformed("trailing bytes after the certificate"));
        }
        Self::from_cert(&cert)
    }

    fn from_cert(cert: &X509Certificate<'a>) -> Result<Self, ClaimsError> {
        let cns = cert
            .subject()
            .iter_common_name()
            .map(|a| a.as_str().map(str::to_owned).map_err(|_| ()))
            .collect();

        let mut uris = Vec::new();
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        let mut foreign = None;
        if let Some(san) = cert.subject_alternative_name().map_err(malformed)? {
            let names = &san.value.general_names;
            if names.len() > MAX_SANS {
                return Err(ClaimsError::TooManySans {
                    count: names.len(),
                    limit: MAX_SANS,
                });
            }
            for name in names {
                match name {
                    GeneralName::URI(uri) => match parse_san_uri(uri) {
                        Ok(pair) => uris.push(pair),
                        Err(UriError::UnknownScheme) => {
                            return Err(ClaimsError::UnknownScheme {
                                uri: crate::error::excerpt(uri),
                            })
                        }
                        Err(UriError::UnknownKind(kind)) => {
                            return Err(ClaimsError::UnknownSanKind { kind })
                        }
                        Err(UriError::Value(e)) => return Err(e.into()),
                    },
                    GeneralName::DNSName(name) => {
                        names::validate_dns(name)?;
                        dns.push((*name).to_owned());
                    }
                    GeneralName::IPAddress(raw) => {
                        let ip = match raw.len() {
                            4 => IpAddr::from(<[u8; 4]>::try_from(*raw).map_err(malformed)?),
                            16 => IpAddr::from(<[u8; 16]>::try_from(*raw).map_err(malformed)?),
                            _ => return Err(malformed("IP address SAN of odd length")),
                        };
                        ips.push(ip);
                    }
                    GeneralName::Invalid(..) => return Err(malformed("undecodable SAN entry")),
                    GeneralName::RFC822Name(_) => foreign = foreign.or(Some("e-mail SAN")),
                    GeneralName::DirectoryName(_) => foreign = foreign.or(Some("directory SAN")),
                    GeneralName::OtherName(..) => foreign = foreign.or(Some("other-name SAN")),
                    GeneralName::X400Address(_)
                    | GeneralName::EDIPartyName(_)
                    | GeneralName::RegisteredID(_) => foreign = foreign.or(Some("legacy SAN")),
                }
            }
        }

        let ku = cert.key_usage().map_err(malformed)?;
        let eku = cert.extended_key_usage().map_err(malformed)?;
        let bc = cert.basic_constraints().map_err(malformed)?;
        let usage = Usage {
            digital_signature: ku.as_ref().map(|k| k.value.digital_signature()),
            signs_certs_or_crls: ku
                .as_ref()
                .is_some_and(|k| k.value.key_cert_sign() || k.value.crl_sign()),
            client_auth: eku.as_ref().map(|e| e.value.client_auth),
            server_auth: eku.as_ref().is_some_and(|e| e.value.server_auth),
            any_eku: eku.as_ref().is_some_and(|e| e.value.any),
            is_ca: bc.is_some_and(|b| b.value.ca),
        };

        let validity = cert.validity();
        Ok(Parsed {
            cns,
            uris,
            dns,
            ips,
            foreign,
            usage,
            not_before: to_system_time(validity.not_before),
            not_after: to_system_time(validity.not_after),
            serial: serial_hex(cert.raw_serial()),
        })
    }

    /// The single `side` SAN.
    fn side(&self) -> Result<Side, ClaimsError> {
        let value = self.one(SanKind::Side)?;
        // Already validated by parse_san_uri.
        Ok(names::parse_side(&value)?)
    }

    /// Session, agent and bridge certificates sign handshakes only: KU
    /// digitalSignature, the one EKU of the profile, never a CA.
    fn check_usage(&self, profile: CertKind) -> Result<(), ClaimsError> {
        let wrong = |reason| Err(ClaimsError::WrongKeyUsage { profile, reason });
        let u = &self.usage;
        if u.is_ca {
            return wrong("certificate is a CA");
        }
        match u.digital_signature {
            None => return wrong("no key usage extension"),
            Some(false) => return wrong("key usage lacks digitalSignature"),
            Some(true) => {}
        }
        if u.signs_certs_or_crls {
            return wrong("key usage allows signing certificates or CRLs");
        }
        let Some(client_auth) = u.client_auth else {
            return wrong("no extended key usage extension");
        };
        if u.any_eku {
            return wrong("extended key usage allows any purpose");
        }
        let (want, other) = match profile {
            CertKind::Bridge => (u.server_auth, client_auth),
            _ => (client_auth, u.server_auth),
        };
        if !want {
            return wrong(match profile {
                CertKind::Bridge => "extended key usage lacks serverAuth",
                _ => "extended key usage lacks clientAuth",
            });
        }
        if other {
            return wrong(match profile {
                CertKind::Bridge => "extended key usage also allows clientAuth",
                _ => "extended key usage also allows serverAuth",
            });
        }
        Ok(())
    }

    /// Refuses SAN kinds outside `allowed`, and DNS/IP/other names unless
    /// `network_names` (bridge certificates).
    fn only(
        &self,
        profile: CertKind,
        allowed: &[SanKind],
        network_names: bool,
    ) -> Result<(), ClaimsError> {
        if let Some((kind, _)) = self.uris.iter().find(|(k, _)| !allowed.contains(k)) {
            return Err(ClaimsError::UnexpectedSan {
                what: format!("{kind} SAN"),
                profile,
            });
        }
        if let Some(what) = self.foreign {
            return Err(ClaimsError::UnexpectedSan {
                what: what.into(),
                profile,
            });
        }
        if !network_names && (!self.dns.is_empty() || !self.ips.is_empty()) {
            return Err(ClaimsError::UnexpectedSan {
                what: if self.dns.is_empty() {
                    "IP address SAN".into()
                } else {
                    "DNS SAN".into()
                },
                profile,
            });
        }
        Ok(())
    }

    /// The value of a SAN kind that must appear exactly once.
    fn one(&self, kind: SanKind) -> Result<String, ClaimsError> {
        let mut values = self.uris.iter().filter(|(k, _)| *k == kind);
        let (_, value) = values.next().ok_or(ClaimsError::MissingSan { kind })?;
        if values.next().is_some() {
            return Err(ClaimsError::DuplicateSan { kind });
        }
        Ok((*value).to_owned())
    }

    /// The values of a SAN kind that may appear any number of times, each once.
    fn many(&self, kind: SanKind) -> Result<Vec<String>, ClaimsError> {
        let mut out: Vec<String> = Vec::new();
        for (_, value) in self.uris.iter().filter(|(k, _)| *k == kind) {
            if out.iter().any(|v| v == value) {
                return Err(ClaimsError::DuplicateSan { kind });
            }
            out.push((*value).to_owned());
        }
        Ok(out)
    }

    /// The single subject common name.
    fn common_name(&self) -> Result<&str, ClaimsError> {
        let kind = SanKind::CommonName;
        match self.cns.as_slice() {
            [] => Err(ClaimsError::MissingSan { kind }),
            [Ok(cn)] => Ok(cn),
            [Err(())] => Err(ClaimsError::InvalidValue {
                kind,
                value: String::new(),
                reason: "not a UTF-8 string",
            }),
            _ => Err(ClaimsError::DuplicateSan { kind }),
        }
    }

    /// Agent and bridge certificates name their id in the CN as well.
    fn cn_matches(&self, cn: &str, id: &str) -> Result<(), ClaimsError> {
        if cn == id {
            Ok(())
        } else {
            Err(ClaimsError::InvalidValue {
                kind: SanKind::CommonName,
                value: crate::error::excerpt(cn),
                reason: "does not match the id SAN",
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_hex_strips_leading_zeros() {
        assert_eq!(serial_hex(&[0x00, 0x8a, 0x01]), "8a01");
        assert_eq!(serial_hex(&[0x00]), "00");
        assert_eq!(serial_hex(&[]), "00");
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            parse_claims(b"not a certificate"),
            Err(ClaimsError::Malformed { .. })
        ));
        assert!(matches!(
            parse_claims(&vec![0x30; MAX_CERT_LEN + 1]),
            Err(ClaimsError::TooLarge { .. })
        ));
        assert!(matches!(
            claims_from_peer(&[]),
            Err(ClaimsError::NoCertificate)
        ));
    }
}

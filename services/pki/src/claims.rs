//! Parsing a certificate into typed claims. This is the structural half of
//! verification: it reads subject, SANs, key usage and validity from DER and
//! refuses anything outside the profile, but does not check the signature or
//! the time — [`crate::CaTrust`] does that first and then calls in here.
//!
//! Every input is hostile: any byte string yields claims or a specific
//! [`ClaimsError`], never a panic (property-tested in `tests/fuzz_claims.rs`).

use std::{net::IpAddr, time::SystemTime};

use rustls_pki_types::CertificateDer;

pub use crate::fields::{MAX_CERT_LEN, MAX_SANS};
use crate::{
    error::{CertKind, ClaimsError, Side},
    fields::Parsed,
    names::{self, SanKind},
};

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
    let has = |k: SanKind| cert.has(k);
    if has(SanKind::Session) {
        parse_session_claims(der).map(PeerClaims::Session)
    } else if has(SanKind::Bridge) {
        parse_bridge_claims(der).map(PeerClaims::Bridge)
    } else {
        parse_agent_claims(der).map(PeerClaims::Agent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::serial_hex;

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

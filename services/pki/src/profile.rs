//! Certificate profiles (§3): what goes into each kind of certificate — subject,
//! SAN URIs, lifetime, key usage — built from validated input.

use std::{net::IpAddr, time::Duration};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose,
    SanType, SerialNumber,
};
use time::OffsetDateTime;

use crate::{
    error::{CertKind, PkiError, Side},
    names::{self, san_uri, SanKind, ValueError},
};

/// Lifetime of a session certificate (either side): long enough to connect.
pub const SESSION_CERT_LIFETIME: Duration = Duration::from_secs(30);
/// Lifetime of an agent identity certificate; renewed at two thirds.
pub const AGENT_CERT_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Lifetime of a bridge server certificate; renewed at two thirds.
pub const BRIDGE_CERT_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// not-before is set this far before the issuing instant so a verifier whose
/// clock is slightly behind the API's still accepts a fresh certificate.
/// not-after is not extended: the lifetimes above are measured from issuance.
pub const NOT_BEFORE_BACKDATE: Duration = Duration::from_secs(10);
/// Most roles a session certificate carries (the parser's SAN limit is above it).
pub const MAX_ROLES: usize = 32;
/// Most DNS names plus IP addresses in a bridge certificate.
pub const MAX_BRIDGE_NAMES: usize = 16;

/// Client-side session certificate: the user's end of a tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSessionProfile {
    pub session_id: String,
    /// Becomes the subject CN.
    pub user_email: String,
    pub resource: String,
    pub resource_type: String,
    pub bridge_id: String,
    /// The user's roles at grant time; duplicates are dropped, order kept.
    pub roles: Vec<String>,
}

/// Agent-side session certificate: the agent's end of the same tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSessionProfile {
    pub session_id: String,
    /// Becomes the subject CN and `bamf://agent/<id>`.
    pub agent_id: String,
    pub resource: String,
    pub resource_type: String,
    pub bridge_id: String,
}

/// The agent's 24-hour identity certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentProfile {
    pub agent_id: String,
}

/// A bridge's 24-hour server certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeProfile {
    pub bridge_id: String,
    /// Names clients may dial; identity is checked on the bridge id, not these.
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
}

/// What to issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Profile {
    ClientSession(ClientSessionProfile),
    AgentSession(AgentSessionProfile),
    Agent(AgentProfile),
    Bridge(BridgeProfile),
}

/// A profile whose values all passed validation, ready to become parameters.
pub(crate) struct Built {
    pub kind: CertKind,
    pub subject: String,
    /// SANs as recorded: URIs as-is, `dns:<name>`, `ip:<addr>`.
    pub sans: Vec<String>,
    pub params: CertificateParams,
}

impl Profile {
    /// Which kind of certificate this profile makes.
    pub fn kind(&self) -> CertKind {
        match self {
            Profile::ClientSession(_) => CertKind::SessionClient,
            Profile::AgentSession(_) => CertKind::SessionAgent,
            Profile::Agent(_) => CertKind::Agent,
            Profile::Bridge(_) => CertKind::Bridge,
        }
    }

    /// How long a certificate of this profile is valid after issuance.
    pub fn lifetime(&self) -> Duration {
        match self {
            Profile::ClientSession(_) | Profile::AgentSession(_) => SESSION_CERT_LIFETIME,
            Profile::Agent(_) => AGENT_CERT_LIFETIME,
            Profile::Bridge(_) => BRIDGE_CERT_LIFETIME,
        }
    }

    /// Validates every value and produces the rcgen parameters for issuing at `now`.
    pub(crate) fn build(&self, now: OffsetDateTime, serial: [u8; 16]) -> Result<Built, PkiError> {
        let kind = self.kind();
        let mut uris: Vec<String> = Vec::with_capacity(8);
        let mut push = |k: SanKind, v: &str| -> Result<(), ValueError> {
            names::validate(k, v)?;
            uris.push(san_uri(k, v));
            Ok(())
        };
        let mut extra: Vec<SanType> = Vec::new();
        let mut extra_recorded: Vec<String> = Vec::new();
        let (subject, eku) = match self {
            Profile::ClientSession(p) => {
                names::validate_email(&p.user_email)?;
                push(SanKind::Session, &p.session_id)?;
                push(SanKind::Resource, &p.resource)?;
                push(SanKind::Bridge, &p.bridge_id)?;
                push(SanKind::Side, Side::Client.as_str())?;
                let mut seen: Vec<&str> = Vec::with_capacity(p.roles.len());
                for role in &p.roles {
                    if !seen.contains(&role.as_str()) {
                        seen.push(role);
                    }
                }
                if seen.len() > MAX_ROLES {
                    return Err(PkiError::InvalidField {
                        kind: SanKind::Role,
                        value: format!("{} roles", seen.len()),
                        reason: "more than 32 roles",
                    });
                }
                for role in seen {
                    push(SanKind::Role, role)?;
                }
                push(SanKind::Type, &p.resource_type)?;
                (p.user_email.clone(), ExtendedKeyUsagePurpose::ClientAuth)
            }
            Profile::AgentSession(p) => {
                push(SanKind::Session, &p.session_id)?;
                push(SanKind::Resource, &p.resource)?;
                push(SanKind::Bridge, &p.bridge_id)?;
                push(SanKind::Side, Side::Agent.as_str())?;
                push(SanKind::Agent, &p.agent_id)?;
                push(SanKind::Type, &p.resource_type)?;
                (p.agent_id.clone(), ExtendedKeyUsagePurpose::ClientAuth)
            }
            Profile::Agent(p) => {
                push(SanKind::Agent, &p.agent_id)?;
                (p.agent_id.clone(), ExtendedKeyUsagePurpose::ClientAuth)
            }
            Profile::Bridge(p) => {
                push(SanKind::Bridge, &p.bridge_id)?;
                if p.dns_names.len() + p.ip_addresses.len() > MAX_BRIDGE_NAMES {
                    return Err(PkiError::InvalidField {
                        kind: SanKind::Dns,
                        value: format!("{} names", p.dns_names.len() + p.ip_addresses.len()),
                        reason: "more than 16 DNS names and IP addresses",
                    });
                }
                for dns in &p.dns_names {
                    names::validate_dns(dns)?;
                    // Validated above as lower-case LDH labels, so always IA5.
                    let ia5 = dns.clone().try_into().map_err(PkiError::Sign)?;
                    extra.push(SanType::DnsName(ia5));
                    extra_recorded.push(format!("dns:{dns}"));
                }
                for ip in &p.ip_addresses {
                    extra.push(SanType::IpAddress(*ip));
                    extra_recorded.push(format!("ip:{ip}"));
                }
                (p.bridge_id.clone(), ExtendedKeyUsagePurpose::ServerAuth)
            }
        };

        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, subject.as_str());
        params.distinguished_name = dn;
        params.not_before = now - NOT_BEFORE_BACKDATE;
        params.not_after = now + self.lifetime();
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![eku];
        params.use_authority_key_identifier_extension = true;
        let mut sans = Vec::with_capacity(uris.len() + extra.len());
        for uri in &uris {
            // Built from validated ASCII values, so always IA5.
            let ia5 = uri.clone().try_into().map_err(PkiError::Sign)?;
            sans.push(SanType::URI(ia5));
        }
        sans.extend(extra);
        params.subject_alt_names = sans;
        uris.extend(extra_recorded);
        Ok(Built {
            kind,
            subject,
            sans: uris,
            params,
        })
    }
}

/// X.509 times have one-second resolution; issuance works on whole seconds so
/// the recorded not-after equals the certificate's.
pub(crate) fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0)
        .expect("0 is always a valid nanosecond value")
}

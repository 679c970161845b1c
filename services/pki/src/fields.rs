//! The fields of one certificate, read from DER with x509-parser and checked
//! against the bamf vocabulary: the shared engine under [`crate::claims`].

use std::{
    net::IpAddr,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use x509_parser::{
    certificate::X509Certificate, extensions::GeneralName, prelude::FromDer, time::ASN1Time,
};

use crate::{
    error::{excerpt, CertKind, ClaimsError, Side},
    names::{self, parse_san_uri, SanKind, UriError},
};

/// Largest certificate parsed; ours are well under 2 KiB.
pub const MAX_CERT_LEN: usize = 8192;
/// Most SAN entries in a certificate (roles are capped at 32 at issuance).
pub const MAX_SANS: usize = 64;

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
pub(crate) struct Parsed<'a> {
    cns: Vec<Result<String, ()>>,
    pub(crate) uris: Vec<(SanKind, &'a str)>,
    pub(crate) dns: Vec<String>,
    pub(crate) ips: Vec<IpAddr>,
    /// The first SAN entry of a type no profile uses, if any.
    foreign: Option<&'static str>,
    usage: Usage,
    pub(crate) not_before: SystemTime,
    pub(crate) not_after: SystemTime,
    pub(crate) serial: String,
}

impl<'a> Parsed<'a> {
    pub(crate) fn new(der: &'a [u8]) -> Result<Self, ClaimsError> {
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
                            return Err(ClaimsError::UnknownScheme { uri: excerpt(uri) })
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

    /// Whether any SAN of this kind is present.
    pub(crate) fn has(&self, kind: SanKind) -> bool {
        self.uris.iter().any(|(k, _)| *k == kind)
    }

    /// The single `side` SAN.
    pub(crate) fn side(&self) -> Result<Side, ClaimsError> {
        let value = self.one(SanKind::Side)?;
        // Already validated by parse_san_uri.
        Ok(names::parse_side(&value)?)
    }

    /// Session, agent and bridge certificates sign handshakes only: KU
    /// digitalSignature, the one EKU of the profile, never a CA.
    pub(crate) fn check_usage(&self, profile: CertKind) -> Result<(), ClaimsError> {
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
    pub(crate) fn only(
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
    pub(crate) fn one(&self, kind: SanKind) -> Result<String, ClaimsError> {
        let mut values = self.uris.iter().filter(|(k, _)| *k == kind);
        let (_, value) = values.next().ok_or(ClaimsError::MissingSan { kind })?;
        if values.next().is_some() {
            return Err(ClaimsError::DuplicateSan { kind });
        }
        Ok((*value).to_owned())
    }

    /// The values of a SAN kind that may appear any number of times, each once.
    pub(crate) fn many(&self, kind: SanKind) -> Result<Vec<String>, ClaimsError> {
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
    pub(crate) fn common_name(&self) -> Result<&str, ClaimsError> {
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
    pub(crate) fn cn_matches(&self, cn: &str, id: &str) -> Result<(), ClaimsError> {
        if cn == id {
            Ok(())
        } else {
            Err(ClaimsError::InvalidValue {
                kind: SanKind::CommonName,
                value: excerpt(cn),
                reason: "does not match the id SAN",
            })
        }
    }
}

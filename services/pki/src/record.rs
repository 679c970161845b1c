//! The issuance record: what the API publishes as the `cert.issued` event
//! (§2, §3). Never the key; the certificate itself is not needed either —
//! serial, kind, subject and SANs identify it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::CertKind;

/// One issued certificate, as recorded in the event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuanceRecord {
    /// Lower-case hex without leading zero bytes; equals `SessionClaims::serial`
    /// and the other claims' `serial` for the same certificate.
    pub serial: String,
    pub kind: CertKind,
    /// Subject CN: user e-mail, agent id or bridge id.
    pub subject: String,
    /// `bamf://…` URIs as they are in the certificate, then `dns:<name>` and
    /// `ip:<addr>` for bridge certificates.
    pub sans: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Who asked for it, as the API names actors (e.g. the user's e-mail for a
    /// client session certificate, `agent:<id>` for an agent's request).
    pub requester: String,
}

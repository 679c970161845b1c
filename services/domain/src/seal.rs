//! Audit seals, the pure part (docs/audit.md, "Tamper evidence"): the chained
//! digest both the sealing API and `bamfctl audit verify` compute, the export
//! line format, and the verification walk over an exported file. Signatures
//! are checked by a function the caller passes in (this crate holds no crypto
//! beyond SHA-256).
//!
//! A seal covering sequences `first..=last` of `BAMF_AUDIT` carries
//! `digest = SHA-256(prev_digest ‖ payload(first) ‖ … ‖ payload(last))`, where
//! `prev_digest` is the previous seal's digest (32 zero bytes before the first
//! seal), signed. Seals are records of the stream too, so each seal is covered
//! by the next one.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::events::{AuditSealed, Event, Sha256Hex};
use crate::Envelope;

/// The type of a seal record.
pub const SEAL_TYPE: &str = "audit.sealed";
/// The subject seals are published on.
pub const SEAL_SUBJECT: &str = "bamf.audit.audit.sealed";
/// The one signature algorithm.
pub const ALGORITHM: &str = "ed25519";
/// The chain's start: the `prev_digest` of the first seal.
pub const GENESIS: [u8; 32] = [0; 32];

/// SHA-256 as lowercase hex.
pub fn hex_digest(bytes: &[u8; 32]) -> Sha256Hex {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // 32 bytes always make 64 lowercase hex characters.
    Sha256Hex::new(hex).expect("64 lowercase hex characters")
}

/// The 32 bytes of a hex digest.
pub fn digest_bytes(hex: &Sha256Hex) -> [u8; 32] {
    let mut out = [0u8; 32];
    let s = hex.as_str().as_bytes();
    for (i, byte) in out.iter_mut().enumerate() {
        // Sha256Hex holds 64 lowercase hex characters (checked on creation).
        let nibble = |c: u8| {
            if c.is_ascii_digit() {
                c - b'0'
            } else {
                c - b'a' + 10
            }
        };
        *byte = nibble(s[2 * i]) << 4 | nibble(s[2 * i + 1]);
    }
    out
}

/// SHA-256 of one record's payload.
pub fn record_digest(payload: &[u8]) -> Sha256Hex {
    hex_digest(&Sha256::digest(payload).into())
}

/// The id of a signing key: the first 16 hex characters of the SHA-256 of
/// the raw public key.
pub fn key_id(raw_public_key: &[u8]) -> String {
    record_digest(raw_public_key).as_str()[..16].to_string()
}

/// The chained digest, fed one payload at a time in sequence order.
pub struct Chain(Sha256);

impl Chain {
    /// A chain continuing from `prev` (the previous seal's digest, or [`GENESIS`]).
    pub fn new(prev: &[u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(prev);
        Chain(h)
    }

    /// Adds the next record's raw payload.
    pub fn push(&mut self, payload: &[u8]) {
        self.0.update(payload);
    }

    /// The digest over everything pushed.
    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// One line of an export file: `{"seq":N,"record":<payload verbatim>}`.
pub fn export_line(seq: u64, payload: &[u8]) -> String {
    // A payload is one JSON envelope; JSON text embeds verbatim as a value.
    format!(
        "{{\"seq\":{seq},\"record\":{}}}",
        String::from_utf8_lossy(payload)
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    seq: u64,
    #[serde(borrow)]
    record: &'a RawValue,
}

/// One parsed export line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRecord {
    pub seq: u64,
    /// The record's bytes exactly as in the file.
    pub payload: Vec<u8>,
}

/// Parses one export line.
pub fn parse_line(line: &str) -> Result<ExportRecord, serde_json::Error> {
    let l: Line<'_> = serde_json::from_str(line)?;
    Ok(ExportRecord {
        seq: l.seq,
        payload: l.record.get().as_bytes().to_vec(),
    })
}

/// The first problem found by [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("sequence {missing} is missing: the records jump from {before} to {after}")]
    Gap {
        missing: u64,
        before: u64,
        after: u64,
    },
    #[error("sequence {seq} appears twice with different content")]
    ConflictingDuplicate { seq: u64 },
    #[error("record {seq} ({record_type}) was altered: its SHA-256 is {found}, seal {seal_seq} recorded {expected}")]
    Altered {
        seq: u64,
        record_type: String,
        seal_seq: u64,
        expected: String,
        found: String,
    },
    #[error("seal {seal_seq} does not match the records it covers: {what}")]
    SealMismatch { seal_seq: u64, what: String },
    #[error("seal {seal_seq} is not a valid audit.sealed record: {why}")]
    BadSeal { seal_seq: u64, why: String },
    #[error("seal {seal_seq}'s signature does not verify: {why}")]
    BadSignature { seal_seq: u64, why: String },
    #[error("no seal covers the records of this file; nothing could be verified")]
    NothingSealed,
}

/// What [`verify`] checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifySummary {
    /// Distinct sequences in the file.
    pub records: u64,
    /// Lines repeating a sequence with identical content (at-least-once export).
    pub duplicates: u64,
    /// Seals whose range was checked.
    pub seals: u64,
    /// The range every record of which a verified seal covers.
    pub verified: Option<(u64, u64)>,
    /// Records before the first verified range (the export started mid-seal).
    pub unverified_head: u64,
    /// Records after the last seal (not sealed yet).
    pub unsealed_tail: u64,
    /// Key ids of the verified seals.
    pub key_ids: Vec<String>,
}

/// Checks an export: no gap, no conflicting duplicate, and for each seal
/// whose whole range is in the file: its link to the previous seal, its
/// chained digest over the records, and (through `check_signature`, given the
/// seal and its digest) its signature. Stops at the first problem.
pub fn verify(
    lines: Vec<ExportRecord>,
    check_signature: impl Fn(&AuditSealed, &[u8; 32]) -> Result<(), String>,
) -> Result<VerifySummary, VerifyError> {
    let mut records: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut summary = VerifySummary::default();
    for line in lines {
        match records.get(&line.seq) {
            Some(existing) if *existing == line.payload => summary.duplicates += 1,
            Some(_) => return Err(VerifyError::ConflictingDuplicate { seq: line.seq }),
            None => {
                records.insert(line.seq, line.payload);
            }
        }
    }
    summary.records = records.len() as u64;
    let mut previous: Option<u64> = None;
    for &seq in records.keys() {
        if let Some(before) = previous {
            if seq != before + 1 {
                return Err(VerifyError::Gap {
                    missing: before + 1,
                    before,
                    after: seq,
                });
            }
        }
        previous = Some(seq);
    }
    let (Some(&file_first), Some(&file_last)) = (records.keys().next(), records.keys().last())
    else {
        return Err(VerifyError::NothingSealed);
    };

    let mut anchor: Option<(u64, AuditSealed)> = None;
    for (&seq, payload) in &records {
        if !is_seal(payload) {
            continue;
        }
        let seal = decode_seal(seq, payload)?;
        if seal.first_seq < file_first {
            // The export starts inside this seal's range: it can't be checked,
            // but it anchors the next one.
            anchor = Some((seq, seal));
            continue;
        }
        if let Some((anchor_seq, anchor_seal)) = &anchor {
            let linked = seal.prev_seal_seq == *anchor_seq
                && seal.prev_digest == anchor_seal.digest
                && seal.first_seq == anchor_seal.last_seq + 1;
            if !linked {
                return Err(VerifyError::SealMismatch {
                    seal_seq: seq,
                    what: format!(
                        "it should continue seal {anchor_seq} (digest {}, last sequence {}) but names seal {} (digest {}) and starts at {}",
                        anchor_seal.digest.as_str(),
                        anchor_seal.last_seq,
                        seal.prev_seal_seq,
                        seal.prev_digest.as_str(),
                        seal.first_seq
                    ),
                });
            }
        }
        check_seal(seq, &seal, &records)?;
        let digest = digest_bytes(&seal.digest);
        check_signature(&seal, &digest)
            .map_err(|why| VerifyError::BadSignature { seal_seq: seq, why })?;
        summary.seals += 1;
        if !summary.key_ids.contains(&seal.key_id) {
            summary.key_ids.push(seal.key_id.clone());
        }
        summary.verified = Some(match summary.verified {
            None => (seal.first_seq, seal.last_seq),
            Some((first, _)) => (first, seal.last_seq),
        });
        anchor = Some((seq, seal));
    }
    let Some((first, last)) = summary.verified else {
        return Err(VerifyError::NothingSealed);
    };
    summary.unverified_head = first - file_first;
    summary.unsealed_tail = file_last - last;
    Ok(summary)
}

/// Whether a record is a seal (a cheap look at `type`; full decoding follows).
fn is_seal(payload: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct TypeOnly<'a> {
        #[serde(rename = "type", borrow)]
        event_type: std::borrow::Cow<'a, str>,
    }
    serde_json::from_slice::<TypeOnly<'_>>(payload).is_ok_and(|t| t.event_type == SEAL_TYPE)
}

fn decode_seal(seq: u64, payload: &[u8]) -> Result<AuditSealed, VerifyError> {
    match Envelope::decode(payload) {
        Ok(Envelope {
            event: Event::AuditSealed(seal),
            ..
        }) => Ok(seal),
        Ok(_) => Err(VerifyError::BadSeal {
            seal_seq: seq,
            why: "its type is not audit.sealed".into(),
        }),
        Err(e) => Err(VerifyError::BadSeal {
            seal_seq: seq,
            why: e.to_string(),
        }),
    }
}

/// The seal's range is complete and its digest is the chain over it; when it
/// is not, the per-record digests name the altered record.
fn check_seal(
    seal_seq: u64,
    seal: &AuditSealed,
    records: &BTreeMap<u64, Vec<u8>>,
) -> Result<(), VerifyError> {
    let mismatch = |what: String| VerifyError::SealMismatch { seal_seq, what };
    let span = seal.last_seq.checked_sub(seal.first_seq).map(|d| d + 1);
    if span != Some(seal.record_count) || seal.record_digests.len() as u64 != seal.record_count {
        return Err(mismatch(format!(
            "it claims {} records for {}..={} with {} record digests",
            seal.record_count,
            seal.first_seq,
            seal.last_seq,
            seal.record_digests.len()
        )));
    }
    if seal.last_seq >= seal_seq {
        return Err(mismatch(format!(
            "it covers up to {}, not before itself",
            seal.last_seq
        )));
    }
    let mut chain = Chain::new(&digest_bytes(&seal.prev_digest));
    for seq in seal.first_seq..=seal.last_seq {
        let Some(payload) = records.get(&seq) else {
            // Only reachable at the end of the file (inner gaps fail earlier).
            return Err(VerifyError::Gap {
                missing: seq,
                before: seq.saturating_sub(1),
                after: seal_seq,
            });
        };
        chain.push(payload);
    }
    if hex_digest(&chain.finish()) == seal.digest {
        return Ok(());
    }
    for (seq, expected) in (seal.first_seq..=seal.last_seq).zip(&seal.record_digests) {
        let payload = &records[&seq];
        let found = record_digest(payload);
        if found != *expected {
            return Err(VerifyError::Altered {
                seq,
                record_type: record_type(payload),
                seal_seq,
                expected: expected.as_str().to_string(),
                found: found.as_str().to_string(),
            });
        }
    }
    Err(mismatch(
        "the chained digest differs although every record digest matches (the seal itself was altered)"
            .into(),
    ))
}

fn record_type(payload: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
        .unwrap_or_else(|| "not valid JSON".into())
}

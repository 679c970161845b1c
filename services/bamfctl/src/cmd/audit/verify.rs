//! `audit verify`: checks an audit trail — an exported file (offline) or the
//! `BAMF_AUDIT` stream itself, read straight from NATS — for no gap, no
//! altered record, every seal chained to the previous one and signed by one of
//! the given keys (docs/audit.md, "Tamper evidence"). The walk itself is
//! `bamf_domain::seal::verify`; this file reads the file or the stream and the
//! keys, and checks Ed25519 signatures.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use bamf_domain::events::AuditSealed;
use bamf_domain::seal::{self, ExportRecord, VerifySummary};
use bamf_events::streams::AUDIT_STREAM;
use bamf_events::{jetstream, StreamReader};
use base64::Engine;
use clap::Args;
use ring::signature::{UnparsedPublicKey, ED25519};
use serde_json::json;

use super::nats::NatsArgs;
use crate::output::{print_json, write_stdout};

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// JSONL export: one `{"seq": N, "record": {…}}` per line, the record verbatim.
    /// Without it, the stream BAMF_AUDIT is read from NATS (--nats-url).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub nats: NatsArgs,
    /// A seal public key (PEM, the API's `data_dir/audit-seal.pub.pem`); repeat for several.
    #[arg(long = "public-key", value_name = "PEM", required = true)]
    pub public_keys: Vec<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `audit verify`.
pub async fn run(args: VerifyArgs) -> Result<()> {
    let summary = match &args.file {
        Some(file) => {
            if args.nats.given() {
                bail!("give either --file (an exported file) or --nats-url and the other --nats-* flags (the stream), not both");
            }
            verify_file(file, &args.public_keys)?
        }
        None => {
            if !args.nats.has_url() {
                bail!("nothing to verify: give --file FILE (an export) or --nats-url URL (the stream BAMF_AUDIT; or set BAMF_NATS_URL)");
            }
            // Keys first: a wrong path fails before any connection.
            load_public_keys(&args.public_keys)?;
            let (_client, js) = args.nats.connect().await?;
            verify_stream(&js, &args.public_keys).await?
        }
    };
    print_summary(&summary, args.json)
}

/// Verifies `file` against `keys`; the error names the first problem.
pub fn verify_file(file: &Path, keys: &[PathBuf]) -> Result<VerifySummary> {
    let keys = load_public_keys(keys)?;
    let lines = read_export(file)?;
    seal::verify(lines, |seal, digest| check_signature(&keys, seal, digest))
        .with_context(|| format!("{} does not verify", file.display()))
}

/// Verifies the stream `BAMF_AUDIT` as it is now, from its first retained
/// record to its last, against `keys`; the error names the first problem.
pub async fn verify_stream(js: &jetstream::Context, keys: &[PathBuf]) -> Result<VerifySummary> {
    let keys = load_public_keys(keys)?;
    let mut reader = StreamReader::open(js, AUDIT_STREAM)
        .await
        .with_context(|| format!("cannot read {AUDIT_STREAM}"))?;
    let (first, last) = reader.range();
    let mut records = Vec::new();
    while let Some(record) = reader.next().await {
        let record = record.with_context(|| format!("cannot read {AUDIT_STREAM}"))?;
        records.push(ExportRecord {
            seq: record.seq,
            payload: record.payload.to_vec(),
        });
    }
    seal::verify(records, |seal, digest| check_signature(&keys, seal, digest))
        .with_context(|| format!("{AUDIT_STREAM} (sequences {first}..={last}) does not verify"))
}

fn load_public_keys(keys: &[PathBuf]) -> Result<BTreeMap<String, Vec<u8>>> {
    keys.iter().map(|k| load_public_key(k)).collect()
}

fn read_export(file: &Path) -> Result<Vec<ExportRecord>> {
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
    );
    let mut records = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", file.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let record = seal::parse_line(&line).with_context(|| {
            format!(
                "{} line {}: not an export line {{\"seq\": N, \"record\": {{…}}}}",
                file.display(),
                n + 1
            )
        })?;
        records.push(record);
    }
    Ok(records)
}

/// `(key id, raw public key)` from a SubjectPublicKeyInfo PEM.
fn load_public_key(path: &Path) -> Result<(String, Vec<u8>)> {
    /// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410).
    const PREFIX: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the public key {}", path.display()))?;
    if !text.contains("-----BEGIN PUBLIC KEY-----") {
        bail!("{} is not a PEM public key", path.display());
    }
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .with_context(|| format!("{} is not a PEM public key", path.display()))?;
    match der.strip_prefix(&PREFIX[..]) {
        Some(raw) if raw.len() == 32 => Ok((seal::key_id(raw), raw.to_vec())),
        _ => bail!("{} is not an Ed25519 public key", path.display()),
    }
}

fn check_signature(
    keys: &BTreeMap<String, Vec<u8>>,
    seal: &AuditSealed,
    digest: &[u8; 32],
) -> Result<(), String> {
    if seal.algorithm != seal::ALGORITHM {
        return Err(format!("unknown algorithm {:?}", seal.algorithm));
    }
    let Some(raw) = keys.get(&seal.key_id) else {
        return Err(format!(
            "signed by key {}, which is not among the --public-key files",
            seal.key_id
        ));
    };
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&seal.signature)
        .map_err(|_| "the signature is not base64".to_string())?;
    UnparsedPublicKey::new(&ED25519, raw)
        .verify(digest, &signature)
        .map_err(|_| format!("the signature does not match key {}", seal.key_id))
}

fn print_summary(s: &VerifySummary, json: bool) -> Result<()> {
    let (first, last) = s.verified.unwrap_or_default();
    if json {
        return print_json(&json!({
            "records": s.records,
            "duplicates": s.duplicates,
            "seals": s.seals,
            "verified": {"first_seq": first, "last_seq": last},
            "unverified_head": s.unverified_head,
            "unsealed_tail": s.unsealed_tail,
            "key_ids": s.key_ids,
        }));
    }
    write_stdout(&format!(
        "verified: {} records ({} duplicate lines), {} seals, sequences {first}..={last}\n\
         not covered: {} records before the first seal's range, {} after the last seal\n\
         keys: {}\n",
        s.records,
        s.duplicates,
        s.seals,
        s.unverified_head,
        s.unsealed_tail,
        s.key_ids.join(", ")
    ))
}

//! `audit verify`: checks an exported audit trail offline — no gap, no
//! altered record, every seal chained to the previous one and signed by one of
//! the given keys (docs/audit.md, "Tamper evidence"). The walk itself is
//! `bamf_domain::seal::verify`; this file reads the file and the keys and
//! checks Ed25519 signatures.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use bamf_domain::events::AuditSealed;
use bamf_domain::seal::{self, ExportRecord, VerifySummary};
use base64::Engine;
use clap::{Args, Subcommand};
use ring::signature::{UnparsedPublicKey, ED25519};
use serde_json::json;

use crate::output::{print_json, write_stdout};

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify an exported audit trail: names the first missing or altered record.
    #[command(after_help = "Examples:\n  \
        bamfctl audit verify --file audit.jsonl --public-key audit-seal.pub.pem\n  \
        bamfctl audit verify --file audit.jsonl --public-key old.pem --public-key new.pem --json")]
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// JSONL export: one `{"seq": N, "record": {…}}` per line, the record verbatim.
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,
    /// A seal public key (PEM, the API's `data_dir/audit-seal.pub.pem`); repeat for several.
    #[arg(long = "public-key", value_name = "PEM", required = true)]
    pub public_keys: Vec<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs an `audit` command.
pub fn run(command: AuditCommand) -> Result<()> {
    match command {
        AuditCommand::Verify(args) => {
            let summary = verify_file(&args.file, &args.public_keys)?;
            print_summary(&summary, args.json)
        }
    }
}

/// Verifies `file` against `keys`; the error names the first problem.
pub fn verify_file(file: &Path, keys: &[PathBuf]) -> Result<VerifySummary> {
    let keys = keys
        .iter()
        .map(|k| load_public_key(k))
        .collect::<Result<BTreeMap<_, _>>>()?;
    let lines = read_export(file)?;
    seal::verify(lines, |seal, digest| check_signature(&keys, seal, digest))
        .with_context(|| format!("{} does not verify", file.display()))
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

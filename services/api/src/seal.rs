//! Audit seals (docs/audit.md, "Tamper evidence"): every `audit_seal_interval`
//! this replica appends an `audit.sealed` record to `bamf.audit.audit.sealed`
//! covering the `BAMF_AUDIT` records since the previous seal, chained to it
//! and signed with an Ed25519 key kept in `data_dir`.
//!
//! One seal per interval however many replicas run: the append expects the
//! seal subject's last sequence to be the seal it read
//! (`Nats-Expected-Last-Subject-Sequence`), so of two racing replicas one wins;
//! the loser reads the winner's seal and seals again at its next tick.
//!
//! A round fixes its range when it starts: up to the stream's last sequence
//! read then (at most [`MAX_RECORDS_PER_SEAL`] records). Records arriving
//! while it works are left to the next seal, so a seal never covers a
//! sequence it did not read.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bamf_domain::events::{AuditSealed, Event};
use bamf_domain::seal::{
    self, digest_bytes, hex_digest, record_digest, Chain, GENESIS, SEAL_SUBJECT,
};
use bamf_domain::{Actor, AggregateId, Envelope};
use bamf_events::jetstream::{self, message::PublishMessage, stream::LastRawMessageErrorKind};
use bamf_events::streams::AUDIT_STREAM;
use bamf_runtime::Shutdown;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivatePkcs8KeyDer;
use tracing::{debug, info, warn};

/// The seal key's file in `data_dir` (PKCS#8 PEM, mode 0600).
pub const SEAL_KEY_FILE: &str = "audit-seal.key";
/// Its public key (SubjectPublicKeyInfo PEM), for `bamfctl audit verify`.
pub const SEAL_PUBLIC_KEY_FILE: &str = "audit-seal.pub.pem";
/// Most records one seal covers, so a seal with its record digests stays far
/// below `BAMF_AUDIT`'s 1 MiB message limit (~70 KB); a longer backlog is
/// sealed by several seals in one round.
pub const MAX_RECORDS_PER_SEAL: u64 = 1000;
/// Bound on one round (reads, signing, the append).
const ROUND_TIMEOUT: Duration = Duration::from_secs(30);
/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The signing key with what seals publish about it.
pub struct SealKey {
    pair: Ed25519KeyPair,
    /// `bamf_domain::seal::key_id` of the public key.
    pub key_id: String,
    /// SubjectPublicKeyInfo DER, base64.
    pub public_key_b64: String,
}

impl SealKey {
    /// The public key as PEM.
    pub fn public_key_pem(&self) -> String {
        pem("PUBLIC KEY", &self.public_key_b64)
    }
}

fn pem(label: &str, b64: &str) -> String {
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Loads the seal key from `data_dir`, creating it (0600, exclusively: a
/// replica sharing the directory that loses the race loads the winner's) on
/// first start. Writes the public key next to it.
pub fn load_or_create_key(data_dir: &Path) -> anyhow::Result<SealKey> {
    let path = data_dir.join(SEAL_KEY_FILE);
    let created = if path.exists() {
        false
    } else {
        create_key(&path)?
    };
    // Like the CA key: bounded, and refused when group or others can read it.
    let text = bamf_runtime::files::read_key_file(&path)?;
    let der = PrivatePkcs8KeyDer::from_pem_slice(text.as_bytes())
        .with_context(|| format!("the audit seal key {} is not PKCS#8 PEM", path.display()))?;
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.secret_pkcs8_der()).map_err(|e| {
        anyhow::anyhow!(
            "the audit seal key {} is not an Ed25519 PKCS#8 key: {e}",
            path.display()
        )
    })?;
    let raw = pair.public_key().as_ref();
    let mut spki = ED25519_SPKI_PREFIX.to_vec();
    spki.extend_from_slice(raw);
    let key = SealKey {
        key_id: seal::key_id(raw),
        public_key_b64: base64::engine::general_purpose::STANDARD.encode(&spki),
        pair,
    };
    let public = data_dir.join(SEAL_PUBLIC_KEY_FILE);
    if std::fs::read_to_string(&public).ok().as_deref() != Some(&key.public_key_pem()) {
        write_public(&public, &key.public_key_pem())?;
    }
    if created {
        info!(key = %path.display(), key_id = %key.key_id, "audit seal key created");
    }
    Ok(key)
}

/// Creates the key file exclusively; `false` when another process did first.
fn create_key(path: &Path) -> anyhow::Result<bool> {
    let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| anyhow::anyhow!("cannot generate the audit seal key"))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(document.as_ref());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(pem("PRIVATE KEY", &b64).as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write the audit seal key {}", path.display()))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "cannot create the audit seal key {}",
            path.display()
        ))),
    }
}

/// Writes the public key through a temporary file, so a reader never sees half.
fn write_public(path: &PathBuf, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("cannot write the audit seal public key {}", path.display()))
}

/// What one sealing attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Round {
    /// A seal was appended at `seq`, covering `first..=last`.
    Sealed { seq: u64, first: u64, last: u64 },
    /// Nothing but the previous seal since the previous seal.
    NothingNew,
    /// Another replica appended a seal first (at `winner`).
    LostRace { winner: u64 },
}

/// The chain head: the last seal's sequence and data (none before the first).
async fn last_seal(
    stream: &jetstream::stream::Stream,
) -> anyhow::Result<Option<(u64, AuditSealed)>> {
    match stream.get_last_raw_message_by_subject(SEAL_SUBJECT).await {
        Ok(m) => match Envelope::decode(&m.payload) {
            Ok(Envelope {
                event: Event::AuditSealed(s),
                ..
            }) => Ok(Some((m.sequence, s))),
            Ok(_) => anyhow::bail!("record {} on {SEAL_SUBJECT} is not a seal", m.sequence),
            Err(e) => Err(anyhow::Error::new(e).context(format!(
                "the last seal (sequence {}) does not decode",
                m.sequence
            ))),
        },
        Err(e) if matches!(e.kind(), LastRawMessageErrorKind::NoMessageFound) => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context("cannot read the last audit seal")),
    }
}

/// One seal, if there is anything to seal: see the module doc.
pub async fn seal_once(js: &jetstream::Context, key: &SealKey) -> anyhow::Result<Round> {
    let mut stream = js
        .get_stream(AUDIT_STREAM)
        .await
        .context("cannot open BAMF_AUDIT")?;
    let prev = last_seal(&stream).await?;
    let state = stream
        .info()
        .await
        .context("cannot read BAMF_AUDIT's state")?
        .state
        .clone();
    let (prev_seq, prev_digest, mut first) = match &prev {
        Some((seq, s)) => (*seq, digest_bytes(&s.digest), s.last_seq + 1),
        None => (0, GENESIS, state.first_sequence),
    };
    if first < state.first_sequence {
        // Records aged out (audit_max_age) before they were sealed.
        warn!(
            from = first,
            to = state.first_sequence - 1,
            "audit records expired before they were sealed"
        );
        first = state.first_sequence;
    }
    // The range is fixed now; later arrivals wait for the next seal.
    let end = state.last_sequence;
    if end < first || (prev.is_some() && end == prev_seq) {
        return Ok(Round::NothingNew);
    }
    let last = end.min(first + MAX_RECORDS_PER_SEAL - 1);
    let mut chain = Chain::new(&prev_digest);
    let mut digests = Vec::with_capacity((last - first + 1) as usize);
    for seq in first..=last {
        let m = stream
            .get_raw_message(seq)
            .await
            .with_context(|| format!("cannot read BAMF_AUDIT record {seq}"))?;
        chain.push(&m.payload);
        digests.push(record_digest(&m.payload));
    }
    let digest = chain.finish();
    let signature = key.pair.sign(&digest);
    let data = AuditSealed {
        first_seq: first,
        last_seq: last,
        record_count: last - first + 1,
        digest: hex_digest(&digest),
        prev_seal_seq: prev_seq,
        prev_digest: hex_digest(&prev_digest),
        record_digests: digests,
        algorithm: seal::ALGORITHM.to_string(),
        key_id: key.key_id.clone(),
        public_key: key.public_key_b64.clone(),
        signature: base64::engine::general_purpose::STANDARD.encode(signature.as_ref()),
    };
    let id = ulid::Ulid::new();
    let envelope = Envelope::new(
        id,
        crate::app::now(),
        Actor::system(),
        AggregateId::from_ulid(id),
        Event::AuditSealed(data),
    );
    let payload = envelope.encode().context("cannot encode the seal")?;
    let publish = PublishMessage::build()
        .payload(payload.into())
        .message_id(id.to_string())
        .expected_stream(AUDIT_STREAM)
        .expected_last_subject_sequence(prev_seq);
    let acked = match js.send_publish(SEAL_SUBJECT, publish).await {
        Ok(pending) => pending.await,
        Err(e) => Err(e),
    };
    match acked {
        Ok(ack) => Ok(Round::Sealed {
            seq: ack.sequence,
            first,
            last,
        }),
        Err(e) if is_wrong_last_sequence(&e) => {
            let winner = last_seal(&stream).await?.map_or(0, |(seq, _)| seq);
            Ok(Round::LostRace { winner })
        }
        Err(e) => Err(anyhow::Error::new(e).context("cannot append the audit seal")),
    }
}

/// Whether the server refused the append because another seal came first.
fn is_wrong_last_sequence(e: &jetstream::context::PublishError) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<jetstream::Error>())
        .is_some_and(|err| err.error_code() == jetstream::ErrorCode::STREAM_WRONG_LAST_SEQUENCE)
}

/// Seals every `interval` until shutdown. A round that fails is logged and
/// retried at the next tick (the chain resumes from the last seal appended).
pub async fn run(
    js: jetstream::Context,
    key: Arc<SealKey>,
    interval: Duration,
    shutdown: Shutdown,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick is immediate: seal one interval after start
    loop {
        tokio::select! {
            _ = shutdown.triggered() => return,
            _ = ticker.tick() => {}
        }
        let round = async {
            // A backlog larger than one seal is sealed in several, each with
            // its own fixed range, until a seal is not full.
            loop {
                match seal_once(&js, &key).await? {
                    Round::Sealed { seq, first, last } => {
                        info!(seal = seq, first, last, "audit records sealed");
                        if last - first + 1 < MAX_RECORDS_PER_SEAL {
                            return anyhow::Ok(());
                        }
                    }
                    Round::NothingNew => {
                        debug!("nothing new to seal");
                        return Ok(());
                    }
                    Round::LostRace { winner } => {
                        debug!(winner, "another replica sealed first");
                        return Ok(());
                    }
                }
            }
        };
        tokio::select! {
            _ = shutdown.triggered() => return,
            outcome = tokio::time::timeout(ROUND_TIMEOUT, round) => match outcome {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!(error = format!("{e:#}"), "audit seal round failed; retrying at the next tick"),
                Err(_) => warn!(timeout = ?ROUND_TIMEOUT, "audit seal round timed out; retrying at the next tick"),
            },
        }
    }
}

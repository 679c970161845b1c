//! Verification of an exported audit trail, given/when/then and without I/O:
//! records and seals are built here; the signature is a stand-in checked by
//! the closure `verify` is given (real Ed25519 is the tests/ suite's job).

use bamf_domain::events::{examples, AuditSealed, Event};
use bamf_domain::seal::{
    self, digest_bytes, export_line, hex_digest, parse_line, record_digest, Chain, ExportRecord,
    VerifyError, GENESIS,
};
use bamf_domain::{Actor, AggregateId, Envelope, Timestamp};

fn envelope(n: u64, event: Event) -> Vec<u8> {
    Envelope::new(
        ulid::Ulid::from_parts(1_790_000_000_000 + n, u128::from(n)),
        Timestamp::from_unix_micros(1_790_000_000_000_000),
        Actor::system(),
        AggregateId::from_ulid(ulid::Ulid::from_parts(1, u128::from(n))),
        event,
    )
    .encode()
    .unwrap()
}

/// A stream being written: records and seals with consecutive sequences.
#[derive(Default)]
struct Stream {
    records: Vec<ExportRecord>,
    last_seal: Option<(u64, AuditSealed)>,
}

impl Stream {
    fn push(&mut self, payload: Vec<u8>) {
        let seq = self.records.len() as u64 + 1;
        self.records.push(ExportRecord { seq, payload });
    }

    fn records(&mut self, n: usize) {
        let events = examples();
        for i in 0..n {
            let seq = self.records.len() as u64 + 1;
            let event = events[i % 25].clone(); // domain events and audit-only, not seals
            self.push(envelope(seq, event));
        }
    }

    /// Seals everything since the previous seal, like the API does.
    fn seal(&mut self) {
        let (prev_seq, prev_digest, first) = match &self.last_seal {
            Some((seq, s)) => (*seq, digest_bytes(&s.digest), s.last_seq + 1),
            None => (0, GENESIS, 1),
        };
        let last = self.records.len() as u64;
        let mut chain = Chain::new(&prev_digest);
        let mut digests = Vec::new();
        for r in &self.records[(first - 1) as usize..] {
            chain.push(&r.payload);
            digests.push(record_digest(&r.payload));
        }
        let digest = hex_digest(&chain.finish());
        let seal = AuditSealed {
            first_seq: first,
            last_seq: last,
            record_count: last - first + 1,
            signature: format!("sig:{}", digest.as_str()),
            digest,
            prev_seal_seq: prev_seq,
            prev_digest: hex_digest(&prev_digest),
            record_digests: digests,
            algorithm: "ed25519".into(),
            key_id: "testkey000000000".into(),
            public_key: String::new(),
        };
        self.push(envelope(last + 1, Event::AuditSealed(seal.clone())));
        self.last_seal = Some((last + 1, seal));
    }

    /// The export, through the line format.
    fn export(&self) -> Vec<ExportRecord> {
        self.records
            .iter()
            .map(|r| parse_line(&export_line(r.seq, &r.payload)).unwrap())
            .collect()
    }
}

fn stand_in_signature(seal: &AuditSealed, digest: &[u8; 32]) -> Result<(), String> {
    if seal.signature == format!("sig:{}", hex_digest(digest).as_str()) {
        Ok(())
    } else {
        Err("stand-in signature differs".into())
    }
}

fn given_two_seals() -> Stream {
    let mut s = Stream::default();
    s.records(5); // 1..=5
    s.seal(); // 6
    s.records(4); // 7..=10
    s.seal(); // 11
    s.records(2); // 12..=13, not sealed yet
    s
}

#[test]
fn an_intact_export_verifies_with_a_summary() {
    let s = given_two_seals();
    let summary = seal::verify(s.export(), stand_in_signature).unwrap();
    assert_eq!(summary.records, 13);
    assert_eq!(summary.seals, 2);
    assert_eq!(summary.verified, Some((1, 10)));
    assert_eq!((summary.unverified_head, summary.unsealed_tail), (0, 3));
}

#[test]
fn identical_duplicates_are_counted_conflicting_ones_refused() {
    let s = given_two_seals();
    let mut lines = s.export();
    lines.insert(3, lines[2].clone());
    assert_eq!(
        seal::verify(lines.clone(), stand_in_signature)
            .unwrap()
            .duplicates,
        1
    );
    lines[3].payload[10] ^= 1;
    assert_eq!(
        seal::verify(lines, stand_in_signature).unwrap_err(),
        VerifyError::ConflictingDuplicate { seq: 3 }
    );
}

#[test]
fn an_altered_record_is_named_by_its_sequence() {
    let s = given_two_seals();
    let mut lines = s.export();
    let text = String::from_utf8(lines[7].payload.clone()).unwrap();
    lines[7].payload = text.replacen("bamf", "bamg", 1).into_bytes(); // sequence 8
    match seal::verify(lines, stand_in_signature).unwrap_err() {
        VerifyError::Altered { seq, seal_seq, .. } => assert_eq!((seq, seal_seq), (8, 11)),
        other => panic!("{other}"),
    }
}

#[test]
fn a_removed_record_is_named_as_a_gap() {
    let s = given_two_seals();
    let mut lines = s.export();
    lines.remove(3); // sequence 4
    assert_eq!(
        seal::verify(lines, stand_in_signature).unwrap_err(),
        VerifyError::Gap {
            missing: 4,
            before: 3,
            after: 5
        }
    );
}

#[test]
fn a_removed_and_renumbered_record_breaks_the_chain() {
    let s = given_two_seals();
    let mut lines = s.export();
    lines.remove(3);
    for r in lines.iter_mut().skip(3) {
        r.seq -= 1;
    }
    assert!(seal::verify(lines, stand_in_signature).is_err());
}

#[test]
fn a_forged_signature_and_a_broken_link_are_refused() {
    let mut s = given_two_seals();
    s.records(1);
    let export = s.export();
    let mut sig = export.clone();
    let seal_text = String::from_utf8(sig[10].payload.clone()).unwrap();
    sig[10].payload = seal_text.replace("\"sig:", "\"forged:").into_bytes();
    // The altered seal (11) is checked by its own signature before anything covers it.
    assert!(matches!(
        seal::verify(sig, stand_in_signature).unwrap_err(),
        VerifyError::BadSignature { seal_seq: 11, .. }
    ));
    let none_sign = |_: &AuditSealed, _: &[u8; 32]| Err::<(), _>("unknown key".to_string());
    assert!(matches!(
        seal::verify(export, none_sign).unwrap_err(),
        VerifyError::BadSignature { seal_seq: 6, .. }
    ));
}

#[test]
fn an_export_starting_inside_a_seal_verifies_from_the_next_seal() {
    let s = given_two_seals();
    let lines: Vec<_> = s.export().into_iter().skip(3).collect(); // from sequence 4
    let summary = seal::verify(lines, stand_in_signature).unwrap();
    assert_eq!(summary.seals, 1);
    assert_eq!(summary.verified, Some((6, 10))); // seal 11 covers seal 6 and 7..=10
    assert_eq!(summary.unverified_head, 2);
}

#[test]
fn an_export_without_a_seal_is_not_a_success() {
    let mut s = Stream::default();
    s.records(3);
    assert_eq!(
        seal::verify(s.export(), stand_in_signature).unwrap_err(),
        VerifyError::NothingSealed
    );
}

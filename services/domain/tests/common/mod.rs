//! Fixtures shared by the decision tests: deterministic ids, digests, instants.
#![allow(dead_code)]

use bamf_domain::events::Sha256Hex;
use bamf_domain::{AggregateId, Timestamp};

pub fn id(n: u64) -> AggregateId {
    AggregateId::from_ulid(ulid::Ulid::from_parts(1_700_000_000_000 + n, u128::from(n)))
}

pub fn digest(n: u8) -> Sha256Hex {
    Sha256Hex::new(format!("{n:02x}").repeat(32)).unwrap()
}

/// `secs` seconds after a fixed epoch.
pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix_micros(1_790_000_000_000_000 + secs * 1_000_000)
}

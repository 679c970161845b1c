//! The control-plane projection every API replica keeps in memory: users and
//! their logins, roles and role bindings, join tokens and agents — the state
//! every command is decided over and every authenticated request is checked
//! against. It also records, per aggregate, the stream sequence of its last
//! event, which is what an append's optimistic-concurrency guard expects
//! (ARCHITECTURE §2 "decide, then append").
//!
//! Deterministic: expired and revoked logins are pruned using event time, not
//! the clock, so a cold replay and a snapshot restart reach the same digest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::Duration;

use super::agents::Agents;
use super::bindings::Assignments;
use super::decider::Decider;
use super::join_token::{JoinToken, JoinTokenDecider};
use super::login::{LoginDecider, Logins};
use crate::events::{Event, Sha256Hex};
use crate::{AggregateId, Envelope, Projection, Timestamp};

/// Aggregates whose guard spans the whole kind (`bamf.evt.<kind>.>`): user
/// e-mails are unique across users.
pub const KIND_GUARDED: &[&str] = &["user"];

/// How often (in events) the fold forgets logins that ended before the
/// current event's time.
const PRUNE_EVERY: u64 = 4_096;
/// A login is forgotten this long after it expired or was revoked, so a
/// token presented just after its end still reads as expired, not unknown.
const PRUNE_AFTER: Duration = Duration::hours(1);

/// The control-plane state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlView {
    /// Users and login sessions.
    pub logins: Logins,
    /// Roles and role bindings.
    pub assignments: Assignments,
    /// Join tokens by id.
    pub join_tokens: BTreeMap<AggregateId, JoinToken>,
    /// Join token id by digest (how a presented token is found).
    pub join_token_digests: BTreeMap<Sha256Hex, AggregateId>,
    /// Agents, deleted ones kept as tombstones.
    pub agents: Agents,
    /// Stream sequence of each aggregate's last event (`"<kind>.<id>"`), and
    /// of each kind-guarded kind's last event (`"<kind>"`). Logins are not
    /// tracked: they are created once and revocation is idempotent.
    pub last_seq: BTreeMap<String, u64>,
    /// Events folded.
    pub events: u64,
}

impl ControlView {
    /// The sequence an append to `(kind, id)` must expect: the aggregate's
    /// last event, or the kind's last event for kind-guarded aggregates.
    /// 0 means "no events yet".
    pub fn expected_seq(&self, kind: &str, id: &AggregateId) -> u64 {
        let key = if KIND_GUARDED.contains(&kind) {
            kind.to_string()
        } else {
            format!("{kind}.{}", id.as_str())
        };
        self.last_seq.get(&key).copied().unwrap_or(0)
    }

    /// The join token a presented digest belongs to.
    pub fn join_token_by_digest(&self, digest: &Sha256Hex) -> Option<(&AggregateId, &JoinToken)> {
        let id = self.join_token_digests.get(digest)?;
        self.join_tokens.get(id).map(|t| (id, t))
    }

    /// Folds one event (with its stream sequence).
    pub fn fold(&mut self, seq: u64, id: &AggregateId, event: &Event, time: Timestamp) {
        self.events += 1;
        let kind = event.aggregate();
        if kind != "login" {
            if KIND_GUARDED.contains(&kind) {
                self.last_seq.insert(kind.to_string(), seq);
            }
            self.last_seq.insert(format!("{kind}.{}", id.as_str()), seq);
        }
        LoginDecider::evolve(&mut self.logins, id, event);
        self.assignments.apply(id, event);
        self.agents.apply(id, event);
        if kind == "join_token" {
            if let Event::JoinTokenCreated(e) = event {
                self.join_token_digests
                    .insert(e.token_digest.clone(), id.clone());
            }
            let token = self.join_tokens.entry(id.clone()).or_default();
            JoinTokenDecider::evolve(token, id, event);
        }
        if self.events.is_multiple_of(PRUNE_EVERY) {
            self.logins.prune(Timestamp::new(time.get() - PRUNE_AFTER));
        }
    }
}

impl Projection for ControlView {
    const NAME: &'static str = "control";

    fn apply(&mut self, seq: u64, envelope: &Envelope) {
        self.fold(seq, &envelope.aggregate_id, &envelope.event, envelope.time);
    }
}

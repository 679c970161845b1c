//! Pairing client and agent by session id (ARCHITECTURE §4 step 3), as a pure
//! state machine: time is a parameter, connections are an opaque type, so the
//! rules are tested without sockets (the quinn-proto habit).
//!
//! Rules:
//! - the first side to arrive is held until the other arrives, at most `hold`;
//! - a second connection for a side that is already held or paired is refused
//!   (first wins), and so is any connection for a finished session id;
//! - a session ends (finished) when its pairing times out or it closes; its id
//!   is remembered for `remember_finished` — longer than a session certificate
//!   can be used to connect — so it is never paired again;
//! - at most `max_pending` sessions wait at once (the rest are refused).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bamf_tunnel::CloseCode;

/// Which end of the tunnel a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    Client,
    Agent,
}

/// Limits of the pairing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingLimits {
    /// How long the first side waits for the other.
    pub hold: Duration,
    /// How long a finished session id is refused.
    pub remember_finished: Duration,
    /// Most sessions waiting for their other side.
    pub max_pending: usize,
    /// Most finished ids remembered (oldest forgotten first beyond this).
    pub max_finished: usize,
}

impl Default for PairingLimits {
    fn default() -> Self {
        PairingLimits {
            hold: Duration::from_secs(30),
            remember_finished: Duration::from_secs(10 * 60),
            max_pending: 10_000,
            max_finished: 1_000_000,
        }
    }
}

/// The outcome of a connection's arrival.
#[derive(Debug, PartialEq, Eq)]
pub enum Arrival<C> {
    /// First side: held until the other arrives or the hold runs out.
    Held,
    /// Second side: here is the first one's connection; splice them.
    Paired { other: C },
    /// Refused; close the connection with this code.
    Refused(CloseCode),
}

#[derive(Debug)]
enum Slot<C> {
    Waiting { end: End, conn: C, until: Instant },
    Paired,
}

/// The pairing table of one bridge.
#[derive(Debug)]
pub struct Pairings<C> {
    limits: PairingLimits,
    sessions: HashMap<String, Slot<C>>,
    /// Waiting sessions by deadline, for [`Pairings::expire`].
    deadlines: BTreeMap<(Instant, String), ()>,
    finished: HashMap<String, Instant>,
    finished_order: VecDeque<(Instant, String)>,
}

impl<C> Pairings<C> {
    /// An empty table.
    pub fn new(limits: PairingLimits) -> Self {
        Pairings {
            limits,
            sessions: HashMap::new(),
            deadlines: BTreeMap::new(),
            finished: HashMap::new(),
            finished_order: VecDeque::new(),
        }
    }

    /// A connection for `session` on `end` arrived at `now`.
    pub fn arrive(&mut self, session: &str, end: End, conn: C, now: Instant) -> Arrival<C> {
        self.forget_finished(now);
        if self.finished.contains_key(session) {
            return Arrival::Refused(CloseCode::SessionFinished);
        }
        match self.sessions.remove(session) {
            None => {
                if self.pending() >= self.limits.max_pending {
                    return Arrival::Refused(CloseCode::LimitReached);
                }
                let until = now + self.limits.hold;
                self.deadlines.insert((until, session.to_string()), ());
                self.sessions
                    .insert(session.to_string(), Slot::Waiting { end, conn, until });
                Arrival::Held
            }
            Some(Slot::Waiting {
                end: held,
                conn: other,
                until,
            }) if held != end => {
                self.deadlines.remove(&(until, session.to_string()));
                self.sessions.insert(session.to_string(), Slot::Paired);
                Arrival::Paired { other }
            }
            Some(slot) => {
                // Same side again, or already paired: first wins.
                self.sessions.insert(session.to_string(), slot);
                Arrival::Refused(CloseCode::DuplicateSide)
            }
        }
    }

    /// Sessions whose first side waited past the hold at `now`: they are
    /// finished, and their held connections are returned to be closed with
    /// [`CloseCode::PairingTimeout`].
    pub fn expire(&mut self, now: Instant) -> Vec<(String, C)> {
        let mut expired = Vec::new();
        while let Some(((until, _), ())) = self.deadlines.first_key_value() {
            if *until > now {
                break;
            }
            let ((_, session), ()) = self.deadlines.pop_first().expect("checked non-empty");
            if let Some(Slot::Waiting { conn, .. }) = self.sessions.remove(&session) {
                self.mark_finished(&session, now);
                expired.push((session, conn));
            }
        }
        expired
    }

    /// When the next held session times out, if any (for the expiry timer).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.keys().next().map(|(until, _)| *until)
    }

    /// A session ended (a side closed, it was killed, or the held side left):
    /// its id is finished. Returns the held connection if it was still waiting.
    pub fn finish(&mut self, session: &str, now: Instant) -> Option<C> {
        let held = match self.sessions.remove(session) {
            Some(Slot::Waiting { conn, until, .. }) => {
                self.deadlines.remove(&(until, session.to_string()));
                Some(conn)
            }
            _ => None,
        };
        self.mark_finished(session, now);
        held
    }

    /// Sessions waiting for their other side.
    pub fn pending(&self) -> usize {
        self.deadlines.len()
    }

    /// Sessions paired and not yet finished.
    pub fn paired(&self) -> usize {
        self.sessions.len() - self.deadlines.len()
    }

    /// Whether `session` is finished (refused on arrival).
    pub fn is_finished(&self, session: &str) -> bool {
        self.finished.contains_key(session)
    }

    fn mark_finished(&mut self, session: &str, now: Instant) {
        if self.finished.insert(session.to_string(), now).is_none() {
            self.finished_order.push_back((now, session.to_string()));
        }
        while self.finished_order.len() > self.limits.max_finished {
            if let Some((_, old)) = self.finished_order.pop_front() {
                self.finished.remove(&old);
            }
        }
    }

    fn forget_finished(&mut self, now: Instant) {
        while let Some((at, _)) = self.finished_order.front() {
            if now.duration_since(*at) < self.limits.remember_finished {
                break;
            }
            let (_, old) = self.finished_order.pop_front().expect("checked non-empty");
            self.finished.remove(&old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> (Pairings<u32>, Instant) {
        (Pairings::new(PairingLimits::default()), Instant::now())
    }

    #[test]
    fn the_second_side_pairs_with_the_first() {
        let (mut p, t) = table();
        assert_eq!(p.arrive("s1", End::Client, 1, t), Arrival::Held);
        assert_eq!(p.pending(), 1);
        assert_eq!(
            p.arrive("s1", End::Agent, 2, t),
            Arrival::Paired { other: 1 }
        );
        assert_eq!((p.pending(), p.paired()), (0, 1));
        assert!(
            p.expire(t + Duration::from_secs(3600)).is_empty(),
            "paired sessions never expire"
        );
    }

    #[test]
    fn first_wins_for_each_side_and_after_pairing() {
        let (mut p, t) = table();
        p.arrive("s1", End::Agent, 1, t);
        assert_eq!(
            p.arrive("s1", End::Agent, 2, t),
            Arrival::Refused(CloseCode::DuplicateSide)
        );
        assert_eq!(
            p.arrive("s1", End::Client, 3, t),
            Arrival::Paired { other: 1 }
        );
        assert_eq!(
            p.arrive("s1", End::Client, 4, t),
            Arrival::Refused(CloseCode::DuplicateSide)
        );
        assert_eq!(
            p.arrive("s1", End::Agent, 5, t),
            Arrival::Refused(CloseCode::DuplicateSide)
        );
    }

    #[test]
    fn a_held_side_times_out_and_the_id_is_finished() {
        let (mut p, t) = table();
        p.arrive("s1", End::Client, 1, t);
        assert_eq!(p.next_deadline(), Some(t + Duration::from_secs(30)));
        assert!(p.expire(t + Duration::from_secs(29)).is_empty());
        assert_eq!(
            p.expire(t + Duration::from_secs(30)),
            vec![("s1".to_string(), 1)]
        );
        let later = t + Duration::from_secs(31);
        assert_eq!(
            p.arrive("s1", End::Agent, 2, later),
            Arrival::Refused(CloseCode::SessionFinished)
        );
    }

    #[test]
    fn a_closed_session_is_never_paired_again_until_forgotten() {
        let (mut p, t) = table();
        p.arrive("s1", End::Client, 1, t);
        p.arrive("s1", End::Agent, 2, t);
        assert_eq!(p.finish("s1", t), None);
        assert_eq!(
            p.arrive("s1", End::Client, 3, t),
            Arrival::Refused(CloseCode::SessionFinished)
        );
        // Long after any certificate for it expired, the id is forgotten.
        let much_later = t + Duration::from_secs(11 * 60);
        assert_eq!(p.arrive("s1", End::Client, 4, much_later), Arrival::Held);
    }

    #[test]
    fn a_held_side_that_leaves_finishes_the_session() {
        let (mut p, t) = table();
        p.arrive("s1", End::Client, 1, t);
        assert_eq!(p.finish("s1", t), Some(1));
        assert_eq!(p.pending(), 0);
        assert!(p.expire(t + Duration::from_secs(60)).is_empty());
        assert!(p.is_finished("s1"));
    }

    #[test]
    fn pending_sessions_are_bounded() {
        let limits = PairingLimits {
            max_pending: 2,
            ..PairingLimits::default()
        };
        let mut p = Pairings::new(limits);
        let t = Instant::now();
        p.arrive("a", End::Client, 1, t);
        p.arrive("b", End::Client, 2, t);
        assert_eq!(
            p.arrive("c", End::Client, 3, t),
            Arrival::Refused(CloseCode::LimitReached)
        );
        // Pairing an existing one is still fine.
        assert_eq!(
            p.arrive("a", End::Agent, 4, t),
            Arrival::Paired { other: 1 }
        );
    }

    #[test]
    fn finished_ids_are_bounded() {
        let limits = PairingLimits {
            max_finished: 3,
            ..PairingLimits::default()
        };
        let mut p: Pairings<u32> = Pairings::new(limits);
        let t = Instant::now();
        for s in ["a", "b", "c", "d"] {
            p.finish(s, t);
        }
        assert!(!p.is_finished("a"), "oldest forgotten beyond the bound");
        assert!(p.is_finished("d"));
    }
}

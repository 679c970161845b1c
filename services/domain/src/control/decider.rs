//! The decider shape every control-plane aggregate follows (fmodel-rust style):
//! `decide(&state, &command) -> Result<Vec<Emitted>, Rejection>` and
//! `evolve(&mut state, aggregate_id, &event)`, both pure.
//!
//! [`given`] is the given/when/then harness the tests use; it is public so the
//! API crate can state its own scenarios the same way.

use crate::events::Event;
use crate::AggregateId;

/// One event a decision produced, with the aggregate it is appended to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    pub aggregate_id: AggregateId,
    pub event: Event,
}

impl Emitted {
    /// Pairs an event with its aggregate id.
    pub fn new(aggregate_id: AggregateId, event: Event) -> Self {
        Emitted {
            aggregate_id,
            event,
        }
    }
}

/// A pure decider: state folded from events, commands decided over it.
pub trait Decider {
    /// The folded state; `Default` is "no events yet".
    type State: Default;
    /// What a caller asks for; time, ids and digests are fields of it.
    type Command;
    /// Why a command was refused (nothing is appended).
    type Rejection: std::fmt::Debug;

    /// Decides which events a command produces; an empty list means "already so".
    fn decide(
        state: &Self::State,
        command: &Self::Command,
    ) -> Result<Vec<Emitted>, Self::Rejection>;

    /// Folds one event in; events of other aggregates are ignored.
    fn evolve(state: &mut Self::State, aggregate_id: &AggregateId, event: &Event);

    /// Folds a history from the initial state.
    fn fold<'a>(events: impl IntoIterator<Item = &'a (AggregateId, Event)>) -> Self::State {
        let mut state = Self::State::default();
        for (id, event) in events {
            Self::evolve(&mut state, id, event);
        }
        state
    }
}

/// Starts a scenario: the history the state is folded from.
pub fn given<D: Decider>(history: Vec<(AggregateId, Event)>) -> Given<D> {
    Given {
        state: D::fold(&history),
    }
}

/// A scenario with its folded state.
pub struct Given<D: Decider> {
    state: D::State,
}

impl<D: Decider> Given<D> {
    /// The command under test.
    pub fn when(self, command: D::Command) -> Then<D> {
        let outcome = D::decide(&self.state, &command);
        Then {
            state: self.state,
            outcome,
        }
    }
}

/// The outcome of a scenario, to be checked.
pub struct Then<D: Decider> {
    state: D::State,
    outcome: Result<Vec<Emitted>, D::Rejection>,
}

impl<D: Decider> Then<D> {
    /// Asserts the decision emitted exactly these events (any aggregates).
    #[track_caller]
    pub fn then(self, expected: Vec<Event>) -> Self {
        match &self.outcome {
            Ok(emitted) => {
                let events: Vec<&Event> = emitted.iter().map(|e| &e.event).collect();
                let expected: Vec<&Event> = expected.iter().collect();
                assert_eq!(events, expected, "emitted events differ");
            }
            Err(r) => panic!("expected events, got rejection {r:?}"),
        }
        self
    }

    /// Asserts the decision emitted exactly these (aggregate, event) pairs.
    #[track_caller]
    pub fn then_emitted(self, expected: Vec<(AggregateId, Event)>) -> Self {
        let expected: Vec<Emitted> = expected
            .into_iter()
            .map(|(id, e)| Emitted::new(id, e))
            .collect();
        match &self.outcome {
            Ok(emitted) => assert_eq!(emitted, &expected, "emitted events differ"),
            Err(r) => panic!("expected events, got rejection {r:?}"),
        }
        self
    }

    /// Asserts the command was refused, and lets the caller check how
    /// (`.then_rejected(|r| matches!(r, UserRejection::NoSuchUser))`).
    #[track_caller]
    pub fn then_rejected(self, check: impl FnOnce(&D::Rejection) -> bool) -> Self {
        match &self.outcome {
            Ok(emitted) => panic!("expected a rejection, got {emitted:?}"),
            Err(r) => assert!(check(r), "unexpected rejection {r:?}"),
        }
        self
    }

    /// The state after folding the emitted events (for chained scenarios).
    pub fn state(self) -> D::State {
        let mut state = self.state;
        if let Ok(emitted) = &self.outcome {
            for e in emitted {
                D::evolve(&mut state, &e.aggregate_id, &e.event);
            }
        }
        state
    }

    /// The raw outcome.
    pub fn outcome(&self) -> &Result<Vec<Emitted>, D::Rejection> {
        &self.outcome
    }
}

//! Join tokens: single-use admits one, N-use admits N, and every refusal.

mod common;

use bamf_domain::control::join_token::{JoinTokenCommand, JoinTokenDecider, JoinTokenRejection};
use bamf_domain::control::{given, Decider};
use bamf_domain::events::*;
use bamf_domain::AggregateId;
use common::{at, digest, id};

const TOKEN: u64 = 50;

fn label() -> Label {
    Label {
        key: "env".into(),
        value: "prod".into(),
    }
}

fn created(max_uses: u32) -> Vec<(AggregateId, Event)> {
    vec![(
        id(TOKEN),
        Event::JoinTokenCreated(JoinTokenCreated {
            name: "rack-7".into(),
            token_digest: digest(7),
            max_uses,
            expires_at: at(3600),
            labels: vec![label()],
        }),
    )]
}

fn create(max_uses: u32, expires_at: i64) -> JoinTokenCommand {
    JoinTokenCommand::Create {
        token_id: id(TOKEN),
        name: "rack-7".into(),
        digest: digest(7),
        max_uses,
        expires_at: at(expires_at),
        labels: vec![label()],
        now: at(0),
    }
}

fn use_token(agent: u64, presented: u8, now: i64) -> JoinTokenCommand {
    JoinTokenCommand::Use {
        token_id: id(TOKEN),
        presented: digest(presented),
        agent_id: id(agent),
        agent_name: format!("agent-{agent}"),
        now: at(now),
    }
}

#[test]
fn create_records_only_the_digest() {
    given::<JoinTokenDecider>(vec![])
        .when(create(1, 3600))
        .then_emitted(created(1));
    given::<JoinTokenDecider>(created(1))
        .when(create(1, 3600))
        .then_rejected(|r| *r == JoinTokenRejection::TokenExists);
}

#[test]
fn create_refusals() {
    given::<JoinTokenDecider>(vec![])
        .when(create(0, 3600))
        .then_rejected(|r| *r == JoinTokenRejection::InvalidMaxUses(0));
    given::<JoinTokenDecider>(vec![])
        .when(create(1_000_000, 3600))
        .then_rejected(|r| matches!(r, JoinTokenRejection::InvalidMaxUses(_)));
    given::<JoinTokenDecider>(vec![])
        .when(create(1, 0))
        .then_rejected(|r| matches!(r, JoinTokenRejection::ExpiryInPast { .. }));
    let mut bad_name = create(1, 3600);
    let mut bad_label = create(1, 3600);
    let mut many_labels = create(1, 3600);
    if let JoinTokenCommand::Create { name, .. } = &mut bad_name {
        *name = "Rack 7".into();
    }
    if let JoinTokenCommand::Create { labels, .. } = &mut bad_label {
        labels[0].value = "pr od".into();
    }
    if let JoinTokenCommand::Create { labels, .. } = &mut many_labels {
        *labels = vec![label(); 65];
    }
    given::<JoinTokenDecider>(vec![])
        .when(bad_name)
        .then_rejected(|r| matches!(r, JoinTokenRejection::InvalidName { .. }));
    given::<JoinTokenDecider>(vec![])
        .when(bad_label)
        .then_rejected(|r| matches!(r, JoinTokenRejection::InvalidLabel { .. }));
    given::<JoinTokenDecider>(vec![])
        .when(many_labels)
        .then_rejected(|r| matches!(r, JoinTokenRejection::TooManyLabels(65)));
}

#[test]
fn a_use_emits_token_used_and_agent_joined_with_the_token_labels() {
    given::<JoinTokenDecider>(created(1))
        .when(use_token(2, 7, 10))
        .then_emitted(vec![
            (
                id(TOKEN),
                Event::JoinTokenUsed(JoinTokenUsed {
                    agent_id: id(2),
                    use_number: 1,
                }),
            ),
            (
                id(2),
                Event::AgentJoined(AgentJoined {
                    name: "agent-2".into(),
                    join_token_id: id(TOKEN),
                    labels: vec![label()],
                }),
            ),
        ]);
}

#[test]
fn a_single_use_token_admits_exactly_one_agent() {
    let state = given::<JoinTokenDecider>(created(1))
        .when(use_token(2, 7, 10))
        .state();
    // The replica that lost the optimistic-concurrency race reloads and decides again:
    assert_eq!(
        JoinTokenDecider::decide(&state, &use_token(3, 7, 11)),
        Err(JoinTokenRejection::Exhausted {
            uses: 1,
            max_uses: 1
        })
    );
}

#[test]
fn an_n_use_token_admits_n_agents() {
    let mut state = JoinTokenDecider::fold(&created(3));
    for agent in 1..=3 {
        let emitted = JoinTokenDecider::decide(&state, &use_token(agent, 7, 10)).expect("admitted");
        for e in &emitted {
            JoinTokenDecider::evolve(&mut state, &e.aggregate_id, &e.event);
        }
        assert!(
            matches!(&emitted[0].event, Event::JoinTokenUsed(u) if u.use_number == agent as u32)
        );
    }
    assert_eq!(
        JoinTokenDecider::decide(&state, &use_token(4, 7, 10)),
        Err(JoinTokenRejection::Exhausted {
            uses: 3,
            max_uses: 3
        })
    );
}

#[test]
fn use_refusals() {
    given::<JoinTokenDecider>(vec![])
        .when(use_token(2, 7, 10))
        .then_rejected(|r| *r == JoinTokenRejection::Unknown);
    given::<JoinTokenDecider>(created(1))
        .when(use_token(2, 8, 10))
        .then_rejected(|r| *r == JoinTokenRejection::DigestMismatch);
    given::<JoinTokenDecider>(created(1))
        .when(use_token(2, 7, 3600))
        .then_rejected(|r| *r == JoinTokenRejection::Expired { at: at(3600) });
    let mut revoked = created(5);
    revoked.push((
        id(TOKEN),
        Event::JoinTokenRevoked(JoinTokenRevoked {
            reason: "rotated".into(),
        }),
    ));
    given::<JoinTokenDecider>(revoked)
        .when(use_token(2, 7, 10))
        .then_rejected(|r| *r == JoinTokenRejection::Revoked);
    let mut bad_agent = use_token(2, 7, 10);
    if let JoinTokenCommand::Use { agent_name, .. } = &mut bad_agent {
        *agent_name = "../etc".into();
    }
    given::<JoinTokenDecider>(created(1))
        .when(bad_agent)
        .then_rejected(|r| matches!(r, JoinTokenRejection::InvalidAgentName { .. }));
}

#[test]
fn a_replayed_use_event_does_not_refill_the_budget() {
    let mut history = created(2);
    let used = Event::JoinTokenUsed(JoinTokenUsed {
        agent_id: id(2),
        use_number: 2,
    });
    history.push((id(TOKEN), used.clone()));
    history.push((id(TOKEN), used));
    given::<JoinTokenDecider>(history)
        .when(use_token(3, 7, 10))
        .then_rejected(|r| {
            *r == JoinTokenRejection::Exhausted {
                uses: 2,
                max_uses: 2,
            }
        });
}

#[test]
fn revoke_once() {
    let revoke = |reason: &str| JoinTokenCommand::Revoke {
        token_id: id(TOKEN),
        reason: reason.into(),
    };
    let state = given::<JoinTokenDecider>(created(1))
        .when(revoke("rotated"))
        .then(vec![Event::JoinTokenRevoked(JoinTokenRevoked {
            reason: "rotated".into(),
        })])
        .state();
    assert_eq!(
        JoinTokenDecider::decide(&state, &revoke("again")),
        Err(JoinTokenRejection::Revoked)
    );
    given::<JoinTokenDecider>(vec![])
        .when(revoke("x"))
        .then_rejected(|r| *r == JoinTokenRejection::Unknown);
    given::<JoinTokenDecider>(created(1))
        .when(revoke("a\nb"))
        .then_rejected(|r| *r == JoinTokenRejection::InvalidReason);
}

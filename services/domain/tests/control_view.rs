//! The control projection: what each aggregate's append must expect, the
//! join-token lookup by digest, and a deterministic fold (a snapshot restart
//! and a cold replay agree).

mod common;

use bamf_domain::control::login::InvalidLogin;
use bamf_domain::control::ControlView;
use bamf_domain::events::*;
use bamf_domain::{AggregateId, Projection, Timestamp};
use common::{at, digest, id};

fn user_created(email: &str) -> Event {
    Event::UserCreated(UserCreated {
        email: email.into(),
        display_name: "U".into(),
        roles: vec![],
    })
}

fn login(user: u64, email: &str, token: u8, expires: Timestamp) -> Event {
    Event::LoginSucceeded(LoginSucceeded {
        user_id: id(user),
        email: email.into(),
        provider: "local".into(),
        token_digest: digest(token),
        method: "password".into(),
        expires_at: expires,
    })
}

fn fold(view: &mut ControlView, history: &[(u64, AggregateId, Event, Timestamp)]) {
    for (seq, agg, event, time) in history {
        view.fold(*seq, agg, event, *time);
    }
}

#[test]
fn users_are_guarded_by_kind_other_aggregates_by_their_own_last_event() {
    let mut view = ControlView::default();
    assert_eq!(view.expected_seq("user", &id(1)), 0, "no user yet");
    fold(
        &mut view,
        &[
            (1, id(1), user_created("a@x.example"), at(0)),
            (
                2,
                id(9),
                Event::JoinTokenCreated(JoinTokenCreated {
                    name: "edge".into(),
                    token_digest: digest(7),
                    max_uses: 1,
                    expires_at: at(3600),
                    labels: vec![],
                }),
                at(1),
            ),
            (3, id(2), user_created("b@x.example"), at(2)),
            (4, id(5), login(1, "a@x.example", 1, at(3600)), at(3)),
        ],
    );
    // Any user's append expects the last user event (e-mail uniqueness spans users).
    assert_eq!(view.expected_seq("user", &id(1)), 3);
    assert_eq!(view.expected_seq("user", &id(77)), 3);
    // A join token: its own last event.
    assert_eq!(view.expected_seq("join_token", &id(9)), 2);
    assert_eq!(view.expected_seq("join_token", &id(8)), 0);
    // Logins are not tracked (created once; revocation is idempotent).
    assert_eq!(view.expected_seq("login", &id(5)), 0);
    let (token_id, _) = view.join_token_by_digest(&digest(7)).unwrap();
    assert_eq!(token_id, &id(9));
    assert!(view.join_token_by_digest(&digest(8)).is_none());
    assert!(view.logins.is_valid(&digest(1), at(10)).is_ok());
}

#[test]
fn disabling_a_user_ends_its_logins_in_the_view() {
    let mut view = ControlView::default();
    fold(
        &mut view,
        &[
            (1, id(1), user_created("a@x.example"), at(0)),
            (2, id(5), login(1, "a@x.example", 1, at(3600)), at(1)),
            (
                3,
                id(1),
                Event::UserDisabled(UserDisabled {
                    reason: "left".into(),
                }),
                at(2),
            ),
        ],
    );
    assert!(matches!(
        view.logins.is_valid(&digest(1), at(10)),
        Err(InvalidLogin::Revoked { .. })
    ));
}

#[test]
fn a_snapshot_restart_and_a_cold_replay_reach_the_same_digest() {
    // Enough logins to cross several prune points, most of them expiring early.
    let bind = Event::RoleBindingCreated(RoleBindingCreated {
        provider: "sso".into(),
        email: "a@x.example".into(),
        role: "audit".into(),
    });
    let mut history = vec![
        (1, id(1), user_created("a@x.example"), at(0)),
        (2, id(2), bind, at(0)),
    ];
    for n in 1..10_000u64 {
        let expires = if n % 10 == 0 {
            at(1_000_000)
        } else {
            at(n as i64 + 60)
        };
        let token = Sha256Hex::new(format!("{:064x}", n + 1)).unwrap();
        let event = Event::LoginSucceeded(LoginSucceeded {
            user_id: id(1),
            email: "a@x.example".into(),
            provider: "local".into(),
            token_digest: token,
            method: "password".into(),
            expires_at: expires,
        });
        history.push((n + 2, id(1_000 + n), event, at(n as i64 * 2)));
    }
    let mut cold = ControlView::default();
    fold(&mut cold, &history);

    let (head, tail) = history.split_at(4_321);
    let mut first = ControlView::default();
    fold(&mut first, head);
    let snapshot = serde_json::to_vec(&first).unwrap();
    let mut restarted: ControlView = serde_json::from_slice(&snapshot).unwrap();
    fold(&mut restarted, tail);

    assert_eq!(restarted.digest(), cold.digest());
    // Pruning kept memory to the logins that can still be used (or just ended).
    // (10 000 logins; 1 000 long-lived; the rest pruned but for the last stretch.)
    assert!(
        cold.logins.sessions.len() < 3_000,
        "{}",
        cold.logins.sessions.len()
    );
    assert_eq!(
        restarted.assignments.roles_of("sso", "a@x.example").len(),
        1
    );
    let long_lived = Sha256Hex::new(format!("{:064x}", 11)).unwrap(); // n = 10
    assert!(cold.logins.is_valid(&long_lived, at(20_000)).is_ok());
}

#[test]
fn an_e_mail_change_keeps_the_users_roles() {
    let mut view = ControlView::default();
    let created = Event::UserCreated(UserCreated {
        email: "a@x.example".into(),
        display_name: "A".into(),
        roles: vec!["admin".into()],
    });
    let bound = Event::RoleBindingCreated(RoleBindingCreated {
        provider: "local".into(),
        email: "a@x.example".into(),
        role: "audit".into(),
    });
    let changed = Event::UserUpdated(UserUpdated {
        email: Some("b@x.example".into()),
        display_name: None,
    });
    fold(
        &mut view,
        &[
            (1, id(1), created, at(0)),
            (2, id(2), bound, at(1)),
            (3, id(1), changed, at(2)),
        ],
    );
    let roles = view.assignments.roles_of("local", "b@x.example");
    assert!(
        roles.contains("admin") && roles.contains("audit"),
        "{roles:?}"
    );
    assert!(view.assignments.roles_of("local", "a@x.example").is_empty());
}

//! Login sessions and the failed-login throttle. No I/O, time passed in.

mod common;

use std::net::IpAddr;

use bamf_domain::control::login::{
    reasons, CredentialFailure, InvalidLogin, LoginCommand, LoginDecider, LoginRejection,
};
use bamf_domain::control::throttle::{LoginThrottle, ThrottleConfig, ThrottleKey};
use bamf_domain::control::{given, Decider};
use bamf_domain::events::*;
use bamf_domain::AggregateId;
use common::{at, digest, id};
use time::Duration;

const ALICE: u64 = 1;

fn alice() -> Vec<(AggregateId, Event)> {
    vec![(
        id(ALICE),
        Event::UserCreated(UserCreated {
            email: "alice@corp.example".into(),
            display_name: "Alice".into(),
            roles: vec![],
        }),
    )]
}

fn login(n: u64, verified: bool, token: u8) -> LoginCommand {
    LoginCommand::Login {
        login_id: id(100 + n),
        email: " Alice@corp.example".into(),
        password_verified: verified,
        token_digest: digest(token),
        now: at(0),
        ttl: Duration::hours(8),
    }
}

fn succeeded(token: u8) -> Event {
    Event::LoginSucceeded(LoginSucceeded {
        user_id: id(ALICE),
        email: "alice@corp.example".into(),
        provider: "local".into(),
        token_digest: digest(token),
        method: "password".into(),
        expires_at: at(8 * 3600),
    })
}

#[test]
fn a_verified_password_opens_a_session_that_expires() {
    let state = given::<LoginDecider>(alice())
        .when(login(1, true, 0xa1))
        .then_emitted(vec![(id(101), succeeded(0xa1))])
        .state();
    let (login_id, s) = state.is_valid(&digest(0xa1), at(60)).unwrap();
    assert_eq!((login_id, &s.user_id), (&id(101), &id(ALICE)));
    assert!(state.is_valid(&digest(0xa1), at(8 * 3600 - 1)).is_ok());
    assert_eq!(
        state.is_valid(&digest(0xa1), at(8 * 3600)).unwrap_err(),
        InvalidLogin::Expired { at: at(8 * 3600) }
    );
    assert_eq!(
        state.is_valid(&digest(0xff), at(60)).unwrap_err(),
        InvalidLogin::Unknown
    );
}

#[test]
fn unknown_users_and_wrong_passwords_look_the_same() {
    given::<LoginDecider>(vec![])
        .when(login(1, true, 1))
        .then_rejected(|r| {
            *r == LoginRejection::InvalidCredentials(CredentialFailure::UnknownUser)
        });
    given::<LoginDecider>(alice())
        .when(login(1, false, 1))
        .then_rejected(|r| {
            *r == LoginRejection::InvalidCredentials(CredentialFailure::WrongPassword)
        });
    assert_eq!(
        LoginRejection::InvalidCredentials(CredentialFailure::UnknownUser).to_string(),
        LoginRejection::InvalidCredentials(CredentialFailure::WrongPassword).to_string()
    );
}

#[test]
fn disabled_and_deleted_users_cant_log_in() {
    let mut disabled = alice();
    disabled.push((
        id(ALICE),
        Event::UserDisabled(UserDisabled {
            reason: "left".into(),
        }),
    ));
    given::<LoginDecider>(disabled.clone())
        .when(login(1, true, 1))
        .then_rejected(|r| *r == LoginRejection::UserDisabled);
    // A wrong password still reads as bad credentials: disabled status isn't leaked.
    given::<LoginDecider>(disabled)
        .when(login(1, false, 1))
        .then_rejected(|r| matches!(r, LoginRejection::InvalidCredentials(_)));
    let mut deleted = alice();
    deleted.push((id(ALICE), Event::UserDeleted(UserDeleted {})));
    given::<LoginDecider>(deleted)
        .when(login(1, true, 1))
        .then_rejected(|r| {
            *r == LoginRejection::InvalidCredentials(CredentialFailure::UnknownUser)
        });
}

#[test]
fn ttl_token_reuse_and_login_id_are_checked() {
    let bad_ttl = |ttl| LoginCommand::Login {
        login_id: id(101),
        email: "alice@corp.example".into(),
        password_verified: true,
        token_digest: digest(1),
        now: at(0),
        ttl,
    };
    for ttl in [Duration::ZERO, Duration::seconds(-5), Duration::days(31)] {
        given::<LoginDecider>(alice())
            .when(bad_ttl(ttl))
            .then_rejected(|r| *r == LoginRejection::InvalidTtl);
    }
    let mut history = alice();
    history.push((id(101), succeeded(1)));
    given::<LoginDecider>(history.clone())
        .when(login(2, true, 1))
        .then_rejected(|r| *r == LoginRejection::TokenReused);
    given::<LoginDecider>(history)
        .when(login(1, true, 2))
        .then_rejected(|r| matches!(r, LoginRejection::IdTaken(_)));
}

#[test]
fn logout_revokes_at_once_and_only_once() {
    let mut history = alice();
    history.push((id(101), succeeded(1)));
    let logout = LoginCommand::Logout {
        token_digest: digest(1),
        now: at(10),
    };
    let state = given::<LoginDecider>(history)
        .when(logout.clone())
        .then_emitted(vec![(
            id(101),
            Event::LoginRevoked(LoginRevoked {
                token_digest: digest(1),
                reason: reasons::LOGOUT.into(),
            }),
        )])
        .state();
    assert_eq!(
        state.is_valid(&digest(1), at(11)).unwrap_err(),
        InvalidLogin::Revoked {
            reason: "logout".into()
        }
    );
    assert!(matches!(
        LoginDecider::decide(&state, &logout),
        Err(LoginRejection::NotActive(InvalidLogin::Revoked { .. }))
    ));
    assert!(matches!(
        LoginDecider::decide(
            &state,
            &LoginCommand::Logout {
                token_digest: digest(9),
                now: at(10)
            }
        ),
        Err(LoginRejection::NotActive(InvalidLogin::Unknown))
    ));
}

#[test]
fn revoke_all_ends_every_live_session_of_that_email_only() {
    let mut history = alice();
    history.push((
        id(2),
        Event::UserCreated(UserCreated {
            email: "bob@corp.example".into(),
            display_name: "Bob".into(),
            roles: vec![],
        }),
    ));
    history.push((id(101), succeeded(1)));
    history.push((id(102), succeeded(2)));
    history.push((id(103), succeeded(3)));
    history.push((
        id(103),
        Event::LoginRevoked(LoginRevoked {
            token_digest: digest(3),
            reason: "logout".into(),
        }),
    ));
    let mut bob = succeeded(4);
    if let Event::LoginSucceeded(e) = &mut bob {
        e.user_id = id(2);
        e.email = "bob@corp.example".into();
    }
    history.push((id(104), bob));
    let revoked = |login: u64, token: u8| {
        (
            id(login),
            Event::LoginRevoked(LoginRevoked {
                token_digest: digest(token),
                reason: reasons::REVOKED_ALL.into(),
            }),
        )
    };
    let state = given::<LoginDecider>(history)
        .when(LoginCommand::RevokeAll {
            email: "ALICE@corp.example".into(),
            now: at(5),
        })
        .then_emitted(vec![revoked(101, 1), revoked(102, 2)])
        .state();
    assert!(state.is_valid(&digest(1), at(6)).is_err());
    assert!(state.is_valid(&digest(2), at(6)).is_err());
    assert!(
        state.is_valid(&digest(4), at(6)).is_ok(),
        "bob keeps his session"
    );
}

#[test]
fn disabling_a_user_revokes_their_sessions_in_the_fold() {
    let mut history = alice();
    history.push((id(101), succeeded(1)));
    history.push((
        id(ALICE),
        Event::UserDisabled(UserDisabled {
            reason: "left".into(),
        }),
    ));
    let state = LoginDecider::fold(&history);
    assert_eq!(
        state.is_valid(&digest(1), at(1)).unwrap_err(),
        InvalidLogin::Revoked {
            reason: reasons::USER_DISABLED.into()
        }
    );
    let mut pruned = state.clone();
    pruned.prune(at(1));
    assert!(pruned.sessions.is_empty() && pruned.by_digest.is_empty());
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, last])
}

#[test]
fn throttle_limits_per_account_with_a_sliding_window() {
    let config = ThrottleConfig {
        window: Duration::minutes(10),
        max_per_source: 100,
        max_per_account: 3,
        max_keys: 100,
    };
    let mut t = LoginThrottle::new(config);
    for (i, secs) in [0, 60, 120].into_iter().enumerate() {
        assert!(t.check(ip(i as u8), "alice@corp.example", at(secs)).is_ok());
        t.record_failure(ip(i as u8), "alice@corp.example", at(secs));
    }
    let err = t.check(ip(9), "alice@corp.example", at(180)).unwrap_err();
    assert_eq!(err.key, ThrottleKey::Account("alice@corp.example".into()));
    assert_eq!(err.retry_after, Duration::seconds(420));
    assert!(
        t.check(ip(9), "bob@corp.example", at(180)).is_ok(),
        "other accounts unaffected"
    );
    // The first failure ages out of the window.
    assert!(t.check(ip(9), "alice@corp.example", at(600)).is_ok());
    t.record_success("alice@corp.example");
    assert_eq!(t.keys().1, 0);
}

#[test]
fn throttle_limits_per_source_and_success_does_not_clear_it() {
    let config = ThrottleConfig {
        window: Duration::minutes(10),
        max_per_source: 2,
        max_per_account: 100,
        max_keys: 100,
    };
    let mut t = LoginThrottle::new(config);
    t.record_failure(ip(1), "a@corp.example", at(0));
    t.record_failure(ip(1), "b@corp.example", at(1));
    t.record_success("c@corp.example");
    let err = t.check(ip(1), "c@corp.example", at(2)).unwrap_err();
    assert_eq!(err.key, ThrottleKey::Source(ip(1)));
    assert!(t.check(ip(2), "c@corp.example", at(2)).is_ok());
}

#[test]
fn throttle_memory_is_bounded() {
    let config = ThrottleConfig {
        window: Duration::minutes(10),
        max_per_source: 5,
        max_per_account: 5,
        max_keys: 4,
    };
    let mut t = LoginThrottle::new(config);
    for i in 0..50u8 {
        for _ in 0..20 {
            t.record_failure(ip(i), &format!("u{i}@corp.example"), at(i64::from(i)));
        }
    }
    assert_eq!(t.keys(), (4, 4));
}

//! Users: given events, when a command, then events or a rejection. No I/O.

mod common;

use bamf_domain::control::identity::{DisplayNameError, EmailError};
use bamf_domain::control::users::{UserCommand, UserDecider, UserRejection};
use bamf_domain::control::{given, Decider};
use bamf_domain::events::*;
use common::id;

fn created(email: &str) -> Event {
    Event::UserCreated(UserCreated {
        email: email.into(),
        display_name: "Alice".into(),
        roles: vec![],
    })
}

fn create(n: u64, email: &str) -> UserCommand {
    UserCommand::Create {
        user_id: id(n),
        email: email.into(),
        display_name: " Alice ".into(),
        roles: vec!["everyone".into(), "dba".into(), "dba".into()],
    }
}

#[test]
fn create_normalises_email_and_name_and_dedups_roles() {
    given::<UserDecider>(vec![])
        .when(create(1, "  Alice@Corp.Example "))
        .then_emitted(vec![(
            id(1),
            Event::UserCreated(UserCreated {
                email: "alice@corp.example".into(),
                display_name: "Alice".into(),
                roles: vec!["everyone".into(), "dba".into()],
            }),
        )]);
}

#[test]
fn create_refuses_an_existing_email_in_any_case() {
    given::<UserDecider>(vec![(id(1), created("alice@corp.example"))])
        .when(create(2, "ALICE@corp.example"))
        .then_rejected(
            |r| matches!(r, UserRejection::UserExists { email } if email == "alice@corp.example"),
        );
}

#[test]
fn create_refuses_a_taken_id() {
    given::<UserDecider>(vec![(id(1), created("alice@corp.example"))])
        .when(create(1, "bob@corp.example"))
        .then_rejected(|r| matches!(r, UserRejection::IdTaken(_)));
}

#[test]
fn a_deleted_users_email_is_free_again_but_not_its_id() {
    let history = vec![
        (id(1), created("alice@corp.example")),
        (id(1), Event::UserDeleted(UserDeleted {})),
    ];
    given::<UserDecider>(history.clone())
        .when(create(2, "alice@corp.example"))
        .then(vec![Event::UserCreated(UserCreated {
            email: "alice@corp.example".into(),
            display_name: "Alice".into(),
            roles: vec!["everyone".into(), "dba".into()],
        })]);
    given::<UserDecider>(history)
        .when(create(1, "carol@corp.example"))
        .then_rejected(|r| matches!(r, UserRejection::IdTaken(_)));
}

#[test]
fn create_refuses_hostile_input_with_a_specific_reason() {
    type Check = fn(&UserRejection) -> bool;
    let cases: Vec<(UserCommand, Check)> = vec![
        (create(1, "alice\u{0}@corp.example"), |r| {
            matches!(
                r,
                UserRejection::InvalidEmail(EmailError::ControlChar { .. })
            )
        }),
        (create(1, "alice"), |r| {
            matches!(r, UserRejection::InvalidEmail(EmailError::MissingAt))
        }),
        (create(1, &format!("{}@x.example", "a".repeat(300))), |r| {
            matches!(r, UserRejection::InvalidEmail(EmailError::TooLong { .. }))
        }),
        (
            UserCommand::Create {
                user_id: id(1),
                email: "a@corp.example".into(),
                display_name: "admin\u{202e}nimda".into(),
                roles: vec![],
            },
            |r| {
                matches!(
                    r,
                    UserRejection::InvalidDisplayName(DisplayNameError::ControlChar { .. })
                )
            },
        ),
        (
            UserCommand::Create {
                user_id: id(1),
                email: "a@corp.example".into(),
                display_name: "x".repeat(200),
                roles: vec![],
            },
            |r| {
                matches!(
                    r,
                    UserRejection::InvalidDisplayName(DisplayNameError::TooLong { .. })
                )
            },
        ),
        (
            UserCommand::Create {
                user_id: id(1),
                email: "a@corp.example".into(),
                display_name: "A".into(),
                roles: vec!["Admin!".into()],
            },
            |r| matches!(r, UserRejection::InvalidRole { .. }),
        ),
    ];
    for (command, check) in cases {
        given::<UserDecider>(vec![])
            .when(command)
            .then_rejected(check);
    }
}

#[test]
fn update_records_only_what_changes() {
    let history = vec![(id(1), created("alice@corp.example"))];
    given::<UserDecider>(history.clone())
        .when(UserCommand::Update {
            user_id: id(1),
            email: Some("Alice@Corp.Example".into()),
            display_name: Some("Alice A.".into()),
        })
        .then(vec![Event::UserUpdated(UserUpdated {
            email: None,
            display_name: Some("Alice A.".into()),
        })]);
    given::<UserDecider>(history)
        .when(UserCommand::Update {
            user_id: id(1),
            email: None,
            display_name: Some("Alice".into()),
        })
        .then(vec![]);
}

#[test]
fn update_refuses_a_taken_email_and_unknown_users() {
    let history = vec![
        (id(1), created("alice@corp.example")),
        (id(2), created("bob@corp.example")),
    ];
    given::<UserDecider>(history.clone())
        .when(UserCommand::Update {
            user_id: id(2),
            email: Some("alice@corp.example".into()),
            display_name: None,
        })
        .then_rejected(|r| matches!(r, UserRejection::UserExists { .. }));
    given::<UserDecider>(history)
        .when(UserCommand::Update {
            user_id: id(9),
            email: None,
            display_name: Some("X".into()),
        })
        .then_rejected(|r| matches!(r, UserRejection::NoSuchUser));
}

#[test]
fn an_email_change_frees_the_old_one() {
    let state = given::<UserDecider>(vec![(id(1), created("alice@corp.example"))])
        .when(UserCommand::Update {
            user_id: id(1),
            email: Some("al@corp.example".into()),
            display_name: None,
        })
        .state();
    assert!(UserDecider::decide(&state, &create(2, "alice@corp.example")).is_ok());
    assert!(matches!(
        UserDecider::decide(&state, &create(2, "al@corp.example")),
        Err(UserRejection::UserExists { .. })
    ));
}

#[test]
fn disable_once_then_disabled() {
    let history = vec![(id(1), created("alice@corp.example"))];
    let disable = || UserCommand::Disable {
        user_id: id(1),
        reason: " left the company ".into(),
    };
    let state = given::<UserDecider>(history)
        .when(disable())
        .then(vec![Event::UserDisabled(UserDisabled {
            reason: "left the company".into(),
        })])
        .state();
    assert_eq!(
        UserDecider::decide(&state, &disable()),
        Err(UserRejection::Disabled)
    );
    given::<UserDecider>(vec![])
        .when(disable())
        .then_rejected(|r| matches!(r, UserRejection::NoSuchUser));
    given::<UserDecider>(vec![(id(1), created("alice@corp.example"))])
        .when(UserCommand::Disable {
            user_id: id(1),
            reason: "a\u{7}b".into(),
        })
        .then_rejected(|r| matches!(r, UserRejection::InvalidReason { .. }));
}

#[test]
fn delete_once_then_no_such_user() {
    let state = given::<UserDecider>(vec![(id(1), created("alice@corp.example"))])
        .when(UserCommand::Delete { user_id: id(1) })
        .then(vec![Event::UserDeleted(UserDeleted {})])
        .state();
    assert_eq!(
        UserDecider::decide(&state, &UserCommand::Delete { user_id: id(1) }),
        Err(UserRejection::NoSuchUser)
    );
    assert!(state.find_by_email("alice@corp.example").is_none());
}

//! Role documents (YAML/JSON), role and role-binding decisions. No I/O.

mod common;

use common::{doc, store};

use bamf_domain::control::bindings::{
    binding_id, BindingCommand, BindingDecider, BindingRejection,
};
use bamf_domain::control::labels::SyntaxError;
use bamf_domain::control::role_doc::{RoleDocError, RoleDocument, RuleError, Side};
use bamf_domain::control::roles::{RoleCommand, RoleDecider, RoleRejection};
use bamf_domain::control::{given, Decider};
use bamf_domain::events::*;
use bamf_domain::AggregateId;

const DEV: &str = "
name: dev
allow:
  labels: {env: [dev, staging]}
  names: [web-*]
  kubernetes_groups: [developers, admins]
";

#[test]
fn role_documents_are_validated_with_specific_errors() {
    let err = |yaml: &str| doc(yaml).validate().unwrap_err();
    assert!(matches!(
        err("{name: Dev}"),
        RoleDocError::InvalidName { .. }
    ));
    assert!(matches!(
        err("{name: dev, description: \"a\\u0000b\"}"),
        RoleDocError::InvalidDescription
    ));
    assert!(matches!(
        err("{name: dev, allow: {labels: {'-env': dev}}}"),
        RoleDocError::Rules {
            side: Side::Allow,
            source: RuleError::InvalidLabelKey {
                source: SyntaxError::BadEdge,
                ..
            }
        }
    ));
    assert!(matches!(
        err("{name: dev, deny: {labels: {env: 'pr od'}}}"),
        RoleDocError::Rules {
            side: Side::Deny,
            source: RuleError::InvalidLabelValue { .. }
        }
    ));
    assert!(matches!(
        err("{name: dev, allow: {labels: {env: []}}}"),
        RoleDocError::Rules {
            source: RuleError::EmptyLabelValues { .. },
            ..
        }
    ));
    assert!(matches!(
        err("{name: dev, allow: {labels: {'*': dev}}}"),
        RoleDocError::Rules {
            source: RuleError::WildcardKey,
            ..
        }
    ));
    assert!(matches!(
        err("{name: dev, allow: {names: [Web]}}"),
        RoleDocError::Rules {
            source: RuleError::InvalidNamePattern { .. },
            ..
        }
    ));
    assert!(matches!(
        err("{name: dev, allow: {kubernetes_groups: ['a b']}}"),
        RoleDocError::Rules {
            source: RuleError::InvalidKubernetesGroup { .. },
            ..
        }
    ));
    let many: Vec<String> = (0..65).map(|i| format!("n{i}")).collect();
    assert!(matches!(
        err(&format!(
            "{{name: dev, allow: {{names: [{}]}}}}",
            many.join(",")
        )),
        RoleDocError::Rules {
            source: RuleError::TooMany { count: 65, .. },
            ..
        }
    ));
    // Unknown fields are refused when parsing.
    assert!(serde_yaml::from_str::<RoleDocument>("{name: dev, alow: {}}").is_err());
    assert!(serde_yaml::from_str::<RoleDocument>("{name: dev, allow: {label: {}}}").is_err());
    assert!(serde_json::from_str::<RoleDocument>(
        r#"{"name":"dev","allow":{"labels":{"env":["a","b"]}}}"#
    )
    .is_ok());
}

#[test]
fn role_documents_round_trip_through_events() {
    let valid = doc(DEV).validate().unwrap();
    let back = RoleDocument::from_rules(&valid.name, &valid.description, &valid.allow, &valid.deny);
    assert_eq!(back.validate().unwrap(), valid);
}

#[test]
fn role_decisions() {
    let roles = store(&[DEV]);
    let decide = |c: RoleCommand| RoleDecider::decide(&roles, &c);
    assert_eq!(
        decide(RoleCommand::Create(doc(DEV))),
        Err(RoleRejection::RoleExists("dev".into()))
    );
    assert_eq!(
        decide(RoleCommand::Create(doc("{name: admin}"))),
        Err(RoleRejection::BuiltIn("admin".into()))
    );
    assert_eq!(
        decide(RoleCommand::Update(doc("{name: audit}"))),
        Err(RoleRejection::BuiltIn("audit".into()))
    );
    assert_eq!(
        decide(RoleCommand::Delete {
            name: "admin".into()
        }),
        Err(RoleRejection::BuiltIn("admin".into()))
    );
    assert_eq!(
        decide(RoleCommand::Update(doc("{name: ops}"))),
        Err(RoleRejection::NoSuchRole("ops".into()))
    );
    assert_eq!(
        decide(RoleCommand::Delete { name: "ops".into() }),
        Err(RoleRejection::NoSuchRole("ops".into()))
    );
    assert!(matches!(
        decide(RoleCommand::Create(doc("{name: 'a.b'}"))),
        Err(RoleRejection::Invalid(_))
    ));
    assert_eq!(
        decide(RoleCommand::Update(doc(DEV))),
        Ok(vec![]),
        "unchanged: nothing to append"
    );
    let state = given::<RoleDecider>(vec![])
        .when(RoleCommand::Create(doc(DEV)))
        .state();
    let after = given::<RoleDecider>(vec![])
        .when(RoleCommand::Create(doc(DEV)))
        .outcome()
        .clone()
        .unwrap();
    assert_eq!(after[0].aggregate_id.as_str(), "dev");
    let deleted = RoleDecider::decide(&state, &RoleCommand::Delete { name: "dev".into() }).unwrap();
    assert_eq!(deleted[0].event, Event::RoleDeleted(RoleDeleted {}));
}

#[test]
fn bindings_by_provider_and_email() {
    let history = vec![
        (
            common::id(1),
            Event::UserCreated(UserCreated {
                email: "alice@corp.example".into(),
                display_name: "A".into(),
                roles: vec!["audit".into()],
            }),
        ),
        (
            AggregateId::new("dev").unwrap(),
            Event::RoleCreated(RoleCreated {
                name: "dev".into(),
                description: String::new(),
                allow: RoleRules::default(),
                deny: RoleRules::default(),
            }),
        ),
    ];
    let bind = |provider: &str, email: &str, role: &str| BindingCommand::Bind {
        provider: provider.into(),
        email: email.into(),
        role: role.into(),
    };
    let state = given::<BindingDecider>(history.clone())
        .when(bind("okta", " Bob@Corp.Example", "dev"))
        .then_emitted(vec![(
            binding_id("okta", "bob@corp.example", "dev"),
            Event::RoleBindingCreated(RoleBindingCreated {
                provider: "okta".into(),
                email: "bob@corp.example".into(),
                role: "dev".into(),
            }),
        )])
        .state();
    assert_eq!(
        state.principal("okta", "bob@corp.example").roles.len(),
        2,
        "dev + everyone"
    );
    assert!(
        state.principal("local", "bob@corp.example").roles.len() == 1,
        "other provider: only everyone"
    );
    assert!(state
        .principal("local", "alice@corp.example")
        .roles
        .contains("audit"));
    let reject = |c: BindingCommand, check: fn(&BindingRejection) -> bool| {
        given::<BindingDecider>(history.clone())
            .when(c)
            .then_rejected(check);
    };
    reject(bind("local", "alice@corp.example", "audit"), |r| {
        matches!(r, BindingRejection::AlreadyBound { .. })
    });
    reject(bind("local", "alice@corp.example", "ghost"), |r| {
        matches!(r, BindingRejection::NoSuchRole(_))
    });
    reject(bind("Okta!", "a@corp.example", "dev"), |r| {
        matches!(r, BindingRejection::InvalidProvider(_))
    });
    reject(bind("okta", "nope", "dev"), |r| {
        matches!(r, BindingRejection::InvalidEmail(_))
    });
    reject(bind("okta", "a@corp.example", "DEV"), |r| {
        matches!(r, BindingRejection::InvalidRole { .. })
    });
    reject(
        BindingCommand::Unbind {
            provider: "okta".into(),
            email: "a@corp.example".into(),
            role: "dev".into(),
        },
        |r| matches!(r, BindingRejection::NotBound { .. }),
    );
    given::<BindingDecider>(history)
        .when(BindingCommand::Unbind {
            provider: "local".into(),
            email: "alice@corp.example".into(),
            role: "audit".into(),
        })
        .then(vec![Event::RoleBindingDeleted(RoleBindingDeleted {
            provider: "local".into(),
            email: "alice@corp.example".into(),
            role: "audit".into(),
        })]);
}

//! `can_view` (the allocation-free path listings use) agrees with the
//! explaining `evaluate` on generated roles, principals and resources.

use std::collections::BTreeMap;

use bamf_domain::control::rbac::{can_view, evaluate, DecisionReason, Principal, ResourceRef};
use bamf_domain::control::roles::{RoleDef, Roles, AUDIT};
use bamf_domain::events::{Label, RoleRules};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = String> {
    prop_oneof![Just("*".to_string()), "[ab]".prop_map(String::from)]
}

fn label() -> impl Strategy<Value = Label> {
    (
        prop_oneof![Just("*".to_string()), "[xyz]".prop_map(String::from)],
        value(),
    )
        .prop_map(|(key, value)| Label { key, value })
}

fn rules() -> impl Strategy<Value = RoleRules> {
    (
        prop::collection::vec(
            prop_oneof![
                Just("*".to_string()),
                "(web|db)-[12*]".prop_map(String::from)
            ],
            0..2,
        ),
        prop::collection::vec(label(), 0..4),
    )
        .prop_map(|(resource_names, labels)| RoleRules {
            resource_names,
            labels,
            kubernetes_groups: vec![],
        })
}

fn roles() -> impl Strategy<Value = Roles> {
    prop::collection::btree_map("r[0-4]", (rules(), rules()), 0..5).prop_map(|defs| Roles {
        defs: defs
            .into_iter()
            .map(|(name, (allow, deny))| {
                let def = RoleDef {
                    description: String::new(),
                    allow,
                    deny,
                };
                (name, def)
            })
            .collect(),
    })
}

fn principal() -> impl Strategy<Value = Principal> {
    prop::collection::vec(
        prop_oneof![
            Just("admin".to_string()),
            Just("audit".to_string()),
            "r[0-4]".prop_map(String::from)
        ],
        0..4,
    )
    .prop_map(|roles| Principal::new("p@x.example", roles))
}

fn resource() -> impl Strategy<Value = (String, BTreeMap<String, String>)> {
    (
        "(web|db)-[12]",
        prop::collection::btree_map("[xyz]", "[ab]", 0..3),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]
    #[test]
    fn can_view_agrees_with_evaluate(roles in roles(), principal in principal(), (name, labels) in resource()) {
        let r = ResourceRef { name: &name, labels: &labels };
        let decision = evaluate(&roles, &principal, r);
        let expected = decision.allowed
            || (principal.roles.contains(AUDIT) && !matches!(decision.reason, DecisionReason::Denied { .. }));
        prop_assert_eq!(can_view(&roles, &principal, r), expected);
    }
}

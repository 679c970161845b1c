//! Property: RBAC deny always wins, whatever the roles and their order.

mod common;

use common::{labels, store};

use bamf_domain::control::rbac::*;
use proptest::prelude::*;

/// A role that allows or denies `env=<value>` or a name pattern.
fn arb_role() -> impl Strategy<Value = (bool, bool, String)> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec!["dev", "prod", "*", "web-*", "orders-db"]),
    )
        .prop_map(|(deny, by_name, v)| (deny, by_name, v.to_string()))
}

fn role_yaml(i: usize, (deny, by_name, v): &(bool, bool, String)) -> String {
    let side = if *deny { "deny" } else { "allow" };
    let rule = if *by_name {
        format!("names: ['{v}']")
    } else {
        format!("labels: {{env: '{v}'}}")
    };
    let rule = if !*by_name && v.contains('-') {
        "labels: {env: dev}".to_string()
    } else {
        rule
    };
    format!("{{name: r{i}, {side}: {{{rule}}}}}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the roles and their order, a matching deny refuses, and the
    /// outcome doesn't depend on the order roles were granted or defined in.
    #[test]
    fn deny_always_wins_regardless_of_order(
        specs in prop::collection::vec(arb_role(), 1..8),
        admin in any::<bool>(),
        env in prop::sample::select(vec!["dev", "prod", "staging"]),
        name in prop::sample::select(vec!["web-shop", "orders-db", "wiki"]),
        seed in any::<u64>(),
    ) {
        let yamls: Vec<String> = specs.iter().enumerate().map(|(i, s)| role_yaml(i, s)).collect();
        let refs: Vec<&str> = yamls.iter().map(String::as_str).collect();
        let mut shuffled = refs.clone();
        // A deterministic shuffle of the definition order.
        let len = shuffled.len();
        for i in 0..len {
            shuffled.swap(i, (seed as usize).wrapping_add(i * 7) % len);
        }
        let (a, b) = (store(&refs), store(&shuffled));
        let mut names: Vec<String> = (0..specs.len()).map(|i| format!("r{i}")).collect();
        if admin { names.push("admin".into()); }
        let l = labels(&[("env", env)]);
        let r = ResourceRef { name, labels: &l };
        let p1 = Principal::new("p@corp.example", names.clone());
        names.reverse();
        let p2 = Principal::new("p@corp.example", names);
        let (d1, d2) = (evaluate(&a, &p1, r), evaluate(&b, &p2, r));
        prop_assert_eq!(d1.allowed, d2.allowed);
        let any_deny = a.defs.values().any(|d| rules_match(&d.deny, r).is_some());
        let any_allow = admin || a.defs.values().any(|d| rules_match(&d.allow, r).is_some());
        if any_deny {
            prop_assert!(!d1.allowed);
            let is_denied = matches!(d1.reason, DecisionReason::Denied { .. });
            prop_assert!(is_denied);
        } else {
            prop_assert_eq!(d1.allowed, any_allow);
        }
    }
}

//! RBAC evaluation: label and name rules, globs, deny wins, admin / audit /
//! everyone semantics, admin permissions. No I/O.

mod common;

use common::{labels, store};

use bamf_domain::control::rbac::*;

fn who(roles: &[&str]) -> Principal {
    Principal::new("alice@corp.example", roles.iter().map(|r| r.to_string()))
}

const DEV: &str = "
name: dev
allow:
  labels: {env: [dev, staging]}
  names: [web-*]
  kubernetes_groups: [developers, admins]
";
const NO_PROD: &str = "
name: no-prod
deny:
  labels: {env: prod}
  kubernetes_groups: [admins]
";

#[test]
fn label_and_name_rules_allow() {
    let roles = store(&[DEV]);
    let l = labels(&[("env", "staging")]);
    let d = evaluate(
        &roles,
        &who(&["dev"]),
        ResourceRef {
            name: "orders-db",
            labels: &l,
        },
    );
    assert!(d.allowed);
    assert_eq!(
        d.reason,
        DecisionReason::Allowed {
            role: "dev".into(),
            rule: MatchedRule::Labels("env=dev|staging".into())
        }
    );
    assert_eq!(d.kubernetes_groups, ["admins", "developers"]);
    let none = labels(&[]);
    let d = evaluate(
        &roles,
        &who(&["dev"]),
        ResourceRef {
            name: "web-shop",
            labels: &none,
        },
    );
    assert_eq!(
        d.reason,
        DecisionReason::Allowed {
            role: "dev".into(),
            rule: MatchedRule::Name("web-*".into())
        }
    );
    assert_eq!(d.reason.to_string(), "allowed by role dev (name web-*)");
}

#[test]
fn no_rule_means_denied_with_a_reason() {
    let roles = store(&[DEV]);
    let l = labels(&[("env", "prod")]);
    let d = evaluate(
        &roles,
        &who(&["dev"]),
        ResourceRef {
            name: "orders-db",
            labels: &l,
        },
    );
    assert!(!d.allowed);
    assert_eq!(d.reason, DecisionReason::NoRuleAllowed);
    assert_eq!(d.reason.to_string(), "no rule allowed it");
    // Glob doesn't match across a prefix; missing label key doesn't match.
    let none = labels(&[]);
    assert!(
        !evaluate(
            &roles,
            &who(&["dev"]),
            ResourceRef {
                name: "api-web-1",
                labels: &none
            }
        )
        .allowed
    );
}

#[test]
fn deny_wins_over_allow_even_for_admin() {
    let roles = store(&[DEV, NO_PROD]);
    let l = labels(&[("env", "prod")]);
    let r = ResourceRef {
        name: "web-shop",
        labels: &l,
    };
    let d = evaluate(&roles, &who(&["dev", "no-prod"]), r);
    assert!(!d.allowed);
    assert_eq!(
        d.reason,
        DecisionReason::Denied {
            role: "no-prod".into(),
            rule: MatchedRule::Labels("env=prod".into())
        }
    );
    assert!(!evaluate(&roles, &who(&["admin", "no-prod"]), r).allowed);
    let staging = labels(&[("env", "staging")]);
    let d = evaluate(
        &roles,
        &who(&["dev", "no-prod"]),
        ResourceRef {
            name: "x",
            labels: &staging,
        },
    );
    assert!(d.allowed);
    assert_eq!(
        d.kubernetes_groups,
        ["developers"],
        "denied groups are removed"
    );
}

#[test]
fn wildcards() {
    let roles = store(&[
        "{name: any-team, allow: {labels: {team: '*'}}}",
        "{name: all, allow: {labels: {'*': '*'}}}",
        "{name: all-names, allow: {names: ['*']}}",
    ]);
    let with_team = labels(&[("team", "payments")]);
    let without = labels(&[("env", "dev")]);
    assert!(
        evaluate(
            &roles,
            &who(&["any-team"]),
            ResourceRef {
                name: "a",
                labels: &with_team
            }
        )
        .allowed
    );
    assert!(
        !evaluate(
            &roles,
            &who(&["any-team"]),
            ResourceRef {
                name: "a",
                labels: &without
            }
        )
        .allowed
    );
    assert!(
        evaluate(
            &roles,
            &who(&["all"]),
            ResourceRef {
                name: "a",
                labels: &without
            }
        )
        .allowed
    );
    assert!(
        evaluate(
            &roles,
            &who(&["all-names"]),
            ResourceRef {
                name: "a",
                labels: &without
            }
        )
        .allowed
    );
}

#[test]
fn builtin_roles() {
    let roles = store(&["{name: everyone, allow: {names: [wiki]}}"]);
    let none = labels(&[]);
    let db = ResourceRef {
        name: "orders-db",
        labels: &none,
    };
    let wiki = ResourceRef {
        name: "wiki",
        labels: &none,
    };
    let admin = evaluate(&roles, &who(&["admin"]), db);
    assert_eq!(
        admin.reason,
        DecisionReason::Allowed {
            role: "admin".into(),
            rule: MatchedRule::BuiltIn
        }
    );
    assert!(
        !evaluate(&roles, &who(&["audit"]), db).allowed,
        "audit connects to nothing"
    );
    assert!(
        can_view(&roles, &who(&["audit"]), db),
        "audit sees everything"
    );
    assert!(!can_view(&roles, &who(&[]), db));
    assert!(
        evaluate(&roles, &who(&[]), wiki).allowed,
        "everyone's stored rules apply to all"
    );
    // Undefined roles grant nothing.
    assert!(!evaluate(&roles, &who(&["ghost"]), db).allowed);

    assert_eq!(
        authorize_admin(&who(&["admin"]), AdminAccess::Write),
        Ok(())
    );
    assert_eq!(authorize_admin(&who(&["audit"]), AdminAccess::Read), Ok(()));
    assert!(matches!(
        authorize_admin(&who(&["audit"]), AdminAccess::Write),
        Err(Forbidden::NeedsAdmin { .. })
    ));
    assert!(matches!(
        authorize_admin(&who(&["dev"]), AdminAccess::Read),
        Err(Forbidden::NeedsAdminOrAudit { .. })
    ));
}

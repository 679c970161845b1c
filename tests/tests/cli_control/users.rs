//! `users create|ls|get|update|disable|rm` against the real API.

use serde_json::json;

use super::bamfctl::assert_api_error;
use super::stack::{Stack, ADMIN_EMAIL};

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_manages_users() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;

    // A generated password is printed once, and works.
    let out = admin
        .run(&[
            "users",
            "create",
            "bob@corp.example",
            "--name",
            "Bob Lee",
            "--generate-password",
        ])
        .await
        .ok();
    let (head, password) = out
        .stdout
        .split_once("Password (shown only now; it cannot be retrieved later):\n\n  ")
        .unwrap_or_else(|| panic!("{out:#?}"));
    let password = password.strip_suffix('\n').unwrap().to_string();
    let bob_id = head
        .strip_prefix("Created user bob@corp.example (")
        .and_then(|s| s.strip_suffix(").\n"))
        .unwrap_or_else(|| panic!("{out:#?}"))
        .to_string();
    assert_eq!(password.len(), 24);
    let bob = stack.bamfctl();
    bob.login("bob@corp.example", &password).await;

    // --json answers the server's user; the e-mail is normalised there.
    let carol = admin
        .run_with_stdin(
            &[
                "users",
                "create",
                "Carol+Ops@Corp.Example",
                "--password-stdin",
                "--json",
            ],
            "carol password 1\n",
        )
        .await
        .ok()
        .json();
    assert_eq!(carol["email"], "carol+ops@corp.example");
    assert_eq!(carol["display_name"], "Carol+Ops");
    assert_eq!(carol["roles"], json!(["everyone"]));
    assert_eq!(carol["disabled"], false);
    assert!(carol.get("password").is_none(), "not generated: {carol}");
    let carol_id = carol["id"].as_str().unwrap();

    let err = admin
        .run(&["users", "create", "BOB@corp.example"])
        .await
        .error();
    assert_api_error(
        &err,
        "cannot create user BOB@corp.example: ",
        "conflict",
        409,
    );

    let table = admin.run(&["users", "ls"]).await.ok().table();
    assert_eq!(table[0], ["ID", "EMAIL", "NAME", "ROLES", "DISABLED"]);
    assert_eq!(table.len(), 4, "{table:?}");
    assert_eq!(table[1][1], ADMIN_EMAIL);
    assert_eq!(table[1][3], "admin,everyone");
    assert_eq!(
        table[2],
        [
            bob_id.as_str(),
            "bob@corp.example",
            "Bob Lee",
            "everyone",
            "no"
        ]
    );
    assert_eq!(
        table[3],
        [
            carol_id,
            "carol+ops@corp.example",
            "Carol+Ops",
            "everyone",
            "no"
        ]
    );
    let listed = admin.run(&["users", "ls", "--json"]).await.ok().json();
    assert_eq!(listed[2], carol);

    // get, by e-mail (with a `+` in the path) or by id.
    let got = admin
        .run(&["users", "get", "carol+ops@corp.example"])
        .await
        .ok();
    assert_eq!(
        got.stdout,
        format!(
            "Id:        {carol_id}\n\
             E-mail:    carol+ops@corp.example\n\
             Name:      Carol+Ops\n\
             Roles:     everyone\n\
             Disabled:  no\n"
        )
    );
    let got = admin.run(&["users", "get", carol_id, "--json"]).await.ok();
    assert_eq!(got.json(), carol);

    // update: name, password (from stdin), e-mail.
    let out = admin
        .run(&[
            "users",
            "update",
            "bob@corp.example",
            "--name",
            "Robert Lee",
        ])
        .await
        .ok();
    assert_eq!(
        out.stdout,
        format!("Updated user bob@corp.example ({bob_id}).\n")
    );
    admin
        .run_with_stdin(
            &["users", "update", &bob_id, "--password-stdin"],
            "a new password 456\n",
        )
        .await
        .ok();
    let err = stack
        .bamfctl()
        .run_with_stdin(
            &["login", "--email", "bob@corp.example", "--password-stdin"],
            &format!("{password}\n"),
        )
        .await
        .error();
    assert_api_error(
        &err,
        "cannot log in as bob@corp.example: ",
        "invalid_credentials",
        401,
    );
    let bob = stack.bamfctl();
    bob.login("bob@corp.example", "a new password 456").await;
    let renamed = admin
        .run(&[
            "users",
            "update",
            "bob@corp.example",
            "--email",
            "robert@corp.example",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(
        (&renamed["id"], &renamed["email"], &renamed["display_name"]),
        (
            &json!(bob_id),
            &json!("robert@corp.example"),
            &json!("Robert Lee")
        )
    );

    // disable: the user's logins end and new ones are refused.
    let out = admin
        .run(&[
            "users",
            "disable",
            "robert@corp.example",
            "--reason",
            "left",
        ])
        .await
        .ok();
    assert_eq!(
        out.stdout,
        "Disabled user robert@corp.example; their logins have ended.\n"
    );
    let err = bob.run(&["status"]).await.error();
    assert_api_error(
        &err,
        "cannot check the login: not logged in or login expired",
        "unauthenticated",
        401,
    );
    let err = stack
        .bamfctl()
        .run_with_stdin(
            &[
                "login",
                "--email",
                "robert@corp.example",
                "--password-stdin",
            ],
            "a new password 456\n",
        )
        .await
        .error();
    assert_api_error(
        &err,
        "cannot log in as robert@corp.example: user is disabled",
        "user_disabled",
        403,
    );
    let disabled = admin
        .run(&["users", "get", "robert@corp.example", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(disabled["disabled"], true);
    let err = admin
        .run(&["users", "disable", "robert@corp.example"])
        .await
        .error();
    assert_api_error(
        &err,
        "cannot disable user robert@corp.example: ",
        "conflict",
        409,
    );

    // rm, then it is gone.
    let out = admin.run(&["users", "rm", &bob_id]).await.ok();
    assert_eq!(out.stdout, format!("Deleted user {bob_id}.\n"));
    let err = admin
        .run(&["users", "get", "robert@corp.example"])
        .await
        .error();
    assert_api_error(
        &err,
        "cannot get user robert@corp.example: no such user",
        "not_found",
        404,
    );
    let emails: Vec<_> = admin.run(&["users", "ls"]).await.ok().table()[1..]
        .iter()
        .map(|r| r[1].clone())
        .collect();
    assert_eq!(emails, [ADMIN_EMAIL, "carol+ops@corp.example"]);

    // One's own account is protected.
    let err = admin.run(&["users", "rm", ADMIN_EMAIL]).await.error();
    assert_api_error(
        &err,
        &format!("cannot delete user {ADMIN_EMAIL}: "),
        "conflict",
        409,
    );
}

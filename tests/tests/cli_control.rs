//! bamfctl end to end: the real binary, as a subprocess, against the real
//! bamf-api (in-process on 127.0.0.1:0) on a real nats-server and PostgreSQL.
//! Each test has its own stack and its own bamf homes, and asserts on what
//! bamfctl printed: table rows, JSON values, error lines.
//!
//! This file: login, status, logout, logins and refusals. `cli_control/`:
//! the harness (`bamfctl.rs`, `stack.rs`) and the admin commands
//! (`users.rs`, `roles.rs`, `fleet.rs` for tokens, agents and resources).

#[path = "cli_control/bamfctl.rs"]
mod bamfctl;
#[path = "cli_control/fleet.rs"]
mod fleet;
#[path = "cli_control/roles.rs"]
mod roles;
#[path = "cli_control/stack.rs"]
mod stack;
#[path = "cli_control/users.rs"]
mod users;

use bamfctl::assert_api_error;
use stack::{Stack, ADMIN_EMAIL, ADMIN_PASSWORD};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The value of `Key:` in `status`-style output.
fn field<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key:?} in\n{out}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_is_saved_privately_shown_by_status_and_ended_by_logout() {
    let mut stack = Stack::start().await;
    let admin = stack.bamfctl();

    // A wrong password: one clear line, nothing saved.
    let wrong = admin
        .run_with_stdin(
            &["login", "--email", ADMIN_EMAIL, "--password-stdin"],
            "not the password\n",
        )
        .await
        .error();
    assert_api_error(
        &wrong,
        &format!("cannot log in as {ADMIN_EMAIL}: invalid e-mail or password"),
        "invalid_credentials",
        401,
    );
    assert!(!admin.credentials().exists());

    let login = admin.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let expires = login
        .stdout
        .strip_prefix(&format!("Logged in as {ADMIN_EMAIL} until "))
        .and_then(|s| s.strip_suffix(".\n"))
        .unwrap_or_else(|| panic!("{login:#?}"))
        .to_string();
    // The server's default login_ttl is 12 h.
    let left = OffsetDateTime::parse(&expires, &Rfc3339).unwrap() - OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::hours(11) && left <= time::Duration::hours(12),
        "{expires}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(admin.credentials())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(admin.credentials()).unwrap()).unwrap();
    assert_eq!(saved["api_url"], stack.url.as_str());
    assert_eq!(saved["email"], ADMIN_EMAIL);
    assert_eq!(saved["expires_at"], expires.as_str());
    assert_eq!(saved["token"].as_str().unwrap().len(), 43);

    let status = admin.run(&["status"]).await.ok();
    assert_eq!(field(&status.stdout, "API URL"), stack.url);
    assert_eq!(field(&status.stdout, "E-mail"), ADMIN_EMAIL);
    assert_eq!(field(&status.stdout, "Roles"), "admin, everyone");
    let shown = field(&status.stdout, "Expires");
    assert!(
        shown.starts_with(&format!("{expires} (in 11h 59m)"))
            || shown.starts_with(&format!("{expires} (in 11h 58m)")),
        "{shown}"
    );
    let who = admin.run(&["status", "--json"]).await.ok().json();
    assert_eq!(who["user"]["email"], ADMIN_EMAIL);
    assert_eq!(who["expires_at"], expires.as_str());
    let login_id = who["login_id"].as_str().unwrap().to_string();
    assert_eq!(field(&status.stdout, "Login id"), login_id);

    // The login is listed as the current one.
    let logins = admin.run(&["logins", "ls"]).await.ok().table();
    assert_eq!(
        logins,
        [
            vec!["ID", "EMAIL", "PROVIDER", "EXPIRES", "CURRENT"],
            vec![
                login_id.as_str(),
                ADMIN_EMAIL,
                "local",
                expires.as_str(),
                "*"
            ],
        ]
    );

    // A second login with --ttl 1h, then a copy of the first login's file,
    // as another terminal would have it.
    let other = stack.bamfctl();
    let short = other
        .run_with_stdin(
            &[
                "login",
                "--email",
                ADMIN_EMAIL,
                "--password-stdin",
                "--ttl",
                "1h",
            ],
            &format!("{ADMIN_PASSWORD}\n"),
        )
        .await
        .ok();
    let short_status = other.run(&["status"]).await.ok();
    assert!(
        field(&short_status.stdout, "Expires").ends_with("(in 59m)"),
        "{short:#?}\n{short_status:#?}"
    );
    let copy = stack.bamfctl();
    std::fs::copy(admin.credentials(), copy.credentials()).unwrap();
    let both = admin.run(&["logins", "ls", "--json"]).await.ok().json();
    assert_eq!(both.as_array().unwrap().len(), 2, "{both}");

    // Logout ends the login on the server and deletes the file.
    let out = admin.run(&["logout"]).await.ok();
    assert_eq!(out.stdout, format!("Logged out {ADMIN_EMAIL}.\n"));
    assert!(!admin.credentials().exists());
    let err = admin.run(&["status"]).await.error();
    assert_eq!(err, "not logged in; run `bamfctl login`");
    let err = copy.run(&["status"]).await.error();
    assert_api_error(
        &err,
        "cannot check the login: not logged in or login expired; run `bamfctl login`",
        "unauthenticated",
        401,
    );
    let out = copy.run(&["logout"]).await.ok();
    assert_eq!(
        out.stdout,
        format!("Logged out {ADMIN_EMAIL} (the server had already ended the login).\n")
    );
    assert!(!copy.credentials().exists());
    // The other login lives on.
    other.run(&["status"]).await.ok();

    // With the API gone, bamfctl says it cannot reach it and how to point elsewhere.
    stack.stop_api().await;
    let err = other.run(&["users", "ls"]).await.error();
    assert_eq!(
        err,
        format!(
            "cannot list users: cannot reach the bamf API at {}: Connection refused (os error 111); \
             check that it is running, or point bamfctl at it with --api-url or BAMF_API_URL",
            stack.url
        )
    );
    assert!(
        other.credentials().exists(),
        "a failed request keeps the login"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_without_admin_is_refused_and_logins_are_revoked() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    admin
        .run_with_stdin(
            &["users", "create", "dev@corp.example", "--password-stdin"],
            "developer pass 1\n",
        )
        .await
        .ok();
    let dev = stack.bamfctl();
    dev.login("dev@corp.example", "developer pass 1").await;
    let status = dev.run(&["status"]).await.ok();
    assert_eq!(field(&status.stdout, "Roles"), "everyone");

    // Admin commands: refused by the server with its 403, said plainly.
    for (args, action) in [
        (&["users", "ls"][..], "cannot list users"),
        (
            &["users", "create", "eve@corp.example"],
            "cannot create user eve@corp.example",
        ),
        (
            &["tokens", "create", "--name", "edge"],
            "cannot create join token edge",
        ),
        (&["agents", "ls"], "cannot list agents"),
        (&["roles", "bindings"], "cannot list bindings"),
    ] {
        let err = dev.run(args).await.error();
        assert_api_error(&err, &format!("{action}: "), "forbidden", 403);
    }
    // What a user may do: list roles and the (here empty) resources.
    let roles = dev.run(&["roles", "ls"]).await.ok().table();
    assert_eq!(roles[0], ["NAME", "BUILT-IN", "DESCRIPTION"]);
    assert_eq!(roles.len(), 4, "admin, audit, everyone: {roles:?}");
    let resources = dev.run(&["resources"]).await.ok();
    assert_eq!(resources.stdout, "NAME  TYPE  AGENT  LABELS\n");
    assert_eq!(
        dev.run(&["resources", "--json"]).await.ok().json(),
        serde_json::json!([])
    );

    // Own logins only, with or without --all; the admin sees everyone's with --all.
    let second = stack.bamfctl();
    second.login("dev@corp.example", "developer pass 1").await;
    for args in [
        &["logins", "ls", "--json"][..],
        &["logins", "ls", "--all", "--json"],
    ] {
        let listed = dev.run(args).await.ok().json();
        let emails: Vec<_> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["email"])
            .collect();
        assert_eq!(emails, ["dev@corp.example", "dev@corp.example"], "{args:?}");
        let current: Vec<_> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["current"])
            .collect();
        assert_eq!(current.iter().filter(|c| **c == true).count(), 1);
    }
    let mine = admin.run(&["logins", "ls"]).await.ok().table();
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert_eq!(mine[1][1], ADMIN_EMAIL);
    let all = admin.run(&["logins", "ls", "--all"]).await.ok().table();
    let emails: Vec<&str> = all[1..].iter().map(|r| r[1].as_str()).collect();
    assert_eq!(
        emails,
        [ADMIN_EMAIL, "dev@corp.example", "dev@corp.example"]
    );
    assert_eq!(all[1][4], "*");

    // Failed logins are throttled per account; bamfctl says when to retry, once.
    let guess = |n: usize| {
        let mallory = stack.bamfctl();
        async move {
            mallory
                .run_with_stdin(
                    &[
                        "login",
                        "--email",
                        "mallory@corp.example",
                        "--password-stdin",
                    ],
                    &format!("guess number {n}\n"),
                )
                .await
                .error()
        }
    };
    for n in 0..10 {
        let err = guess(n).await;
        assert_api_error(
            &err,
            "cannot log in as mallory@corp.example: ",
            "invalid_credentials",
            401,
        );
    }
    let err = guess(10).await;
    let (message, details) = err.split_once(" (").unwrap();
    let secs = message
        .strip_prefix("cannot log in as mallory@corp.example: too many failed logins; retry in ")
        .and_then(|s| s.strip_suffix(" s"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(secs.parse::<u64>().unwrap() > 0, "{err}");
    assert!(
        details.starts_with(&format!(
            "too_many_attempts, HTTP 429, retry after {secs} s, request id "
        )),
        "{err}"
    );

    // Not the admin's logins, though.
    let err = dev
        .run(&["logins", "revoke", "--email", ADMIN_EMAIL])
        .await
        .error();
    assert_api_error(
        &err,
        &format!("cannot revoke the logins of {ADMIN_EMAIL}: "),
        "forbidden",
        403,
    );

    // The admin ends both of dev's logins.
    let out = admin
        .run(&["logins", "revoke", "--email", "dev@corp.example"])
        .await
        .ok();
    assert_eq!(out.stdout, "Revoked 2 login(s) of dev@corp.example.\n");
    assert!(admin.credentials().exists());
    for who in [&dev, &second] {
        let err = who.run(&["status"]).await.error();
        assert_api_error(
            &err,
            "cannot check the login: not logged in or login expired",
            "unauthenticated",
            401,
        );
    }

    // Ending one's own logins drops the saved credentials too.
    dev.login("dev@corp.example", "developer pass 1").await;
    let out = dev
        .run(&["logins", "revoke", "--email", "dev@corp.example"])
        .await
        .ok();
    assert_eq!(
        out.stdout,
        "Revoked 1 login(s) of dev@corp.example.\n\
         Your own login was one of them; the saved credentials were removed.\n"
    );
    assert!(!dev.credentials().exists());
    assert_eq!(
        dev.run(&["status"]).await.error(),
        "not logged in; run `bamfctl login`"
    );

    // The audit role reads what admins read, and changes nothing.
    admin
        .run(&["roles", "bind", "dev@corp.example", "audit"])
        .await
        .ok();
    dev.login("dev@corp.example", "developer pass 1").await;
    let users = dev.run(&["users", "ls"]).await.ok().table();
    let emails: Vec<&str> = users[1..].iter().map(|r| r[1].as_str()).collect();
    assert_eq!(emails, [ADMIN_EMAIL, "dev@corp.example"]);
    assert_eq!(users[2][3], "audit,everyone");
    dev.run(&["agents", "ls"]).await.ok();
    let all = dev.run(&["logins", "ls", "--all"]).await.ok().table();
    assert_eq!(all.len(), 3, "the admin's login and dev's: {all:?}");
    let err = dev
        .run(&["users", "create", "eve@corp.example"])
        .await
        .error();
    assert_api_error(
        &err,
        "cannot create user eve@corp.example: ",
        "forbidden",
        403,
    );
}

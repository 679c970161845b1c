//! `roles create|update -f`, `get`, `ls`, `bind`, `unbind`, `bindings`, `rm`
//! against the real API, from real YAML files.

use serde_json::json;

use super::bamfctl::assert_api_error;
use super::stack::Stack;

const DBA_YAML: &str = "\
name: dba
description: database admins
allow:
  labels: {env: [dev, staging]}
  names: [orders-db]
deny:
  labels: {env: prod}
";

#[tokio::test(flavor = "multi_thread")]
async fn roles_come_from_yaml_files_and_bind_to_users() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    let files = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = files.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let dba = file("dba.yaml", DBA_YAML);

    let out = admin.run(&["roles", "create", "-f", &dba]).await.ok();
    assert_eq!(out.stdout, "Created role dba.\n");
    let err = admin.run(&["roles", "create", "-f", &dba]).await.error();
    assert_api_error(&err, "cannot create role dba: ", "conflict", 409);

    let got = admin
        .run(&["roles", "get", "dba", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(got["name"], "dba");
    assert_eq!(got["description"], "database admins");
    assert_eq!(got["built_in"], false);
    assert_eq!(got["allow"]["labels"]["env"], json!(["dev", "staging"]));
    assert_eq!(got["allow"]["names"], json!(["orders-db"]));
    assert_eq!(got["deny"]["labels"]["env"], "prod");

    // `roles get` prints a document that `roles update -f` takes back as it is.
    let yaml = admin.run(&["roles", "get", "dba"]).await.ok().stdout;
    assert!(
        yaml.starts_with("name: dba\ndescription: database admins\n"),
        "{yaml}"
    );
    let again = file("dba-again.yaml", &yaml);
    let out = admin.run(&["roles", "update", "-f", &again]).await.ok();
    assert_eq!(out.stdout, "Updated role dba.\n");
    assert_eq!(
        admin
            .run(&["roles", "get", "dba", "--json"])
            .await
            .ok()
            .json(),
        got
    );

    // A changed document replaces the role; --json prints the server's role.
    let changed = file(
        "dba-v2.yaml",
        &DBA_YAML
            .replace("database admins", "database admins (dev only)")
            .replace("[dev, staging]", "dev"),
    );
    let updated = admin
        .run(&["roles", "update", "-f", &changed, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(updated["description"], "database admins (dev only)");
    assert_eq!(updated["allow"]["labels"]["env"], "dev");

    // Built-in roles are listed, marked, and printed read-only.
    let table = admin.run(&["roles", "ls"]).await.ok().table();
    let rows: Vec<[&str; 2]> = table
        .iter()
        .map(|r| [r[0].as_str(), r[1].as_str()])
        .collect();
    assert_eq!(
        rows,
        [
            ["NAME", "BUILT-IN"],
            ["admin", "yes"],
            ["audit", "yes"],
            ["dba", "no"],
            ["everyone", "yes"],
        ]
    );
    assert_eq!(table[3][2], "database admins (dev only)");
    let yaml = admin.run(&["roles", "get", "admin"]).await.ok().stdout;
    assert!(
        yaml.starts_with("# built-in role (read-only)\nname: admin\n"),
        "{yaml}"
    );
    let err = admin
        .run(&["roles", "update", "-f", &file("admin.yaml", &yaml)])
        .await
        .error();
    assert_api_error(&err, "cannot update role admin: ", "conflict", 409);

    // Bind to a user: the user has the role, the binding is listed.
    admin
        .run(&["users", "create", "dev@corp.example"])
        .await
        .ok();
    let out = admin
        .run(&["roles", "bind", "Dev@Corp.Example", "dba"])
        .await
        .ok();
    // Said with the e-mail as the server keeps it.
    assert_eq!(out.stdout, "Bound role dba to dev@corp.example (local).\n");
    let err = admin
        .run(&["roles", "bind", "dev@corp.example", "dba"])
        .await
        .error();
    assert_api_error(
        &err,
        "cannot bind role dba to dev@corp.example: ",
        "conflict",
        409,
    );
    let user = admin
        .run(&["users", "get", "dev@corp.example", "--json"])
        .await
        .ok()
        .json();
    assert!(
        user["roles"].as_array().unwrap().contains(&json!("dba")),
        "{user}"
    );
    let bindings = admin.run(&["roles", "bindings"]).await.ok().table();
    assert_eq!(bindings[0], ["PROVIDER", "EMAIL", "ROLE"]);
    assert!(
        bindings.contains(&vec![
            "local".to_string(),
            "dev@corp.example".into(),
            "dba".into()
        ]),
        "{bindings:?}"
    );
    let listed = admin
        .run(&["roles", "bindings", "--json"])
        .await
        .ok()
        .json();
    assert!(
        listed
            .as_array()
            .unwrap()
            .contains(&json!({"provider": "local", "email": "dev@corp.example", "role": "dba"})),
        "{listed}"
    );
    let err = admin
        .run(&["roles", "bind", "dev@corp.example", "nope"])
        .await
        .error();
    assert_api_error(
        &err,
        "cannot bind role nope to dev@corp.example: no such role",
        "invalid_argument",
        400,
    );

    // Unbind, then delete the role.
    let out = admin
        .run(&["roles", "unbind", "dev@corp.example", "dba"])
        .await
        .ok();
    assert_eq!(
        out.stdout,
        "Unbound role dba from dev@corp.example (local).\n"
    );
    let listed = admin
        .run(&["roles", "bindings", "--json"])
        .await
        .ok()
        .json();
    assert!(
        !listed.to_string().contains("\"dba\""),
        "still bound: {listed}"
    );
    let err = admin
        .run(&["roles", "unbind", "dev@corp.example", "dba"])
        .await
        .error();
    assert_api_error(
        &err,
        "cannot unbind role dba from dev@corp.example: ",
        "not_found",
        404,
    );
    let out = admin.run(&["roles", "rm", "dba"]).await.ok();
    assert_eq!(out.stdout, "Deleted role dba.\n");
    let err = admin.run(&["roles", "get", "dba"]).await.error();
    assert_api_error(&err, "cannot get role dba: ", "not_found", 404);
    let err = admin.run(&["roles", "update", "-f", &dba]).await.error();
    assert_api_error(&err, "cannot update role dba: ", "not_found", 404);
}

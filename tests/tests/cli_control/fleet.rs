//! `tokens create|ls|revoke`, `agents ls|rm` and `resources` against the real
//! API, with an agent that joins through the API and heartbeats on NATS.

use std::time::Duration;

use serde_json::{json, Value};

use super::bamfctl::{assert_api_error, Bamfctl};
use super::stack::Stack;

/// How long a heartbeat may take to reach the API's catalog.
const CATALOG_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between looks at the catalog.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// `tokens create` output: (id, value); the value must appear exactly once.
fn created_token(stdout: &str, name: &str) -> (String, String) {
    let (head, value) = stdout
        .split_once("The token is shown only now; it will not be shown again:\n\n  ")
        .unwrap_or_else(|| panic!("{stdout}"));
    let value = value.strip_suffix('\n').unwrap().to_string();
    assert_eq!(value.len(), 43, "{stdout}");
    assert_eq!(stdout.matches(&value).count(), 1, "{stdout}");
    let id = head
        .strip_prefix(&format!("Created join token {name} ("))
        .and_then(|s| s.split_once("), expires "))
        .unwrap_or_else(|| panic!("{stdout}"))
        .0
        .to_string();
    (id, value)
}

/// Runs `resources --json` until it lists `n` resources.
async fn wait_for_resources(admin: &Bamfctl, n: usize) -> Value {
    let deadline = tokio::time::Instant::now() + CATALOG_TIMEOUT;
    loop {
        let listed = admin.run(&["resources", "--json"]).await.ok().json();
        if listed.as_array().unwrap().len() == n {
            return listed;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not {n} resources within {CATALOG_TIMEOUT:?}: {listed}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

fn names(listed: &Value) -> Vec<&str> {
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_admit_agents_whose_resources_are_listed_and_filtered() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;

    let out = admin
        .run(&[
            "tokens",
            "create",
            "--name",
            "edge",
            "--ttl",
            "10m",
            "--uses",
            "2",
            "--label",
            "site=berlin",
        ])
        .await
        .ok();
    let (token_id, value) = created_token(&out.stdout, "edge");
    assert!(out.stdout.contains(", uses 0/2.\n"), "{}", out.stdout);

    // Listed, but never with the value.
    let ls = admin.run(&["tokens", "ls"]).await.ok();
    assert!(!ls.stdout.contains(&value));
    let table = ls.table();
    assert_eq!(
        table[0],
        ["ID", "NAME", "EXPIRES", "USES", "LABELS", "REVOKED"]
    );
    let row = &table[1];
    assert_eq!(
        [&row[0], &row[1], &row[3], &row[4], &row[5]],
        [token_id.as_str(), "edge", "0/2", "site=berlin", "no"]
    );
    let listed = admin.run(&["tokens", "ls", "--json"]).await.ok();
    assert!(!listed.stdout.contains(&value));
    let listed = listed.json();
    assert_eq!(listed[0]["id"], token_id.as_str());
    assert_eq!(listed[0]["labels"], json!({"site": "berlin"}));

    // A second token, revoked: it admits no one.
    let spare = admin
        .run(&["tokens", "create", "--name", "spare", "--json"])
        .await
        .ok()
        .json();
    let spare_id = spare["id"].as_str().unwrap();
    let spare_value = spare["token"].as_str().unwrap();
    assert_eq!(
        (spare["max_uses"].as_u64(), spare["uses"].as_u64()),
        (Some(1), Some(0))
    );
    let out = admin.run(&["tokens", "revoke", spare_id]).await.ok();
    assert_eq!(out.stdout, format!("Revoked join token {spare_id}.\n"));
    let err = admin.run(&["tokens", "revoke", spare_id]).await.error();
    assert_api_error(
        &err,
        &format!("cannot revoke join token {spare_id}: "),
        "conflict",
        409,
    );
    let (status, _) = stack.join_agent(spare_value, "edge-0").await;
    assert_eq!(status, 401);

    // An agent joins with the first token: listed, offline, no resources yet.
    let (status, joined) = stack.join_agent(&value, "edge-1").await;
    assert_eq!(status, 201, "{joined}");
    let agent_id = joined["agent_id"].as_str().unwrap().to_string();
    let table = admin.run(&["tokens", "ls"]).await.ok().table();
    let rows: Vec<[&str; 3]> = table[1..]
        .iter()
        .map(|r| [r[1].as_str(), r[3].as_str(), r[5].as_str()])
        .collect();
    assert!(rows.contains(&["edge", "1/2", "no"]), "{table:?}");
    assert!(rows.contains(&["spare", "0/1", "yes"]), "{table:?}");
    let agents = admin.run(&["agents", "ls"]).await.ok().table();
    assert_eq!(
        agents,
        [
            vec![
                "ID",
                "NAME",
                "ONLINE",
                "LAST HEARTBEAT",
                "RESOURCES",
                "LABELS"
            ],
            vec![agent_id.as_str(), "edge-1", "no", "-", "0", "site=berlin"],
        ]
    );

    // It heartbeats three resources; the catalog lists them with the token's labels.
    stack
        .heartbeat(
            &agent_id,
            &[
                ("orders-db", "postgres", &[("env", "dev"), ("team", "db")]),
                ("billing-db", "postgres", &[("env", "prod")]),
                ("web-1", "ssh", &[("env", "dev")]),
            ],
        )
        .await;
    let listed = wait_for_resources(&admin, 3).await;
    let orders = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "orders-db")
        .unwrap();
    assert_eq!(
        orders,
        &json!({"name": "orders-db", "type": "postgres", "agent_id": agent_id, "agent_name": "edge-1",
                "labels": {"env": "dev", "site": "berlin", "team": "db"}})
    );
    let mut table = admin.run(&["resources"]).await.ok().table();
    table[1..].sort();
    assert_eq!(
        table,
        [
            ["NAME", "TYPE", "AGENT", "LABELS"],
            ["billing-db", "postgres", "edge-1", "env=prod,site=berlin"],
            [
                "orders-db",
                "postgres",
                "edge-1",
                "env=dev,site=berlin,team=db"
            ],
            ["web-1", "ssh", "edge-1", "env=dev,site=berlin"],
        ]
    );

    // Filtering by type and labels (every label must match), table and --json alike.
    let filtered = |args: &'static [&'static str]| {
        let admin = &admin;
        async move {
            let mut args = args.to_vec();
            args.insert(0, "resources");
            let table = admin.run(&args).await.ok().table();
            args.push("--json");
            let json = admin.run(&args).await.ok().json();
            let mut from_table: Vec<String> = table[1..].iter().map(|r| r[0].clone()).collect();
            let mut from_json: Vec<String> = names(&json).iter().map(|n| n.to_string()).collect();
            from_table.sort();
            from_json.sort();
            assert_eq!(from_table, from_json, "{args:?}");
            from_json
        }
    };
    assert_eq!(
        filtered(&["--type", "postgres"]).await,
        ["billing-db", "orders-db"]
    );
    assert_eq!(
        filtered(&["--label", "env=dev"]).await,
        ["orders-db", "web-1"]
    );
    assert_eq!(
        filtered(&["--type", "postgres", "--label", "env=dev"]).await,
        ["orders-db"]
    );
    assert_eq!(
        filtered(&["--label", "site=berlin", "--label", "team=db"]).await,
        ["orders-db"]
    );
    assert!(filtered(&["--label", "env=staging"]).await.is_empty());
    assert!(filtered(&["--type", "mysql"]).await.is_empty());

    // The agent is online with three resources.
    let agents = admin.run(&["agents", "ls", "--json"]).await.ok().json();
    assert_eq!(agents[0]["id"], agent_id.as_str());
    assert_eq!(agents[0]["online"], true);
    assert_eq!(agents[0]["resources"], 3);
    let row = &admin.run(&["agents", "ls"]).await.ok().table()[1];
    assert_eq!([&row[2], &row[4]], ["yes", "3"]);
    assert_eq!(&row[3], agents[0]["last_heartbeat"].as_str().unwrap());

    // Removed: not listed, its resources gone, a second removal refused.
    let out = admin.run(&["agents", "rm", &agent_id]).await.ok();
    assert_eq!(out.stdout, format!("Removed agent {agent_id}.\n"));
    assert_eq!(
        admin.run(&["agents", "ls"]).await.ok().stdout,
        "ID  NAME  ONLINE  LAST HEARTBEAT  RESOURCES  LABELS\n"
    );
    assert_eq!(
        admin.run(&["resources", "--json"]).await.ok().json(),
        json!([])
    );
    let err = admin.run(&["agents", "rm", &agent_id]).await.error();
    assert_api_error(
        &err,
        &format!("cannot remove agent {agent_id}: "),
        "not_found",
        404,
    );
}

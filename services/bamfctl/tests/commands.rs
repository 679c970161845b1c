//! bamfctl's commands against a stub of the API (tests/stub_api): the requests
//! follow docs/api.md, the answers print as tables or `--json`, error answers
//! show message, code, status and request id, and the login is saved and
//! dropped as it should be.

mod stub_api;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use bamfctl::credentials::{Credentials, Store};
use serde_json::json;
use stub_api::{Reply, StubApi};

const BIN: &str = env!("CARGO_BIN_EXE_bamfctl");
const TOKEN: &str = "test-token";

fn bamfctl(home: &Path, api: &StubApi, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .env("BAMF_HOME", home)
        .env_remove("BAMF_API_URL")
        .arg("--api-url")
        .arg(&api.url)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A logged-in bamf home for `api`.
fn logged_in(api: &StubApi) -> (tempfile::TempDir, Store) {
    let home = tempfile::tempdir().unwrap();
    let store = Store::new(home.path());
    store
        .save(&Credentials {
            api_url: api.url.clone(),
            token: TOKEN.into(),
            email: "ada@example.com".into(),
            expires_at: "2999-01-01T00:00:00Z".into(),
        })
        .unwrap();
    (home, store)
}

fn user(id: &str, email: &str, roles: &[&str]) -> serde_json::Value {
    json!({"id": id, "email": email, "display_name": null, "roles": roles, "disabled": false, "mfa": "ignored"})
}

#[test]
fn login_posts_the_documented_body_and_saves_a_private_credentials_file() {
    let api = StubApi::start(vec![Reply::json(
        200,
        json!({"token": "tok-1", "expires_at": "2999-01-01T00:00:00Z",
               "user": user("u1", "ada@example.com", &["admin"]), "unknown": true}),
    )]);
    let home = tempfile::tempdir().unwrap();
    let out = bamfctl(
        home.path(),
        &api,
        &[
            "login",
            "--email",
            "Ada@Example.com",
            "--password-stdin",
            "--ttl",
            "1h",
        ],
        "correct horse\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Logged in as ada@example.com until 2999-01-01T00:00:00Z.\n"
    );
    let req = api.request();
    assert_eq!(
        (req.method.as_str(), req.target.as_str()),
        ("POST", "/api/v1/auth/local/login")
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("authorization"), None);
    assert_eq!(
        req.json(),
        json!({"email": "Ada@Example.com", "password": "correct horse", "ttl": "1h"})
    );
    let creds = Store::new(home.path()).load().unwrap().unwrap();
    assert_eq!(
        (creds.token.as_str(), creds.api_url.as_str()),
        ("tok-1", api.url.as_str())
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.path().join("credentials.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_wrong_password_shows_the_servers_message_and_saves_nothing() {
    let api = StubApi::start(vec![Reply::error(
        401,
        "invalid_credentials",
        "wrong e-mail or password",
        "req-7",
    )]);
    let home = tempfile::tempdir().unwrap();
    let out = bamfctl(
        home.path(),
        &api,
        &["login", "--email", "a@x.test", "--password-stdin"],
        "nope\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: cannot log in as a@x.test: wrong e-mail or password (invalid_credentials, HTTP 401, request id req-7)\n"
    );
    assert!(!home.path().join("credentials.json").exists());
}

#[test]
fn an_error_answer_shows_message_code_status_and_request_id() {
    let api = StubApi::start(vec![Reply::error(403, "forbidden", "admin only", "req-42")]);
    let (home, _) = logged_in(&api);
    let out = bamfctl(home.path(), &api, &["users", "ls"], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: cannot list users: admin only (forbidden, HTTP 403, request id req-42)\n"
    );
    let req = api.request();
    assert_eq!(req.target, "/api/v1/users");
    assert_eq!(req.header("authorization"), Some("Bearer test-token"));
}

#[test]
fn a_dead_token_says_to_log_in_again() {
    let api = StubApi::start(vec![Reply::error(
        401,
        "unauthenticated",
        "token revoked",
        "req-9",
    )]);
    let (home, _) = logged_in(&api);
    let out = bamfctl(home.path(), &api, &["status"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not logged in or login expired; run `bamfctl login` (unauthenticated, HTTP 401, request id req-9)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn status_shows_email_roles_expiry_and_url() {
    let api = StubApi::start(vec![Reply::json(
        200,
        json!({"user": user("u1", "ada@example.com", &["admin", "audit"]), "login_id": "l1",
               "expires_at": "2999-01-01T00:00:00Z"}),
    )]);
    let (home, _) = logged_in(&api);
    let out = bamfctl(home.path(), &api, &["status"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for want in [
        format!("API URL:   {}", api.url),
        "E-mail:    ada@example.com".into(),
        "Roles:     admin, audit".into(),
        "Expires:   2999-01-01T00:00:00Z (in ".into(),
    ] {
        assert!(text.contains(&want), "{want:?} not in\n{text}");
    }
    assert_eq!(api.request().target, "/api/v1/auth/whoami");
}

#[test]
fn logout_ends_the_login_and_deletes_the_file_even_when_the_server_forgot_it() {
    for reply in [
        Reply::no_content(),
        Reply::error(401, "unauthenticated", "unknown token", "r"),
    ] {
        let api = StubApi::start(vec![reply]);
        let (home, store) = logged_in(&api);
        let out = bamfctl(home.path(), &api, &["logout"], "");
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).starts_with("Logged out ada@example.com"));
        let req = api.request();
        assert_eq!(
            (req.method.as_str(), req.target.as_str()),
            ("POST", "/api/v1/auth/logout")
        );
        assert_eq!(req.header("authorization"), Some("Bearer test-token"));
        assert!(!store.path().exists());
    }
}

#[test]
fn users_ls_prints_a_table_or_the_servers_array() {
    let users = json!({"users": [user("u1", "ada@example.com", &["admin"]), user("u22", "bob@example.com", &[])]});
    let api = StubApi::start(vec![
        Reply::json(200, users.clone()),
        Reply::json(200, users.clone()),
    ]);
    let (home, _) = logged_in(&api);
    let out = bamfctl(home.path(), &api, &["users", "ls"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "ID   EMAIL            NAME  ROLES  DISABLED\n\
         u1   ada@example.com  -     admin  no\n\
         u22  bob@example.com  -     -      no\n"
    );
    let out = bamfctl(home.path(), &api, &["users", "ls", "--json"], "");
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, users["users"]);
}

#[test]
fn users_get_by_email_encodes_the_path() {
    let api = StubApi::start(vec![Reply::json(200, user("u1", "a+b@example.com", &[]))]);
    let (home, _) = logged_in(&api);
    let out = bamfctl(
        home.path(),
        &api,
        &["users", "get", "a+b@example.com", "--json"],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(api.request().target, "/api/v1/users/a+b@example.com");
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["id"], "u1");
}

#[test]
fn users_create_sends_roles_and_a_generated_password_shown_once() {
    let api = StubApi::start(vec![Reply::json(
        201,
        user("u3", "bob@example.com", &["dev"]),
    )]);
    let (home, _) = logged_in(&api);
    let out = bamfctl(
        home.path(),
        &api,
        &[
            "users",
            "create",
            "bob@example.com",
            "--name",
            "Bob",
            "--role",
            "dev",
            "--generate-password",
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let body = api.request().json();
    let password = body["password"].as_str().unwrap().to_string();
    assert_eq!(password.len(), 24);
    assert_eq!(
        body,
        json!({"email": "bob@example.com", "display_name": "Bob", "password": password, "roles": ["dev"]})
    );
    assert!(stdout(&out).contains("shown only now"));
    assert!(stdout(&out).contains(&password));
}

#[test]
fn resources_are_filtered_by_type_and_every_label() {
    let resources = json!({"resources": [
        {"name": "orders-db", "type": "postgres", "labels": {"env": "dev", "team": "a"}, "agent_id": "a1", "agent_name": "edge-1"},
        {"name": "billing-db", "type": "postgres", "labels": {"env": "prod"}, "agent_id": "a1", "agent_name": "edge-1"},
        {"name": "web-1", "type": "ssh", "labels": {"env": "dev"}, "agent_id": "a2", "agent_name": "edge-2"}
    ]});
    let api = StubApi::start(vec![
        Reply::json(200, resources.clone()),
        Reply::json(200, resources),
    ]);
    let (home, _) = logged_in(&api);
    let out = bamfctl(
        home.path(),
        &api,
        &["resources", "--type", "postgres", "--label", "env=dev"],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "NAME       TYPE      AGENT   LABELS\norders-db  postgres  edge-1  env=dev,team=a\n"
    );
    let out = bamfctl(
        home.path(),
        &api,
        &["resources", "--label", "env=dev", "--json"],
        "",
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<_> = printed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(names, [json!("orders-db"), json!("web-1")]);
}

#[test]
fn tokens_create_prints_the_value_once_with_a_warning() {
    let api = StubApi::start(vec![Reply::json(
        201,
        json!({"id": "t1", "name": "edge-1", "expires_at": "2999-01-01T01:00:00Z", "max_uses": 1,
               "uses": 0, "labels": {"env": "dev"}, "revoked": false, "token": "join-secret"}),
    )]);
    let (home, _) = logged_in(&api);
    let out = bamfctl(
        home.path(),
        &api,
        &[
            "tokens", "create", "--name", "edge-1", "--ttl", "1h", "--uses", "1", "--label",
            "env=dev",
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        api.request().json(),
        json!({"name": "edge-1", "ttl": "1h", "max_uses": 1, "labels": {"env": "dev"}})
    );
    let text = stdout(&out);
    assert!(text.contains("will not be shown again"), "{text}");
    assert_eq!(text.matches("join-secret").count(), 1, "{text}");
}

#[test]
fn role_bindings_use_the_documented_body_and_query() {
    let api = StubApi::start(vec![
        Reply::json(
            201,
            json!({"provider": "local", "email": "bob@example.com", "role": "dba"}),
        ),
        Reply::no_content(),
    ]);
    let (home, _) = logged_in(&api);
    let out = bamfctl(
        home.path(),
        &api,
        &["roles", "bind", "bob@example.com", "dba"],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let req = api.request();
    assert_eq!(
        (req.method.as_str(), req.target.as_str()),
        ("POST", "/api/v1/role-bindings")
    );
    assert_eq!(
        req.json(),
        json!({"provider": "local", "email": "bob@example.com", "role": "dba"})
    );
    let out = bamfctl(
        home.path(),
        &api,
        &["roles", "unbind", "bob@example.com", "dba"],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let req = api.request();
    assert_eq!(req.method, "DELETE");
    assert_eq!(
        req.target,
        "/api/v1/role-bindings?provider=local&email=bob%40example.com&role=dba"
    );
}

#[test]
fn roles_create_sends_the_file_as_json() {
    let api = StubApi::start(vec![Reply::json(
        201,
        json!({"name": "dba", "built_in": false}),
    )]);
    let (home, _) = logged_in(&api);
    let file = home.path().join("dba.yaml");
    std::fs::write(
        &file,
        "name: dba\nallow:\n  labels: {env: [dev, staging]}\n",
    )
    .unwrap();
    let out = bamfctl(
        home.path(),
        &api,
        &["roles", "create", "-f", file.to_str().unwrap()],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Created role dba.\n");
    assert_eq!(
        api.request().json(),
        json!({"name": "dba", "description": "", "allow": {"labels": {"env": ["dev", "staging"]}}, "deny": {}})
    );
}

#[test]
fn revoking_your_own_logins_drops_the_saved_credentials() {
    let api = StubApi::start(vec![Reply::json(200, json!({"revoked": 2}))]);
    let (home, store) = logged_in(&api);
    let out = bamfctl(
        home.path(),
        &api,
        &["logins", "revoke", "--email", "ada@example.com"],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("Revoked 2 login(s) of ada@example.com.\n"));
    let req = api.request();
    assert_eq!(req.method, "DELETE");
    assert_eq!(req.target, "/api/v1/auth/sessions?email=ada%40example.com");
    assert!(!store.path().exists());
}

#[test]
fn logins_ls_shows_your_own_unless_all() {
    let sessions = json!({"sessions": [
        {"id": "l1", "user_id": "u1", "email": "ada@example.com", "provider": "local", "expires_at": "2999-01-01T00:00:00Z", "current": true},
        {"id": "l2", "user_id": "u2", "email": "bob@example.com", "provider": "local", "expires_at": "2999-01-01T00:00:00Z", "current": false}
    ]});
    let api = StubApi::start(vec![
        Reply::json(200, sessions.clone()),
        Reply::json(200, sessions),
    ]);
    let (home, _) = logged_in(&api);
    let out = bamfctl(home.path(), &api, &["logins", "ls"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "ID  EMAIL            PROVIDER  EXPIRES               CURRENT\n\
         l1  ada@example.com  local     2999-01-01T00:00:00Z  *\n"
    );
    let out = bamfctl(home.path(), &api, &["logins", "ls", "--all", "--json"], "");
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed.as_array().unwrap().len(), 2);
}

/// The https path end to end: rustls with the ring provider, roots from
/// `SSL_CERT_FILE` (here a self-signed certificate for localhost).
#[test]
fn https_works_with_the_ring_provider_and_the_system_roots() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let api = StubApi::start_tls(
        vec![Reply::json(
            200,
            json!({"token": "tok-tls", "expires_at": "2999-01-01T00:00:00Z",
                   "user": user("u1", "ada@example.com", &[])}),
        )],
        std::sync::Arc::new(tls),
    );
    let home = tempfile::tempdir().unwrap();
    let roots = home.path().join("roots.pem");
    std::fs::write(&roots, cert.cert.pem()).unwrap();
    let mut child = Command::new(BIN)
        .env("BAMF_HOME", home.path())
        .env("SSL_CERT_FILE", &roots)
        .env_remove("SSL_CERT_DIR")
        .args([
            "--api-url",
            &api.url,
            "login",
            "--email",
            "ada@example.com",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"pw\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("plain http"));
    assert_eq!(api.request().target, "/api/v1/auth/local/login");
    let creds = Store::new(home.path()).load().unwrap().unwrap();
    assert_eq!(creds.token, "tok-tls");
}

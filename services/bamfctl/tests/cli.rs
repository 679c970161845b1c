//! The bamfctl binary without a server: help, usage errors (exit 2), the API
//! URL precedence, the credentials file's permissions, and what a user sees
//! when the API cannot be reached (exit 1).

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use bamfctl::credentials::{Credentials, Store};

const BIN: &str = env!("CARGO_BIN_EXE_bamfctl");

/// bamfctl with its own empty bamf home and no BAMF_API_URL from the caller's environment.
fn bamfctl(home: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("BAMF_HOME", home)
        .env_remove("BAMF_API_URL")
        .stdin(Stdio::null());
    cmd
}

/// Runs with `input` on stdin.
fn run_with_stdin(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `N` distinct local URLs nothing listens on: bind port 0 (all at once, so
/// the ports differ), note the ports, close the listeners.
fn closed_urls<const N: usize>() -> [String; N] {
    let listeners: Vec<_> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| {
        format!(
            "http://127.0.0.1:{}",
            listeners[i].local_addr().unwrap().port()
        )
    })
}

fn closed_url() -> String {
    let [url] = closed_urls();
    url
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn save_login(home: &Path, api_url: &str) -> Store {
    let store = Store::new(home);
    store
        .save(&Credentials {
            api_url: api_url.into(),
            token: "test-token".into(),
            email: "ada@example.com".into(),
            expires_at: "2999-01-01T00:00:00Z".into(),
        })
        .unwrap();
    store
}

#[test]
fn version_prints_the_package_version() {
    let out = Command::new(BIN).arg("version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("bamfctl {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_names_the_api_url_flag_and_its_variable() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--api-url"), "{help}");
    assert!(help.contains("BAMF_API_URL"), "{help}");
    assert!(help.contains("version"), "{help}");
}

#[test]
fn no_command_is_a_usage_error() {
    let out = Command::new(BIN).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn subcommand_help_describes_the_command_with_an_example() {
    for args in [
        &["users", "create", "--help"][..],
        &["roles", "bind", "--help"],
        &["tokens", "create", "--help"],
        &["resources", "--help"],
        &["logins", "--help"],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("Example"), "{args:?}: {help}");
        assert!(help.contains("bamfctl "), "{args:?}: {help}");
    }
}

#[test]
fn usage_errors_exit_2_before_touching_anything() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["users"][..],
        &["users", "update", "u1"],
        &[
            "users",
            "create",
            "a@x.test",
            "--password-stdin",
            "--generate-password",
        ],
        &["tokens", "create"],
        &["tokens", "create", "--name", "t", "--label", "novalue"],
        &["tokens", "create", "--name", "t", "--uses", "0"],
        &["resources", "--label", "=x"],
        &["login", "--password-stdin"],
        &["roles", "create"],
        &["logins", "revoke"],
        &["frobnicate"],
    ] {
        let out = bamfctl(home.path()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    assert!(!home.path().join("credentials.json").exists());
}

#[test]
fn a_closed_port_says_it_cannot_reach_the_api_and_how_to_point_elsewhere() {
    let home = tempfile::tempdir().unwrap();
    let url = closed_url();
    let mut cmd = bamfctl(home.path());
    cmd.args([
        "--api-url",
        &url,
        "login",
        "--email",
        "ada@example.com",
        "--password-stdin",
    ]);
    let out = run_with_stdin(cmd, "hunter2\n");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains(&format!("cannot reach the bamf API at {url}")),
        "{err}"
    );
    assert!(
        err.contains("--api-url") && err.contains("BAMF_API_URL"),
        "{err}"
    );
    assert!(!home.path().join("credentials.json").exists());
}

/// Which URL a login goes to, read from the "cannot reach" message.
fn login_target(home: &Path, flag: Option<&str>, env: Option<&str>) -> String {
    let mut cmd = bamfctl(home);
    if let Some(env) = env {
        cmd.env("BAMF_API_URL", env);
    }
    if let Some(flag) = flag {
        cmd.args(["--api-url", flag]);
    }
    cmd.args(["login", "--email", "ada@example.com", "--password-stdin"]);
    let out = run_with_stdin(cmd, "pw\n");
    assert_eq!(out.status.code(), Some(1));
    stderr(&out)
}

#[test]
fn the_api_url_comes_from_the_flag_then_the_variable_then_the_saved_login() {
    let home = tempfile::tempdir().unwrap();
    let [flag, env, saved] = closed_urls();
    save_login(home.path(), &saved);
    let target = |f, e| login_target(home.path(), f, e);
    assert!(target(Some(&flag), Some(&env)).contains(&flag));
    assert!(target(None, Some(&env)).contains(&env));
    assert!(target(None, None).contains(&saved));
}

#[test]
fn the_token_is_not_sent_to_another_api_url() {
    let home = tempfile::tempdir().unwrap();
    let [saved, other] = closed_urls();
    save_login(home.path(), &saved);
    let out = bamfctl(home.path())
        .args(["--api-url", &other, "users", "ls"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("logged in to {saved}")), "{err}");
    assert!(!err.contains("cannot reach"), "{err}");
}

#[test]
fn status_without_a_login_exits_1_and_says_how_to_log_in() {
    let home = tempfile::tempdir().unwrap();
    let out = bamfctl(home.path()).arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not logged in; run `bamfctl login`"));
}

#[cfg(unix)]
#[test]
fn a_credentials_file_others_can_read_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let store = save_login(home.path(), &closed_url());
    std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = bamfctl(home.path()).arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("chmod 600 {}", store.path().display())),
        "{err}"
    );
}

#[test]
fn a_password_prompt_without_a_terminal_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let out = bamfctl(home.path())
        .args([
            "--api-url",
            &closed_url(),
            "login",
            "--email",
            "ada@example.com",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--password-stdin"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn logout_keeps_the_credentials_when_the_api_cannot_be_reached() {
    let home = tempfile::tempdir().unwrap();
    let store = save_login(home.path(), &closed_url());
    let out = bamfctl(home.path()).arg("logout").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("kept so you can retry"),
        "{}",
        stderr(&out)
    );
    assert!(store.path().exists());
}

#[test]
fn logout_without_a_login_is_fine() {
    let home = tempfile::tempdir().unwrap();
    let out = bamfctl(home.path()).arg("logout").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Not logged in.\n");
}

#[test]
fn a_bad_role_file_is_reported_with_its_name_and_line() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("dba.yaml");
    std::fs::write(&file, "name: dba\nallow:\n  lables: {env: dev}\n").unwrap();
    let out = bamfctl(home.path())
        .args(["roles", "create", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}: ", file.display())), "{err}");
    assert!(err.contains("line 3"), "{err}");
}

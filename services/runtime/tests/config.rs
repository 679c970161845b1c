//! Config precedence (defaults < file < environment) and errors naming the key.
//!
//! Each test uses its own environment prefix, so tests running in parallel
//! never see each other's variables.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bamf_runtime::config::{load, ConfigError, Sources};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    listen: SocketAddr,
    name: String,
    #[serde(with = "bamf_runtime::duration")]
    grace: Duration,
    limits: Limits,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Limits {
    max_body: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".parse().expect("valid address"),
            name: "default".into(),
            grace: Duration::from_secs(10),
            limits: Limits::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_body: 1024 }
    }
}

fn sources<'a>(prefix: &'a str, file: Option<&'a Path>) -> Sources<'a> {
    Sources {
        env_prefix: prefix,
        env_ignore: &["url"],
        file,
    }
}

fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("temp dir is writable");
    path
}

#[test]
fn defaults_apply_without_file_or_environment() {
    let config: Config = load(&sources("BAMF_T_DEFAULTS_", None)).unwrap();
    assert_eq!(config, Config::default());
}

#[test]
fn environment_overrides_file_which_overrides_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        &dir,
        "c.toml",
        "listen = \"127.0.0.1:9000\"\nname = \"from-file\"\n[limits]\nmax_body = 5\n",
    );
    std::env::set_var("BAMF_T_PREC_NAME", "from-env");
    std::env::set_var("BAMF_T_PREC_LIMITS__MAX_BODY", "7");
    std::env::set_var("BAMF_T_PREC_GRACE", "250ms");
    let config: Config = load(&sources("BAMF_T_PREC_", Some(&path))).unwrap();
    assert_eq!(
        config.listen,
        "127.0.0.1:9000".parse().unwrap(),
        "file beats default"
    );
    assert_eq!(config.name, "from-env", "environment beats file");
    assert_eq!(config.limits.max_body, 7, "nested key through __");
    assert_eq!(config.grace, Duration::from_millis(250));
}

#[test]
fn yaml_files_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        &dir,
        "c.yaml",
        "name: yaml\ngrace: 3\nlimits:\n  max_body: 9\n",
    );
    let config: Config = load(&sources("BAMF_T_YAML_", Some(&path))).unwrap();
    assert_eq!(config.name, "yaml");
    assert_eq!(config.grace, Duration::from_secs(3));
    assert_eq!(config.limits.max_body, 9);
}

#[test]
fn a_bad_environment_value_names_the_key_and_the_variable() {
    std::env::set_var("BAMF_T_BADENV_LISTEN", "nonsense");
    let error = load::<Config>(&sources("BAMF_T_BADENV_", None)).unwrap_err();
    assert_eq!(error.key(), Some("listen"));
    assert_eq!(
        error.to_string(),
        "key \"listen\": invalid socket address syntax (from environment variable BAMF_T_BADENV_LISTEN)"
    );
}

#[test]
fn a_bad_file_value_names_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "c.toml", "[limits]\nmax_body = \"lots\"\n");
    let error = load::<Config>(&sources("BAMF_T_BADFILE_", Some(&path))).unwrap_err();
    assert_eq!(error.key(), Some("limits.max_body"));
    let text = error.to_string();
    assert!(
        text.starts_with("key \"limits.max_body\": invalid type"),
        "{text}"
    );
    assert!(text.contains(&path.display().to_string()), "{text}");
}

#[test]
fn unknown_keys_are_refused_from_file_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "c.toml", "lisen = \"127.0.0.1:1\"\n");
    let error = load::<Config>(&sources("BAMF_T_UNKFILE_", Some(&path))).unwrap_err();
    assert_eq!(error.key(), Some("lisen"));
    assert!(error
        .to_string()
        .contains("unknown key; expected one of: listen"));

    std::env::set_var("BAMF_T_UNKENV_LIMITS__MAX_BODDY", "1");
    let error = load::<Config>(&sources("BAMF_T_UNKENV_", None)).unwrap_err();
    assert_eq!(error.key(), Some("limits.max_boddy"));
    assert!(
        error
            .to_string()
            .contains("BAMF_T_UNKENV_LIMITS__MAX_BODDY"),
        "{error}"
    );
}

#[test]
fn ignored_environment_keys_are_skipped() {
    std::env::set_var("BAMF_T_IGN_URL", "http://not-ours");
    let config: Config = load(&sources("BAMF_T_IGN_", None)).unwrap();
    assert_eq!(config, Config::default());
}

#[test]
fn a_named_file_must_exist_and_have_a_known_format() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let error = load::<Config>(&sources("BAMF_T_MISSING_", Some(&missing))).unwrap_err();
    assert!(matches!(error, ConfigError::File { .. }), "{error:?}");

    let ini = file(&dir, "c.ini", "name=x\n");
    let error = load::<Config>(&sources("BAMF_T_INI_", Some(&ini))).unwrap_err();
    assert!(matches!(error, ConfigError::Format { .. }), "{error:?}");
}

#[test]
fn a_file_with_a_syntax_error_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "c.toml", "name = \n");
    let error = load::<Config>(&sources("BAMF_T_SYNTAX_", Some(&path))).unwrap_err();
    assert_eq!(error.key(), None);
    assert!(error.to_string().contains("c.toml"), "{error}");
}

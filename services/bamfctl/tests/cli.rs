//! The bamfctl binary: help, version, and the API URL flag.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bamfctl");

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

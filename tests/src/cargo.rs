//! Running cargo from inside a test, to build another package's binary.

use std::process::Command;

/// Variables cargo sets for the crate under test. Build scripts track some of
/// them (ring: `CARGO_MANIFEST_DIR`), so passing them on would make a nested
/// build see a change and rebuild dependencies.
fn per_crate(key: &str) -> bool {
    [
        "CARGO_MANIFEST_",
        "CARGO_PKG_",
        "CARGO_CRATE_",
        "CARGO_BIN_",
    ]
    .iter()
    .any(|prefix| key.starts_with(prefix))
        || matches!(
            key,
            "CARGO_TARGET_TMPDIR" | "CARGO_PRIMARY_PACKAGE" | "OUT_DIR"
        )
}

/// `cargo` (the one running this test, from `$CARGO`, else from `PATH`) in the
/// repository root, without the calling crate's own cargo variables.
pub fn command() -> Command {
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if per_crate(&key) {
            cargo.env_remove(&*key);
        }
    }
    cargo.current_dir(crate::repo_root());
    cargo
}

#[cfg(test)]
mod tests {
    use super::per_crate;

    #[test]
    fn only_the_crates_own_variables_are_dropped() {
        assert!(per_crate("CARGO_MANIFEST_DIR") && per_crate("OUT_DIR"));
        assert!(!per_crate("CARGO_HOME") && !per_crate("CARGO_TARGET_DIR"));
    }
}

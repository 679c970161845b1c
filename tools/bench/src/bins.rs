//! The workspace's program binaries of this build, for benchmarks that run a
//! program in a process of its own.

use std::path::PathBuf;

use anyhow::Context;

/// `bin` of `package`, from this build's profile and target dir. cargo builds
/// another package's binary only on request, so ask for it (a quick no-op
/// when it is fresh; a build of the program and what it needs when not).
pub fn binary(package: &str, bin: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("the benchmark knows its own path")?;
    let binary = exe.with_file_name(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    let mut cargo = bamf_testkit::cargo::command();
    cargo.args(["build", "--quiet", "-p", package, "--bin", bin]);
    if !cfg!(debug_assertions) {
        cargo.arg("--release");
    }
    println!("building {bin} (cargo build -p {package}; a no-op when fresh)");
    let status = cargo.status().context("cargo runs")?;
    anyhow::ensure!(status.success(), "cargo build -p {package} failed");
    anyhow::ensure!(
        binary.is_file(),
        "cargo built {bin}, but not at {} (another CARGO_TARGET_DIR?)",
        binary.display()
    );
    Ok(binary)
}

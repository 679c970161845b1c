//! Facts about the machine and the account the stack runs as.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// Whether this process runs as root (the owner of /proc/self is our uid).
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// The name of the account we run as, as ssh and psql see it (`id -un`
/// reads the password database; `$USER` may be unset or stale).
pub fn user_name() -> Result<String> {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .context("cannot run id -un")?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || name.is_empty() {
        bail!("id -un did not name the current account");
    }
    Ok(name)
}

/// Whether process `pid` is alive: it exists and is not a zombie waiting
/// for its parent (pg_ctl's postmaster is reparented, then reaped by init).
pub fn process_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "<pid> (<command>) <state> …": the command may hold spaces or ')'.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, None | Some("Z" | "X"))
}

/// `$HOME`, where the developer's `~/.ssh` is looked for.
pub fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
}

/// Finds `name` on `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

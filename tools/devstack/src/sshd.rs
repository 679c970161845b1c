//! The demo SSH target (resource `demo`): Debian's sshd on a loopback port,
//! with its own host key and config in `<state>/ssh/`, key authentication
//! only, for the account the stack runs as.
//!
//! Accepted keys (`authorized_keys`, rewritten at every start): the stack's
//! own `id_ed25519`, made on the first run, and the developer's
//! `~/.ssh/*.pub`, so `bamfctl ssh demo` works with the keys ssh offers by
//! default. `known_hosts` holds the host key under the resource's name (the
//! alias `bamfctl ssh` gives ssh), for a first connection without the
//! trust-on-first-use question.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::process::Command;

use crate::child::Managed;
use crate::host;

/// Debian's OpenSSH server.
pub const SSHD: &str = "/usr/sbin/sshd";
/// The resource name the agent offers it as.
pub const RESOURCE: &str = "demo";
/// How long sshd may take to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Where Debian's sshd wants its (empty) privilege-separation folder when it
/// runs as root; the openssh-server package normally makes it at boot.
const PRIVSEP_DIR: &str = "/run/sshd";

/// The files under `<state>/ssh/`.
pub struct Files {
    pub dir: PathBuf,
    pub host_key: PathBuf,
    /// The stack's client key; its `.pub` is always accepted.
    pub client_key: PathBuf,
    pub authorized_keys: PathBuf,
    pub known_hosts: PathBuf,
    pub config: PathBuf,
}

impl Files {
    pub fn new(dir: &Path) -> Self {
        Files {
            dir: dir.to_path_buf(),
            host_key: dir.join("ssh_host_ed25519_key"),
            client_key: dir.join("id_ed25519"),
            authorized_keys: dir.join("authorized_keys"),
            known_hosts: dir.join("known_hosts"),
            config: dir.join("sshd_config"),
        }
    }
}

/// The demo sshd, configured.
pub struct DemoSshd {
    pub addr: SocketAddr,
    /// The account that can log in.
    pub user: String,
    /// The developer's public keys found in `~/.ssh`.
    pub own_keys: Vec<PathBuf>,
}

/// Why the demo sshd can't run here, if it can't: the stack then goes on
/// without it.
pub fn missing() -> Option<String> {
    if !Path::new(SSHD).is_file() {
        return Some(format!(
            "{SSHD} is missing (apt-get install openssh-server)"
        ));
    }
    if host::on_path("ssh-keygen").is_none() {
        return Some("ssh-keygen is missing (apt-get install openssh-client)".into());
    }
    None
}

/// Makes the keys (first run) and writes the config, key and host files
/// for sshd on `port`.
pub async fn prepare(files: &Files, port: u16) -> Result<DemoSshd> {
    std::fs::create_dir_all(&files.dir)
        .with_context(|| format!("cannot create {}", files.dir.display()))?;
    // The client key is a secret: only its owner may read the folder.
    std::fs::set_permissions(&files.dir, std::fs::Permissions::from_mode(0o700))?;
    keygen(&files.host_key, "bamf-devstack demo host key").await?;
    keygen(&files.client_key, "bamf-devstack").await?;

    let own_keys = host::home()
        .map(|home| developer_keys(&home.join(".ssh")))
        .unwrap_or_default();
    let mut authorized = read_public(&files.client_key)?;
    for key in &own_keys {
        // A file that can't be read is skipped; sshd ignores lines it can't parse.
        if let Ok(text) = std::fs::read_to_string(key) {
            authorized.push_str(text.trim_end());
            authorized.push('\n');
        }
    }
    write_private(&files.authorized_keys, &authorized)?;
    let host_public = read_public(&files.host_key)?;
    write_private(&files.known_hosts, &format!("{RESOURCE} {host_public}"))?;

    let user = host::user_name()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    std::fs::write(&files.config, sshd_config(files, port, &user))
        .with_context(|| format!("cannot write {}", files.config.display()))?;
    if host::is_root() {
        std::fs::create_dir_all(PRIVSEP_DIR)
            .with_context(|| format!("cannot create sshd's {PRIVSEP_DIR}"))?;
    }

    Ok(DemoSshd {
        addr,
        user,
        own_keys,
    })
}

/// Starts sshd with the prepared config, logging to `log`; see [`wait_ready`].
pub fn spawn(files: &Files, log: &Path) -> Result<Managed> {
    let mut command = Command::new(SSHD);
    // -D: stay in the foreground as our child; -e: log to stderr (our log file).
    command.args(["-D", "-e", "-f"]).arg(&files.config);
    Managed::spawn("demo sshd", command, log)
}

/// Waits until sshd answers with its SSH banner.
pub async fn wait_ready(child: &mut Managed, sshd: &DemoSshd) -> Result<()> {
    child
        .wait_banner(sshd.addr, "SSH-2.0-", READY_TIMEOUT)
        .await
}

/// Makes an ed25519 key pair at `path` (no passphrase) unless there is one.
async fn keygen(path: &Path, comment: &str) -> Result<()> {
    if path.is_file() {
        return Ok(());
    }
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .output()
        .await
        .context("cannot run ssh-keygen")?;
    if !out.status.success() {
        bail!(
            "ssh-keygen failed for {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The developer's public keys: `~/.ssh/*.pub`, certificates left out.
fn developer_keys(dir: &Path) -> Vec<PathBuf> {
    let mut keys: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| {
                    let name = path.file_name().unwrap_or_default().to_string_lossy();
                    name.ends_with(".pub") && !name.ends_with("-cert.pub") && path.is_file()
                })
                .collect()
        })
        .unwrap_or_default();
    keys.sort();
    keys
}

fn read_public(key: &Path) -> Result<String> {
    let path = key.with_extension("pub");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(format!("{}\n", text.trim_end()))
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// Key auth only, for `user` only, nothing read from /etc/ssh.
fn sshd_config(files: &Files, port: u16, user: &str) -> String {
    format!(
        "# Written by bamf-devstack at every start.\n\
         ListenAddress 127.0.0.1\n\
         Port {port}\n\
         HostKey {}\n\
         AuthorizedKeysFile {}\n\
         AllowUsers {user}\n\
         PermitRootLogin prohibit-password\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         StrictModes no\n\
         PidFile none\n\
         Subsystem sftp internal-sftp\n",
        quoted(&files.host_key),
        // AuthorizedKeysFile expands %-tokens (%h, %u): a literal % is %%.
        quoted(&files.authorized_keys).replace('%', "%%"),
    )
}

/// A path as one sshd_config argument.
fn quoted(path: &Path) -> String {
    format!("\"{}\"", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn developer_keys_are_the_pub_files_without_certificates() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "id_ed25519.pub",
            "id_rsa.pub",
            "id_ed25519-cert.pub",
            "id_ed25519",
            "known_hosts",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        std::fs::create_dir(dir.path().join("old.pub")).unwrap();
        let names: Vec<String> = developer_keys(dir.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["id_ed25519.pub", "id_rsa.pub"]);
        assert!(developer_keys(&dir.path().join("none")).is_empty());
    }

    #[test]
    fn the_config_is_key_only_for_one_user_and_quotes_paths() {
        let files = Files::new(Path::new("/srv/my stack/ssh%1"));
        let config = sshd_config(&files, 2222, "ada");
        assert!(config.contains("Port 2222\n"), "{config}");
        assert!(config.contains("AllowUsers ada\n"), "{config}");
        assert!(config.contains("PasswordAuthentication no\n"), "{config}");
        assert!(
            config.contains("AuthorizedKeysFile \"/srv/my stack/ssh%%1/authorized_keys\"\n"),
            "{config}"
        );
        assert!(
            config.contains("HostKey \"/srv/my stack/ssh%1/ssh_host_ed25519_key\"\n"),
            "{config}"
        );
    }
}

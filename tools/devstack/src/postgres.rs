//! PostgreSQL: the server `DATABASE_URL` names, or a cluster of our own under
//! the state directory, created with `initdb` on first use and started with
//! `pg_ctl`.
//!
//! `initdb` and `postgres` refuse to run as root; when we are root they run as
//! the `postgres` account through `runuser`, which then owns the cluster folder.
//! Clients connect over TCP on loopback with trust authentication (a local,
//! single-user development cluster). The demo target `demo-db` is a second
//! cluster of the same kind (see `demo_db.rs`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::process::Command;

use crate::host::is_root;

/// The database the stack uses on its own cluster.
pub const DATABASE: &str = "bamf";
/// Bound on waiting for our cluster to start (pg_ctl -t).
const START_TIMEOUT_SECS: u64 = 60;
/// How often a running cluster's postmaster is checked for being alive.
const LIVENESS_INTERVAL: Duration = Duration::from_millis(500);

/// The PostgreSQL the stack uses.
pub enum Postgres {
    /// Given by `DATABASE_URL`; not ours to start or stop.
    External { url: String },
    /// Our own cluster.
    Local(Local),
}

/// A cluster the stack runs itself.
pub struct Local {
    dir: PathBuf,
    port: u16,
    database: String,
    as_postgres: bool,
    pg_ctl: PathBuf,
    /// The postmaster's pid, from `postmaster.pid` once started.
    pid: Option<u32>,
}

impl Postgres {
    /// The connection URL for the programs.
    pub fn url(&self) -> String {
        match self {
            Postgres::External { url } => url.clone(),
            Postgres::Local(local) => {
                format!(
                    "postgres://postgres@127.0.0.1:{}/{}",
                    local.port, local.database
                )
            }
        }
    }

    /// The port of our own cluster.
    pub fn local_port(&self) -> Option<u16> {
        match self {
            Postgres::External { .. } => None,
            Postgres::Local(local) => Some(local.port),
        }
    }

    /// The postmaster's pid, for our own cluster.
    pub fn pid(&self) -> Option<u32> {
        match self {
            Postgres::External { .. } => None,
            Postgres::Local(local) => local.pid,
        }
    }

    /// Whether our cluster's postmaster is still alive.
    pub fn is_alive(&self) -> bool {
        self.pid().is_some_and(crate::host::process_alive)
    }

    /// Completes when our cluster's postmaster is gone (checked every
    /// [`LIVENESS_INTERVAL`]: pg_ctl runs it detached, not as our child);
    /// never for a server we don't run.
    pub async fn gone(&self) {
        if self.pid().is_none() {
            return std::future::pending().await;
        }
        while self.is_alive() {
            tokio::time::sleep(LIVENESS_INTERVAL).await;
        }
    }

    /// Stops our cluster (fast mode: open sessions are ended, data is safe).
    pub async fn stop(&self, grace: Duration) -> Result<()> {
        let Postgres::Local(local) = self else {
            return Ok(());
        };
        let status = local
            .command(&local.pg_ctl)
            .arg("stop")
            .arg("-D")
            .arg(&local.dir)
            .args([
                "-m",
                "fast",
                "-w",
                "-t",
                &grace.as_secs().max(1).to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .await
            .context("cannot run pg_ctl stop")?;
        if !status.success() {
            bail!("pg_ctl stop failed for {}", local.dir.display());
        }
        Ok(())
    }
}

/// Checks that the server `DATABASE_URL` names accepts connections.
pub async fn external(url: &str) -> Result<Postgres> {
    let ready = Command::new(pg_tool("pg_isready")?)
        .args(["-t", "10", "-d", url])
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .context("cannot run pg_isready")?;
    if !ready.success() {
        bail!(
            "DATABASE_URL: PostgreSQL at {} does not accept connections",
            redact(url)
        );
    }
    Ok(Postgres::External {
        url: url.to_string(),
    })
}

/// Starts our cluster in `dir` on `port` (creating it first if needed),
/// logging to `log`; its URL names `database`, which the caller then makes
/// sure of with [`ensure_database`] (once the cluster is in its hands to
/// stop, should that fail).
pub async fn start_local(dir: &Path, port: u16, log: &Path, database: &str) -> Result<Postgres> {
    let mut local = Local {
        dir: dir.to_path_buf(),
        port,
        database: database.to_string(),
        as_postgres: is_root(),
        pg_ctl: pg_tool("pg_ctl")?,
        pid: None,
    };
    if !dir.join("PG_VERSION").is_file() {
        local.init().await?;
    }
    let running = local
        .command(&local.pg_ctl)
        .arg("status")
        .arg("-D")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .await?;
    if running.success() {
        bail!(
            "PostgreSQL from an earlier run is still running on {}; stop it with `{}pg_ctl stop -D {}` and run again",
            dir.display(),
            if local.as_postgres { "runuser -u postgres -- " } else { "" },
            dir.display()
        );
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    local.hand_over(log)?;
    let options = format!("-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''");
    let started = local
        .command(&local.pg_ctl)
        .arg("start")
        .arg("-D")
        .arg(dir)
        .arg("-l")
        .arg(log)
        .args(["-w", "-t", &START_TIMEOUT_SECS.to_string(), "-o", &options])
        .stdout(std::process::Stdio::null())
        // Its own process group: a Ctrl-C on the terminal must not reach the
        // server directly; the stack stops it in order.
        .process_group(0)
        .status()
        .await
        .context("cannot run pg_ctl start")?;
    if !started.success() {
        bail!(
            "PostgreSQL did not start; last lines of {}:\n{}",
            log.display(),
            crate::child::log_tail(log)
        );
    }
    local.pid = std::fs::read_to_string(dir.join("postmaster.pid"))
        .ok()
        .and_then(|text| text.lines().next()?.trim().parse().ok());
    Ok(Postgres::Local(local))
}

impl Local {
    /// A command run as the `postgres` account when we are root.
    fn command(&self, program: &Path) -> Command {
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    async fn init(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        self.hand_over(&self.dir)?;
        println!("  creating a PostgreSQL cluster in {}", self.dir.display());
        let out = self
            .command(&pg_tool("initdb")?)
            .arg("-D")
            .arg(&self.dir)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
            .output()
            .await
            .context("cannot run initdb")?;
        if !out.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    /// Gives `path` to the postgres account when the cluster runs as it.
    fn hand_over(&self, path: &Path) -> Result<()> {
        if !self.as_postgres {
            return Ok(());
        }
        let status = std::process::Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .context("cannot run chown")?;
        if !status.success() {
            bail!("cannot hand {} to the postgres account", path.display());
        }
        Ok(())
    }
}

/// Makes sure database `name` exists on our cluster at `port`, owned by
/// `owner` when it is created (default: postgres).
pub async fn ensure_database(port: u16, name: &str, owner: Option<&str>) -> Result<()> {
    let query = format!(
        "SELECT 1 FROM pg_database WHERE datname = {}",
        literal(name)
    );
    if sql(port, &query).await? == "1" {
        return Ok(());
    }
    let mut create = format!("CREATE DATABASE {}", ident(name));
    if let Some(owner) = owner {
        create.push_str(&format!(" OWNER {}", ident(owner)));
    }
    sql(port, &create)
        .await
        .with_context(|| format!("cannot create database {name}"))?;
    Ok(())
}

/// Makes sure login role `name` exists on our cluster at `port`, as a
/// superuser (a local development cluster with trust authentication: anyone
/// on the machine could connect as `postgres` anyway).
pub async fn ensure_superuser(port: u16, name: &str) -> Result<()> {
    let query = format!("SELECT 1 FROM pg_roles WHERE rolname = {}", literal(name));
    if sql(port, &query).await? == "1" {
        return Ok(());
    }
    sql(
        port,
        &format!("CREATE ROLE {} LOGIN SUPERUSER", ident(name)),
    )
    .await
    .with_context(|| format!("cannot create role {name}"))?;
    Ok(())
}

/// Runs one statement as `postgres` in database `postgres`; answers its
/// unaligned output.
async fn sql(port: u16, statement: &str) -> Result<String> {
    let out = Command::new(pg_tool("psql")?)
        .args(["-X", "-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"])
        .arg("-tAc")
        .arg(statement)
        .output()
        .await
        .context("cannot run psql")?;
    if !out.status.success() {
        bail!(
            "psql on port {port}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// An SQL identifier, quoted.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// An SQL string literal.
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Finds a PostgreSQL program on PATH, else in Debian's versioned folders.
pub fn pg_tool(name: &str) -> Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut versioned: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| dirs.flatten().map(|d| d.path().join("bin")).collect())
        .unwrap_or_default();
    versioned.sort();
    versioned.reverse();
    on_path
        .into_iter()
        .chain(versioned)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .with_context(|| {
            format!("cannot find {name}: install the PostgreSQL server tools, or set DATABASE_URL")
        })
}

/// A URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_quoted_for_sql() {
        assert_eq!(ident("ada"), r#""ada""#);
        assert_eq!(ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(literal("o'neil"), "'o''neil'");
    }

    #[test]
    fn passwords_are_left_out_of_urls() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}

//! A fresh PostgreSQL database per test.

use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use sqlx::{Connection, PgConnection};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const PROBE_INTERVAL: Duration = Duration::from_millis(20);

/// A database created for one test and dropped (forcefully) when it is dropped.
pub struct TestDatabase {
    url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// Creates an empty database with a unique name.
    pub async fn create() -> Result<Self> {
        let admin_url = admin_url()?;
        let name = format!("bamf_t_{}", ulid::Ulid::new().to_string().to_lowercase());
        let mut conn = PgConnection::connect(&admin_url)
            .await
            .with_context(|| format!("cannot connect to PostgreSQL at {}", redact(&admin_url)))?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .with_context(|| format!("cannot create database {name}"))?;
        conn.close().await.ok();
        Ok(TestDatabase {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
        })
    }

    /// The connection URL of this test's database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs outside async code (or inside a runtime we may not block), so
        // the clean-up gets its own thread and runtime.
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// `DATABASE_URL` when set; else a temporary cluster for this test process.
fn admin_url() -> Result<String> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        if !url.is_empty() {
            return Ok(url);
        }
    }
    static CLUSTER: OnceLock<std::result::Result<String, String>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| temp_cluster().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Keeps the temporary cluster's supervisor pipe open for the life of the test
/// process; when the process exits the pipe closes and the supervisor stops
/// PostgreSQL, so no cluster outlives its tests.
static SUPERVISOR: Mutex<Option<ChildStdin>> = Mutex::new(None);

fn temp_cluster() -> Result<String> {
    let dir = tempfile::Builder::new()
        .prefix("bamf-pg-")
        .tempdir()?
        .keep();
    let data = dir.join("data");
    // initdb refuses to run as root; the postgres account runs the cluster then.
    let as_postgres = is_root();
    if as_postgres {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()?;
        if !status.success() {
            bail!("cannot hand {} to the postgres user", dir.display());
        }
    }
    let run = |program: &str| {
        let mut cmd = if as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", program]);
            c
        } else {
            Command::new(program)
        };
        cmd.stdin(Stdio::null());
        cmd
    };
    let out = run("initdb")
        .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
        .arg(&data)
        .output()
        .context("cannot run initdb (is PostgreSQL installed? or set DATABASE_URL)")?;
    if !out.status.success() {
        bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let script = format!(
        "postgres -D '{data}' -p {port} -k '{dir}' -c listen_addresses=127.0.0.1 -c fsync=off \
         -c max_connections=300 >'{dir}/postgres.log' 2>&1 & pid=$!; read _; kill $pid; wait $pid; rm -rf '{dir}'",
        data = data.display(),
        dir = dir.display(),
    );
    let mut child = run("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .spawn()
        .context("cannot start postgres")?;
    let stdin = child.stdin.take().context("supervisor has no stdin")?;
    *SUPERVISOR.lock().unwrap_or_else(|e| e.into_inner()) = Some(stdin);
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let ready = Command::new("pg_isready")
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ready {
            break;
        }
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
            bail!("temporary PostgreSQL exited with {status}:\n{log}");
        }
        if Instant::now() > deadline {
            bail!("temporary PostgreSQL not ready after {READY_TIMEOUT:?}");
        }
        std::thread::sleep(PROBE_INTERVAL);
    }
    Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Replaces the database of a `postgres://…/db?params` URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// A URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
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
    fn database_is_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h:5432/test?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}

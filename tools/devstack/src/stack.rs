//! The start and stop sequence of the local stack, and what it prints.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::process::Command;

use crate::admin;
use crate::child::Managed;
use crate::ports::Ports;
use crate::postgres::{self, Postgres};
use crate::{nats, Args};

/// How long bamf-api (streams and migrations included) may take to be ready.
const API_READY_TIMEOUT: Duration = Duration::from_secs(120);

/// What has been started so far, stopped in reverse order.
#[derive(Default)]
struct Running {
    postgres: Option<Postgres>,
    nats: Option<Managed>,
    api: Option<Managed>,
}

/// Folders and files under the state directory.
struct Layout {
    nats_store: PathBuf,
    pg_dir: PathBuf,
    api_data: PathBuf,
    logs: PathBuf,
}

impl Layout {
    fn new(state: &Path) -> Self {
        Layout {
            nats_store: state.join("nats"),
            pg_dir: state.join("pg"),
            api_data: state.join("api"),
            logs: state.join("logs"),
        }
    }

    fn log(&self, name: &str) -> PathBuf {
        self.logs.join(format!("{name}.log"))
    }
}

/// Runs the stack until a signal or until a component dies.
pub async fn run(args: Args) -> Result<()> {
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| format!("cannot create {}", args.state_dir.display()))?;
    let state = std::fs::canonicalize(&args.state_dir)?;
    let layout = Layout::new(&state);
    std::fs::create_dir_all(&layout.logs)?;
    std::fs::create_dir_all(&layout.nats_store)?;
    let mut signals = Signals::new()?;
    let mut running = Running::default();

    let started = tokio::select! {
        started = start(&args, &state, &layout, &mut running) => Some(started),
        name = signals.next() => {
            println!("{name} during start-up");
            None
        }
    };
    let outcome = match started {
        None => Ok(()),
        Some(Err(error)) => Err(error),
        Some(Ok(())) => {
            println!("bamf stack ready; press Ctrl-C to stop it");
            wait(&mut running, &mut signals).await
        }
    };
    println!("stopping the stack");
    tokio::select! {
        () = stop(&mut running, args.grace) => {}
        name = signals.next() => {
            // Impatience wins: dropping the children kills them (kill_on_drop).
            println!("{name} again: killing bamf-api and nats-server");
            running.api = None;
            running.nats = None;
            stop(&mut running, args.grace).await;
        }
    }
    println!("stack stopped");
    outcome
}

async fn start(args: &Args, state: &Path, layout: &Layout, running: &mut Running) -> Result<()> {
    let mut ports = Ports::load(state);
    let nats_port = ports.choose("nats", args.nats_port, "--nats-port")?;
    let monitor_port = ports.choose(
        "nats_monitor",
        args.nats_monitor_port,
        "--nats-monitor-port",
    )?;
    let api_port = ports.choose("api", args.api_port, "--api-port")?;
    let pg_port = match &args.database_url {
        Some(_) => None,
        None => Some(ports.choose("postgres", args.pg_port, "--pg-port")?),
    };
    ports.save()?;

    println!("starting PostgreSQL");
    let postgres = match (&args.database_url, pg_port) {
        (Some(url), _) => postgres::external(url).await?,
        (None, Some(port)) => {
            postgres::start_local(&layout.pg_dir, port, &layout.log("postgres")).await?
        }
        (None, None) => unreachable!("a port is chosen whenever DATABASE_URL is unset"),
    };
    let database_url = postgres.url();
    running.postgres = Some(postgres);

    println!("starting nats-server");
    let nats_config = std::fs::canonicalize(&args.nats_config)
        .with_context(|| format!("cannot find {}", args.nats_config.display()))?;
    running.nats = Some(
        nats::start(&nats::Settings {
            bin: &args.nats_server,
            config: &nats_config,
            store: &layout.nats_store,
            pid_file: state.join("nats.pid"),
            log: &layout.log("nats"),
            port: nats_port,
            monitor_port,
        })
        .await?,
    );
    let nats_url = format!("nats://127.0.0.1:{nats_port}");

    println!("starting bamf-api (it applies the streams and migrations)");
    let api_bin = match &args.api_bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe()?.with_file_name("bamf-api"),
    };
    let api_addr = SocketAddr::from(([127, 0, 0, 1], api_port));
    let (admin_file, admin_password) = admin::password(&args.state_dir)?;
    let mut command = Command::new(&api_bin);
    command
        .arg("serve")
        .env("BAMF_API_LISTEN", api_addr.to_string())
        .env("BAMF_API_NATS_URL", &nats_url)
        .env("BAMF_API_DATABASE_URL", &database_url)
        .env("BAMF_API_DATA_DIR", &layout.api_data)
        .env("BAMF_API_ADMIN_EMAIL", admin::EMAIL)
        .env("BAMF_API_ADMIN_PASSWORD", &admin_password)
        .env("BAMF_LOG_FORMAT", "text");
    let api = running
        .api
        .insert(Managed::spawn("bamf-api", command, &layout.log("api"))?);
    api.wait_http_ok(api_addr, "/readyz", API_READY_TIMEOUT)
        .await?;

    summary(
        layout,
        &database_url,
        running,
        nats_port,
        monitor_port,
        api_addr,
    );
    println!(
        "log in:  bamfctl --api-url http://{api_addr} login --email {} --password-stdin < {}",
        admin::EMAIL,
        admin_file.display()
    );
    Ok(())
}

/// Waits for a signal (a clean stop) or for a component to die (an error).
async fn wait(running: &mut Running, signals: &mut Signals) -> Result<()> {
    let (Some(nats), Some(api)) = (running.nats.as_mut(), running.api.as_mut()) else {
        return Ok(());
    };
    tokio::select! {
        name = signals.next() => {
            println!("{name} received");
            Ok(())
        }
        status = nats.exited() => Err(anyhow::anyhow!("nats-server exited with {status}; see its log")),
        status = api.exited() => Err(anyhow::anyhow!("bamf-api exited with {status}; see its log")),
    }
}

/// Stops what runs: api, then nats, then postgres; reports but goes on past
/// failures so nothing is left running.
async fn stop(running: &mut Running, grace: Duration) {
    if let Some(api) = running.api.as_mut() {
        println!("  stopping bamf-api (pid {})", api.pid());
        if let Err(error) = api.stop(grace).await {
            eprintln!("warning: bamf-api: {error:#}");
        }
    }
    if let Some(nats) = running.nats.as_mut() {
        println!("  stopping nats-server (pid {})", nats.pid());
        if let Err(error) = nats.stop(grace).await {
            eprintln!("warning: nats-server: {error:#}");
        }
    }
    if let Some(postgres @ Postgres::Local(_)) = running.postgres.as_ref() {
        println!("  stopping PostgreSQL");
        if let Err(error) = postgres.stop(grace).await {
            eprintln!("warning: PostgreSQL: {error:#}");
        }
    }
}

fn summary(
    layout: &Layout,
    database_url: &str,
    running: &Running,
    nats_port: u16,
    monitor_port: u16,
    api_addr: SocketAddr,
) {
    let pid = |m: &Option<Managed>| m.as_ref().map(|m| m.pid().to_string()).unwrap_or_default();
    let (pg_data, pg_log) = match running.postgres {
        Some(Postgres::Local(_)) => (
            layout.pg_dir.display().to_string(),
            layout.log("postgres").display().to_string(),
        ),
        _ => ("(DATABASE_URL; not managed here)".into(), "-".into()),
    };
    println!();
    println!(
        "{:<10} {:<8} {:<48} {:<40} log",
        "component", "pid", "address", "data"
    );
    let rows = [
        (
            "postgres",
            String::new(),
            postgres::redact(database_url),
            pg_data,
            pg_log,
        ),
        (
            "nats",
            pid(&running.nats),
            format!("nats://127.0.0.1:{nats_port} (monitor http://127.0.0.1:{monitor_port})"),
            layout.nats_store.display().to_string(),
            layout.log("nats").display().to_string(),
        ),
        (
            "api",
            pid(&running.api),
            format!("http://{api_addr}"),
            layout.api_data.display().to_string(),
            layout.log("api").display().to_string(),
        ),
    ];
    for (name, pid, address, data, log) in rows {
        println!("{name:<10} {pid:<8} {address:<48} {data:<40} {log}");
    }
    println!();
    println!("bamfctl: export BAMF_API_URL=http://{api_addr}");
}

/// SIGINT and SIGTERM, as a stream of names.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}

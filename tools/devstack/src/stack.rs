//! The start and stop sequence of the local stack.
//!
//! Start: PostgreSQL, nats-server, bamf-api, the demo targets (sshd, demo
//! PostgreSQL), bamf-bridge, bamf-agent, each awaited on its readiness
//! signal (stop, in reverse: see `running.rs`). A child is put in
//! [`Running`] as soon as it is spawned, so a signal or a failure while it
//! starts still stops it in order.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::process::Command;

use crate::agent::{self, Target};
use crate::api::Api;
use crate::child::Managed;
use crate::ports::PortPlan;
use crate::postgres::{self, Postgres};
use crate::running::{Logs, Running};
use crate::signals::Signals;
use crate::summary::{Row, SshHints, Summary};
use crate::{bridge, demo_db, nats, secrets, sshd, Args};

/// How long bamf-api (streams and migrations included) may take to be ready.
const API_READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the API may take to hear the ready bridge's first heartbeat.
const BRIDGE_LISTED_TIMEOUT: Duration = Duration::from_secs(30);

/// Folders and files under the state directory.
struct Layout {
    nats_store: PathBuf,
    pg_dir: PathBuf,
    api_data: PathBuf,
    ssh_dir: PathBuf,
    demo_pg_dir: PathBuf,
    bridge_data: PathBuf,
    agent_data: PathBuf,
    agent_config: PathBuf,
    logs: PathBuf,
}

impl Layout {
    fn new(state: &Path) -> Self {
        Layout {
            nats_store: state.join("nats"),
            pg_dir: state.join("pg"),
            api_data: state.join("api"),
            ssh_dir: state.join("ssh"),
            demo_pg_dir: state.join("demo-pg"),
            bridge_data: state.join("bridge"),
            agent_data: state.join("agent"),
            agent_config: state.join("agent.yaml"),
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
        Some(Ok(summary)) => {
            summary.print();
            println!("bamf stack ready; press Ctrl-C to stop it");
            let logs = Logs {
                postgres: &layout.log("postgres"),
                demo_db: &layout.log("demo-pg"),
            };
            tokio::select! {
                name = signals.next() => {
                    println!("{name} received");
                    Ok(())
                }
                error = running.first_death(&logs) => Err(error),
            }
        }
    };
    println!("stopping the stack");
    tokio::select! {
        () = running.stop(args.grace) => {}
        name = signals.next() => {
            // Impatience wins.
            println!("{name} again: killing the programs");
            running.kill_programs();
            running.stop(args.grace).await;
        }
    }
    println!("stack stopped");
    outcome
}

/// A program next to this one unless given by flag.
fn program(given: Option<&PathBuf>, name: &str) -> Result<PathBuf> {
    match given {
        Some(bin) => Ok(bin.clone()),
        None => Ok(std::env::current_exe()?.with_file_name(name)),
    }
}

async fn start(
    args: &Args,
    state: &Path,
    layout: &Layout,
    running: &mut Running,
) -> Result<Summary> {
    let sshd_missing = sshd::missing();
    let demo_db_missing = demo_db::missing();
    for (what, missing) in [
        ("the demo sshd (resource demo)", &sshd_missing),
        ("the demo PostgreSQL (resource demo-db)", &demo_db_missing),
    ] {
        if let Some(why) = missing {
            eprintln!("warning: {why}; the stack runs without {what}");
        }
    }
    let ports = PortPlan::choose(
        args,
        state,
        sshd_missing.is_none(),
        demo_db_missing.is_none(),
    )?;
    let (admin_file, admin_password) = secrets::admin_password(&args.state_dir)?;
    let bridge_token = secrets::bridge_token(&args.state_dir)?;
    let mut start = Start {
        args,
        state,
        layout,
        ports,
        running,
        rows: Vec::new(),
        targets: Vec::new(),
    };
    let database_url = start.postgres().await?;
    let nats_url = start.nats().await?;
    let api_addr = start
        .api(&database_url, &nats_url, &admin_password, &bridge_token)
        .await?;
    let api_url = format!("http://{api_addr}");
    let ssh = start.demo_sshd().await?;
    let demo_db_user = start.demo_db().await?;
    start.bridge(&api_url, &bridge_token, &nats_url).await?;
    start.agent(api_addr, &admin_password, &nats_url).await?;
    Ok(Summary {
        rows: start.rows,
        api_url,
        admin_email: secrets::ADMIN_EMAIL,
        admin_file,
        ssh,
        demo_db_user,
    })
}

/// The start-up in progress: each step starts one component, puts it in
/// `running` and adds its summary row.
struct Start<'a> {
    args: &'a Args,
    state: &'a Path,
    layout: &'a Layout,
    ports: PortPlan,
    running: &'a mut Running,
    rows: Vec<Row>,
    /// The demo targets started, for the agent to offer.
    targets: Vec<Target>,
}

impl Start<'_> {
    /// PostgreSQL for the API; answers its URL.
    async fn postgres(&mut self) -> Result<String> {
        println!("starting PostgreSQL");
        let layout = self.layout;
        let postgres =
            self.running
                .postgres
                .insert(match (&self.args.database_url, self.ports.postgres) {
                    (Some(url), _) => postgres::external(url).await?,
                    (None, Some(port)) => {
                        postgres::start_local(
                            &layout.pg_dir,
                            port,
                            &layout.log("postgres"),
                            postgres::DATABASE,
                        )
                        .await?
                    }
                    (None, None) => unreachable!("a port is chosen whenever DATABASE_URL is unset"),
                });
        if let Some(port) = postgres.local_port() {
            postgres::ensure_database(port, postgres::DATABASE, None).await?;
        }
        let url = postgres.url();
        self.rows.push(match postgres {
            Postgres::Local(_) => Row::new(
                "postgres",
                postgres.pid(),
                postgres::redact(&url),
                &layout.pg_dir,
                &layout.log("postgres"),
            ),
            Postgres::External { .. } => Row::new(
                "postgres",
                None,
                postgres::redact(&url),
                Path::new("(DATABASE_URL; not managed here)"),
                Path::new("-"),
            ),
        });
        Ok(url)
    }

    /// nats-server; answers its URL.
    async fn nats(&mut self) -> Result<String> {
        println!("starting nats-server");
        let nats_config = std::fs::canonicalize(&self.args.nats_config)
            .with_context(|| format!("cannot find {}", self.args.nats_config.display()))?;
        let nats = self.running.nats.insert(
            nats::start(&nats::Settings {
                bin: &self.args.nats_server,
                config: &nats_config,
                store: &self.layout.nats_store,
                pid_file: self.state.join("nats.pid"),
                log: &self.layout.log("nats"),
                port: self.ports.nats,
                monitor_port: self.ports.nats_monitor,
            })
            .await?,
        );
        let url = format!("nats://127.0.0.1:{}", self.ports.nats);
        self.rows.push(Row::new(
            "nats",
            Some(nats.pid()),
            format!(
                "{url} (monitor http://127.0.0.1:{})",
                self.ports.nats_monitor
            ),
            &self.layout.nats_store,
            nats.log(),
        ));
        Ok(url)
    }

    /// bamf-api; answers its address.
    async fn api(
        &mut self,
        database_url: &str,
        nats_url: &str,
        admin_password: &str,
        bridge_token: &str,
    ) -> Result<SocketAddr> {
        println!("starting bamf-api (it applies the streams and migrations)");
        let addr = SocketAddr::from(([127, 0, 0, 1], self.ports.api));
        let mut command = Command::new(program(self.args.api_bin.as_ref(), "bamf-api")?);
        command
            .arg("serve")
            .env("BAMF_API_LISTEN", addr.to_string())
            .env("BAMF_API_NATS_URL", nats_url)
            .env("BAMF_API_DATABASE_URL", database_url)
            .env("BAMF_API_DATA_DIR", &self.layout.api_data)
            .env("BAMF_API_ADMIN_EMAIL", secrets::ADMIN_EMAIL)
            .env("BAMF_API_ADMIN_PASSWORD", admin_password)
            .env("BAMF_API_BRIDGE_BOOTSTRAP_TOKEN", bridge_token)
            .env("BAMF_LOG_FORMAT", "text");
        let api = self.running.api.insert(Managed::spawn(
            "bamf-api",
            command,
            &self.layout.log("api"),
        )?);
        api.wait_http_ok(addr, "/readyz", API_READY_TIMEOUT).await?;
        self.rows.push(Row::new(
            "api",
            Some(api.pid()),
            format!("http://{addr}"),
            &self.layout.api_data,
            api.log(),
        ));
        Ok(addr)
    }

    /// The demo sshd, when it can run; answers how to reach it.
    async fn demo_sshd(&mut self) -> Result<Option<SshHints>> {
        let Some(port) = self.ports.ssh else {
            return Ok(None);
        };
        println!("starting the demo sshd (resource {})", sshd::RESOURCE);
        let files = sshd::Files::new(&self.layout.ssh_dir);
        let demo = sshd::prepare(&files, port).await?;
        let child = self
            .running
            .sshd
            .insert(sshd::spawn(&files, &self.layout.log("sshd"))?);
        sshd::wait_ready(child, &demo).await?;
        self.rows.push(Row::new(
            "demo-sshd",
            Some(child.pid()),
            format!(
                "ssh://{}@{} (resource {})",
                demo.user,
                demo.addr,
                sshd::RESOURCE
            ),
            &files.dir,
            child.log(),
        ));
        self.targets.push(Target {
            name: sshd::RESOURCE,
            kind: "ssh",
            port,
        });
        // As the user typed the state dir, for commands to copy.
        let as_typed = self.args.state_dir.join("ssh");
        Ok(Some(SshHints {
            key: as_typed.join("id_ed25519"),
            known_hosts: as_typed.join("known_hosts"),
            own_keys: demo.own_keys.len(),
        }))
    }

    /// The demo PostgreSQL, when it can run; answers psql's default role.
    async fn demo_db(&mut self) -> Result<Option<String>> {
        let Some(port) = self.ports.demo_pg else {
            return Ok(None);
        };
        println!(
            "starting the demo PostgreSQL (resource {})",
            demo_db::RESOURCE
        );
        let log = self.layout.log("demo-pg");
        let cluster = self
            .running
            .demo_db
            .insert(demo_db::start(&self.layout.demo_pg_dir, port, &log).await?);
        let user = demo_db::set_up(port).await?;
        self.rows.push(Row::new(
            "demo-pg",
            cluster.pid(),
            format!("{} (resource {})", cluster.url(), demo_db::RESOURCE),
            &self.layout.demo_pg_dir,
            &log,
        ));
        self.targets.push(Target {
            name: demo_db::RESOURCE,
            kind: "postgres",
            port,
        });
        Ok(Some(user))
    }

    async fn bridge(&mut self, api_url: &str, bridge_token: &str, nats_url: &str) -> Result<()> {
        println!("starting bamf-bridge");
        let bin = program(self.args.bridge_bin.as_ref(), "bamf-bridge")?;
        let settings = bridge::Settings {
            bin: &bin,
            data_dir: &self.layout.bridge_data,
            log: &self.layout.log("bridge"),
            api_url,
            bootstrap_token: bridge_token,
            nats_url,
            quic: SocketAddr::from(([127, 0, 0, 1], self.ports.bridge_quic)),
            health: SocketAddr::from(([127, 0, 0, 1], self.ports.bridge_health)),
        };
        let child = self.running.bridge.insert(bridge::spawn(&settings)?);
        bridge::wait_ready(child, &settings).await?;
        self.rows.push(Row::new(
            "bridge",
            Some(child.pid()),
            format!(
                "quic://{} (health http://{})",
                settings.quic, settings.health
            ),
            &self.layout.bridge_data,
            child.log(),
        ));
        Ok(())
    }

    /// bamf-agent, with the admin's login for its join token and for
    /// watching its resources come online.
    async fn agent(
        &mut self,
        api_addr: SocketAddr,
        admin_password: &str,
        nats_url: &str,
    ) -> Result<()> {
        println!("starting bamf-agent");
        let api = Api::new(api_addr);
        let login = api.login(secrets::ADMIN_EMAIL, admin_password).await?;
        let bin = program(self.args.agent_bin.as_ref(), "bamf-agent")?;
        let api_url = format!("http://{api_addr}");
        let settings = agent::Settings {
            bin: &bin,
            config_file: &self.layout.agent_config,
            data_dir: &self.layout.agent_data,
            log: &self.layout.log("agent"),
            api_url: &api_url,
            api,
            login: &login,
            nats_url,
            health: SocketAddr::from(([127, 0, 0, 1], self.ports.agent_health)),
            targets: &self.targets,
        };
        let child = self.running.agent.insert(agent::spawn(&settings).await?);
        agent::wait_ready(child, &settings).await?;
        let what = format!(
            "bridge {} listed online by GET /api/v1/bridges",
            bridge::BRIDGE_ID
        );
        child
            .wait_until(&what, BRIDGE_LISTED_TIMEOUT, || {
                api.bridge_online(&login, bridge::BRIDGE_ID)
            })
            .await?;
        self.rows.push(Row::new(
            "agent",
            Some(child.pid()),
            format!("health http://{}", settings.health),
            &self.layout.agent_data,
            child.log(),
        ));
        // The login was for start-up only.
        if let Err(error) = api.logout(&login).await {
            eprintln!("warning: {error:#}");
        }
        Ok(())
    }
}

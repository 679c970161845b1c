//! Choosing loopback ports: the one asked for, else last run's, else a free one.
//! TCP for every listener but the bridge's QUIC port, which is UDP.
//!
//! Remembering last run's ports (in `<state>/ports.json`) keeps URLs stable
//! from one run to the next when nothing else took them meanwhile.

use std::collections::BTreeMap;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::Args;

/// The ports of one run, by name (`nats`, `api`, `bridge_quic`, …).
pub struct Ports {
    file: PathBuf,
    remembered: BTreeMap<String, u16>,
    chosen: BTreeMap<String, u16>,
}

impl Ports {
    /// Reads last run's ports from `<state>/ports.json` (missing or unreadable: none).
    pub fn load(state: &Path) -> Self {
        let file = state.join("ports.json");
        let remembered = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        Ports {
            file,
            remembered,
            chosen: BTreeMap::new(),
        }
    }

    /// Picks the TCP port for `name`. A `requested` port (from `flag`) must be
    /// free or this fails saying so; otherwise last run's port if free, else
    /// any free.
    pub fn choose(&mut self, name: &str, requested: Option<u16>, flag: &str) -> Result<u16> {
        self.choose_for(Proto::Tcp, name, requested, flag)
    }

    /// As [`Ports::choose`], for a UDP port.
    pub fn choose_udp(&mut self, name: &str, requested: Option<u16>, flag: &str) -> Result<u16> {
        self.choose_for(Proto::Udp, name, requested, flag)
    }

    fn choose_for(
        &mut self,
        proto: Proto,
        name: &str,
        requested: Option<u16>,
        flag: &str,
    ) -> Result<u16> {
        let port = match requested {
            Some(port) => {
                if !proto.is_free(port) {
                    bail!(
                        "{flag} {port}: {}port {port} on 127.0.0.1 is already in use; \
                         choose another or leave {flag} out to get a free one",
                        proto.qualifier()
                    );
                }
                port
            }
            None => match self.remembered.get(name) {
                Some(&port) if proto.is_free(port) && !self.chosen.values().any(|&p| p == port) => {
                    port
                }
                _ => self.free_port(proto)?,
            },
        };
        self.chosen.insert(name.to_string(), port);
        Ok(port)
    }

    /// Saves the chosen ports for the next run.
    pub fn save(&self) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.chosen)?;
        std::fs::write(&self.file, text)
            .with_context(|| format!("cannot write {}", self.file.display()))
    }

    fn free_port(&self, proto: Proto) -> Result<u16> {
        // The OS picks a free port; it is released again for the child to bind.
        // Another process could take it in between; the child then fails to
        // start and its log says why.
        loop {
            let port = proto.any_free().with_context(|| {
                format!("cannot find a free {} port on 127.0.0.1", proto.name())
            })?;
            if !self.chosen.values().any(|&p| p == port) {
                return Ok(port);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        }
    }

    /// Said before "port" in messages: nothing for the usual TCP.
    fn qualifier(self) -> &'static str {
        match self {
            Proto::Tcp => "",
            Proto::Udp => "UDP ",
        }
    }

    fn is_free(self, port: u16) -> bool {
        match self {
            Proto::Tcp => TcpListener::bind(("127.0.0.1", port)).is_ok(),
            Proto::Udp => UdpSocket::bind(("127.0.0.1", port)).is_ok(),
        }
    }

    fn any_free(self) -> std::io::Result<u16> {
        let addr = match self {
            Proto::Tcp => TcpListener::bind("127.0.0.1:0")?.local_addr()?,
            Proto::Udp => UdpSocket::bind("127.0.0.1:0")?.local_addr()?,
        };
        Ok(addr.port())
    }
}

/// The ports of this run.
pub struct PortPlan {
    pub nats: u16,
    pub nats_monitor: u16,
    pub api: u16,
    pub postgres: Option<u16>,
    pub ssh: Option<u16>,
    pub demo_pg: Option<u16>,
    pub bridge_quic: u16,
    pub bridge_health: u16,
    pub agent_health: u16,
}

impl PortPlan {
    /// Chooses every port (the demo targets' only when they run) and saves
    /// them for the next run.
    pub fn choose(args: &Args, state: &Path, with_sshd: bool, with_demo_db: bool) -> Result<Self> {
        let mut ports = Ports::load(state);
        let plan = PortPlan {
            nats: ports.choose("nats", args.nats_port, "--nats-port")?,
            nats_monitor: ports.choose(
                "nats_monitor",
                args.nats_monitor_port,
                "--nats-monitor-port",
            )?,
            api: ports.choose("api", args.api_port, "--api-port")?,
            postgres: match &args.database_url {
                Some(_) => None,
                None => Some(ports.choose("postgres", args.pg_port, "--pg-port")?),
            },
            ssh: with_sshd
                .then(|| ports.choose("ssh", args.ssh_port, "--ssh-port"))
                .transpose()?,
            demo_pg: with_demo_db
                .then(|| ports.choose("demo_pg", args.demo_pg_port, "--demo-pg-port"))
                .transpose()?,
            bridge_quic: ports.choose_udp("bridge_quic", args.bridge_port, "--bridge-port")?,
            bridge_health: ports.choose(
                "bridge_health",
                args.bridge_health_port,
                "--bridge-health-port",
            )?,
            agent_health: ports.choose(
                "agent_health",
                args.agent_health_port,
                "--agent-health-port",
            )?,
        };
        ports.save()?;
        Ok(plan)
    }
}

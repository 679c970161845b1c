//! Choosing loopback ports: the one asked for, else last run's, else a free one.
//!
//! Remembering last run's ports (in `<state>/ports.json`) keeps URLs stable
//! from one run to the next when nothing else took them meanwhile.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The ports of one run, by name (`nats`, `nats_monitor`, `api`, `postgres`).
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

    /// Picks the port for `name`. A `requested` port (from `flag`) must be free
    /// or this fails saying so; otherwise last run's port if free, else any free.
    pub fn choose(&mut self, name: &str, requested: Option<u16>, flag: &str) -> Result<u16> {
        let port = match requested {
            Some(port) => {
                if !is_free(port) {
                    bail!(
                        "{flag} {port}: port {port} on 127.0.0.1 is already in use; \
                         choose another or leave {flag} out to get a free one"
                    );
                }
                port
            }
            None => match self.remembered.get(name) {
                Some(&port) if is_free(port) && !self.chosen.values().any(|&p| p == port) => port,
                _ => self.free_port()?,
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

    fn free_port(&self) -> Result<u16> {
        // The OS picks a free port; it is released again for the child to bind.
        // Another process could take it in between; the child then fails to
        // start and its log says why.
        loop {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .context("cannot find a free port on 127.0.0.1")?
                .port();
            if !self.chosen.values().any(|&p| p == port) {
                return Ok(port);
            }
        }
    }
}

fn is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

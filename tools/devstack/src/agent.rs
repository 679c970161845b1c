//! bamf-agent, offering the demo targets as resources.
//!
//! Its `agent.yaml` is written into the state dir at every start, because the
//! targets' ports can change from one run to the next. On the first start
//! (no identity in its data dir yet) the stack makes a single-use join token
//! as the admin and hands it over in `BAMF_AGENT_JOIN_TOKEN`, so the token
//! never sits in a file; later starts load the stored identity.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::process::Command;

use crate::api::Api;
use crate::child::Managed;

/// The agent's name in the API.
pub const AGENT_NAME: &str = "local";
/// Labels of every resource of the stack's agent.
const LABELS: &str = "  env: dev\n";
/// The file the agent keeps its id in once joined (see bamf-agent's identity.rs).
const AGENT_ID_FILE: &str = "agent_id";
/// How long the agent may take to join (or load its identity) and heartbeat.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the API may take to list the agent's resources after that.
const CATALOG_TIMEOUT: Duration = Duration::from_secs(30);

/// One target the agent offers.
pub struct Target {
    pub name: &'static str,
    /// `ssh`, `postgres`, …
    pub kind: &'static str,
    pub port: u16,
}

/// Where and how the agent runs.
pub struct Settings<'a> {
    pub bin: &'a Path,
    pub config_file: &'a Path,
    pub data_dir: &'a Path,
    pub log: &'a Path,
    pub api_url: &'a str,
    pub api: Api,
    /// The admin's login token, for the join token and the catalog.
    pub login: &'a str,
    pub nats_url: &'a str,
    pub health: SocketAddr,
    pub targets: &'a [Target],
}

/// Writes `agent.yaml`, makes a join token when the agent has not joined yet,
/// and starts bamf-agent; see [`wait_ready`].
pub async fn spawn(s: &Settings<'_>) -> Result<Managed> {
    std::fs::write(s.config_file, config_yaml(s))
        .with_context(|| format!("cannot write {}", s.config_file.display()))?;
    let joined = s.data_dir.join(AGENT_ID_FILE).is_file();
    let mut command = Command::new(s.bin);
    command
        .arg("--config")
        .arg(s.config_file)
        .env("BAMF_LOG_FORMAT", "text");
    if !joined {
        let token = s.api.join_token(s.login, "devstack-agent").await?;
        command.env("BAMF_AGENT_JOIN_TOKEN", token);
    }
    Managed::spawn("bamf-agent", command, s.log)
}

/// Waits until the agent's `/readyz` answers 200 (joined, its first
/// heartbeat stored), then until `GET /api/v1/resources` lists every target
/// under this agent's id.
pub async fn wait_ready(agent: &mut Managed, s: &Settings<'_>) -> Result<()> {
    agent
        .wait_http_ok(s.health, "/readyz", READY_TIMEOUT)
        .await?;

    let id_file = s.data_dir.join(AGENT_ID_FILE);
    let agent_id = std::fs::read_to_string(&id_file)
        .with_context(|| format!("a ready agent has {}", id_file.display()))?
        .trim()
        .to_string();
    let names: Vec<&str> = s.targets.iter().map(|t| t.name).collect();
    let what = format!(
        "{} listed by GET /api/v1/resources under agent {agent_id}",
        names.join(", ")
    );
    let (api, login, targets) = (s.api, s.login, s.targets);
    let listed = agent
        .wait_until(&what, CATALOG_TIMEOUT, || {
            let agent_id = agent_id.as_str();
            async move {
                let resources = api.resources(login).await?;
                Ok(targets.iter().all(|t| {
                    resources
                        .iter()
                        .any(|r| r.name == t.name && r.kind == t.kind && r.agent_id == agent_id)
                }))
            }
        })
        .await;
    if let Err(error) = listed {
        return Err(error.context(format!(
            "the agent is up but the API does not list its resources; if the agent was \
             deleted in the API, remove {} and start the stack again to join anew",
            s.data_dir.display()
        )));
    }
    Ok(())
}

/// `agent.yaml`, in the shape of services/agent/agent.example.yaml.
fn config_yaml(s: &Settings<'_>) -> String {
    let mut resources = String::new();
    for t in s.targets {
        resources.push_str(&format!(
            "  - name: {}\n    type: {}\n    host: 127.0.0.1\n    port: {}\n",
            t.name, t.kind, t.port
        ));
    }
    let resources = if resources.is_empty() {
        "resources: []\n".to_string()
    } else {
        format!("resources:\n{resources}")
    };
    format!(
        "# Written by bamf-devstack at every start (the demo targets' ports can\n\
         # change); edits here are lost. The join token of the first start comes\n\
         # in BAMF_AGENT_JOIN_TOKEN.\n\
         platform_url: {}\n\
         name: {AGENT_NAME}\n\
         labels:\n{LABELS}\
         {resources}\
         nats_url: {}\n\
         data_dir: {}\n\
         health_listen: {}\n",
        yaml_string(s.api_url),
        yaml_string(s.nats_url),
        yaml_string(&s.data_dir.to_string_lossy()),
        s.health,
    )
}

/// A YAML double-quoted scalar (JSON's string syntax is valid YAML) with `$`
/// doubled: the agent expands `${VAR}` in values and reads `$$` as `$`.
fn yaml_string(value: &str) -> String {
    serde_json::Value::String(value.replace('$', "$$")).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_and_dollars_escaped() {
        assert_eq!(yaml_string("/srv/a b: c"), r#""/srv/a b: c""#);
        assert_eq!(yaml_string("/x/${HOME}"), r#""/x/$${HOME}""#);
        assert_eq!(yaml_string(r#"q"\"#), r#""q\"\\""#);
    }
}

//! Agents: the registry folded from `agent.*` events (joined via a join token,
//! deleted by an admin) and the delete decision. Aggregate `agent`, id = ULID.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::decider::{Decider, Emitted};
use crate::events::{AgentDeleted, Event, Label};
use crate::AggregateId;

/// One agent as decisions and the catalog need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub name: String,
    pub join_token_id: AggregateId,
    /// From its join token; they override the labels of its resources.
    pub labels: Vec<Label>,
    pub deleted: bool,
}

/// Every agent that ever joined (deleted ones kept so their heartbeats stay ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agents {
    pub by_id: BTreeMap<AggregateId, AgentRecord>,
}

impl Agents {
    /// A joined, not deleted agent.
    pub fn live(&self, id: &AggregateId) -> Option<&AgentRecord> {
        self.by_id.get(id).filter(|a| !a.deleted)
    }

    /// Folds one event in.
    pub fn apply(&mut self, id: &AggregateId, event: &Event) {
        match event {
            Event::AgentJoined(e) => {
                let record = AgentRecord {
                    name: e.name.clone(),
                    join_token_id: e.join_token_id.clone(),
                    labels: e.labels.clone(),
                    deleted: false,
                };
                self.by_id.insert(id.clone(), record);
            }
            Event::AgentDeleted(_) => {
                if let Some(a) = self.by_id.get_mut(id) {
                    a.deleted = true;
                }
            }
            _ => {}
        }
    }
}

/// A command on agents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentCommand {
    Delete { agent_id: AggregateId },
}

/// Why an agent command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentRejection {
    #[error("no such agent")]
    NoSuchAgent,
    #[error("agent is already deleted")]
    AlreadyDeleted,
}

/// The agent decider.
pub struct AgentDecider;

impl Decider for AgentDecider {
    type State = Agents;
    type Command = AgentCommand;
    type Rejection = AgentRejection;

    fn decide(agents: &Agents, command: &AgentCommand) -> Result<Vec<Emitted>, AgentRejection> {
        let AgentCommand::Delete { agent_id } = command;
        match agents.by_id.get(agent_id) {
            None => Err(AgentRejection::NoSuchAgent),
            Some(a) if a.deleted => Err(AgentRejection::AlreadyDeleted),
            Some(_) => Ok(vec![Emitted::new(
                agent_id.clone(),
                Event::AgentDeleted(AgentDeleted {}),
            )]),
        }
    }

    fn evolve(agents: &mut Agents, id: &AggregateId, event: &Event) {
        agents.apply(id, event);
    }
}

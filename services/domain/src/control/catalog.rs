//! The resource catalog's wire types and the combined fold.
//!
//! [`AgentHeartbeat`] is what an agent publishes on `bamf.hb.agent.<id>`
//! (stream `BAMF_HEARTBEATS`, last message per subject); [`CatalogResource`]
//! is a resource as listings and RBAC see it. [`Catalog`] folds agent events,
//! heartbeats and the subject delete markers JetStream leaves when a
//! heartbeat's TTL runs out into one value; it is a thin wrapper over
//! [`Agents`] and [`HeartbeatTable`] (see [`super::heartbeats`], which holds
//! the logic and follows each heartbeat's own TTL).
//!
//! Heartbeats carry names, types and labels only: host and port stay in the
//! agent's own configuration (it proxies only what it was configured for).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use time::{Duration, PrimitiveDateTime};

use super::agents::Agents;
use super::heartbeats::{self, HeartbeatTable};
use super::labels::{
    validate_label_key, validate_label_value, validate_resource_name, SyntaxError,
};
use super::rbac::Principal;
use super::roles::Roles;
use crate::events::Event;
use crate::subject::validate_token;
use crate::{AggregateId, Timestamp};

pub use super::heartbeats::{Applied, LiveAgent};

/// Most resources one heartbeat may advertise.
pub const MAX_RESOURCES_PER_AGENT: usize = 1_024;
/// Most labels per resource.
pub const MAX_RESOURCE_LABELS: usize = 64;

/// What an agent publishes on `bamf.hb.agent.<agent_id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentHeartbeat {
    pub agent_id: AggregateId,
    pub sent_at: Timestamp,
    pub resources: Vec<AdvertisedResource>,
}

/// One resource an agent can reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvertisedResource {
    pub name: String,
    /// `ssh`, `postgres`, `mysql`, `kubernetes`, `http`, `tcp`…
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Why a heartbeat was ignored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeartbeatError {
    #[error("{0} resources (at most {MAX_RESOURCES_PER_AGENT})")]
    TooManyResources(usize),
    #[error("resource name {name:?} {source}")]
    InvalidName {
        name: String,
        #[source]
        source: SyntaxError,
    },
    #[error("resource {name:?} type {kind:?} is not a lowercase token")]
    InvalidType { name: String, kind: String },
    #[error("resource {name:?} label {key:?}={value:?} {source}")]
    InvalidLabel {
        name: String,
        key: String,
        value: String,
        #[source]
        source: SyntaxError,
    },
    #[error("resource {name:?} has {count} labels (at most {MAX_RESOURCE_LABELS})")]
    TooManyLabels { name: String, count: usize },
    #[error("resource {0:?} is advertised twice")]
    Duplicate(String),
}

impl AgentHeartbeat {
    /// Checks every resource; a heartbeat that fails is ignored whole.
    pub fn validate(&self) -> Result<(), HeartbeatError> {
        if self.resources.len() > MAX_RESOURCES_PER_AGENT {
            return Err(HeartbeatError::TooManyResources(self.resources.len()));
        }
        let mut seen = BTreeSet::new();
        for r in &self.resources {
            let name = r.name.clone();
            validate_resource_name(&r.name).map_err(|source| HeartbeatError::InvalidName {
                name: name.clone(),
                source,
            })?;
            if validate_token(&r.kind).is_err() || r.kind.len() > 32 {
                return Err(HeartbeatError::InvalidType {
                    name,
                    kind: r.kind.clone(),
                });
            }
            if r.labels.len() > MAX_RESOURCE_LABELS {
                return Err(HeartbeatError::TooManyLabels {
                    name,
                    count: r.labels.len(),
                });
            }
            for (key, value) in &r.labels {
                validate_label_key(key)
                    .and_then(|()| validate_label_value(value))
                    .map_err(|source| HeartbeatError::InvalidLabel {
                        name: name.clone(),
                        key: key.clone(),
                        value: value.clone(),
                        source,
                    })?;
            }
            if !seen.insert(&r.name) {
                return Err(HeartbeatError::Duplicate(name));
            }
        }
        Ok(())
    }
}

/// One input of the catalog fold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogInput {
    /// A domain event (`agent.joined`, `agent.deleted`; others are ignored).
    Event {
        aggregate_id: AggregateId,
        event: Event,
    },
    /// A heartbeat with the time the stream received it (liveness uses this,
    /// not the agent's clock).
    Heartbeat {
        heartbeat: AgentHeartbeat,
        received_at: Timestamp,
    },
    /// The delete marker of `bamf.hb.agent.<id>` (TTL ran out, or purged).
    DeleteMarker { agent_id: AggregateId },
}

/// A resource in the catalog, as listings and RBAC see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogResource {
    pub name: String,
    pub kind: String,
    /// The resource's labels overlaid with its agent's (admin-set) labels.
    pub labels: BTreeMap<String, String>,
    pub agent_id: AggregateId,
    pub agent_name: String,
}

/// The catalog state: the agent registry and the heartbeat table, joined when
/// listing. Kept for callers that fold both streams into one value and judge
/// liveness by a TTL of their own; [`HeartbeatTable`] alone follows the TTL
/// each heartbeat carried.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub agents: Agents,
    pub heartbeats: HeartbeatTable,
}

/// A [`CatalogInput::Heartbeat`] carries no TTL, so its beat is stored as
/// never expiring by itself; [`Catalog`] queries apply their `ttl` instead.
fn no_expiry() -> Timestamp {
    Timestamp::new(PrimitiveDateTime::MAX.assume_utc())
}

impl Catalog {
    /// Folds one input in. Unlike [`HeartbeatTable::apply_beat`], heartbeats
    /// of unknown or deleted agents are refused (and so lost if the join
    /// arrives later).
    pub fn apply(&mut self, input: CatalogInput) -> Applied {
        match input {
            CatalogInput::Event {
                aggregate_id,
                event,
            } => {
                self.agents.apply(&aggregate_id, &event);
                if matches!(event, Event::AgentDeleted(_)) {
                    self.heartbeats.apply_gone(&aggregate_id);
                }
                Applied::Applied
            }
            CatalogInput::Heartbeat {
                heartbeat,
                received_at,
            } => {
                match self.agents.by_id.get(&heartbeat.agent_id) {
                    None => return Applied::IgnoredUnknownAgent,
                    Some(a) if a.deleted => return Applied::IgnoredDeletedAgent,
                    Some(_) => {}
                }
                self.heartbeats
                    .apply_beat(heartbeat, received_at, no_expiry())
            }
            CatalogInput::DeleteMarker { agent_id } => {
                self.heartbeats.apply_gone(&agent_id);
                Applied::Applied
            }
        }
    }

    /// Online: joined, not deleted, heartbeat received less than `ttl` ago.
    pub fn is_online(&self, agent_id: &AggregateId, now: Timestamp, ttl: Duration) -> bool {
        self.heartbeats
            .is_online_where(&self.agents, agent_id, alive_within(now, ttl))
    }

    /// Every resource of every online agent, by name then agent id.
    pub fn resources(&self, now: Timestamp, ttl: Duration) -> Vec<CatalogResource> {
        self.heartbeats
            .resources_where(&self.agents, alive_within(now, ttl))
    }
}

/// Alive at `now`: received less than `ttl` ago and not past its own expiry.
fn alive_within(now: Timestamp, ttl: Duration) -> impl Fn(&LiveAgent) -> bool {
    move |beat| beat.expires_at > now && now.get() - beat.received_at.get() < ttl
}

/// The online resources `principal` may see (RBAC: what it may connect to; for
/// `admin` and `audit`, everything not hidden by a deny).
pub fn visible_resources(
    roles: &Roles,
    principal: &Principal,
    catalog: &Catalog,
    now: Timestamp,
    ttl: Duration,
) -> Vec<CatalogResource> {
    heartbeats::visible(roles, principal, catalog.resources(now, ttl))
}

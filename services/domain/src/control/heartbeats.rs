//! The heartbeat table: which agents are alive now and what they offer.
//!
//! It folds what the `BAMF_HEARTBEATS` stream says, and nothing else. Each
//! heartbeat comes with the time the stream stored it and the time the stream
//! will expire it (`Nats-TTL`); when it expires without a newer one the server
//! leaves a subject delete marker, which arrives here as [`HeartbeatTable::apply_gone`].
//! So liveness needs no TTL setting of its own and no polling: the marker takes
//! an agent offline, and `expires_at > now` covers the marker that has not
//! arrived yet (a replica catching up, a slow consumer).
//!
//! The table is kept apart from [`Agents`] (folded from `BAMF_EVENTS`) because
//! the two streams are read independently: a heartbeat may reach a replica
//! before the `agent.joined` event it depends on. Beats of unknown agents are
//! therefore kept, and the join of agents and beats happens when listing: only
//! known, not deleted agents ([`Agents::live`]) are ever listed.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::agents::Agents;
use super::catalog::{AdvertisedResource, AgentHeartbeat, CatalogResource, HeartbeatError};
use super::rbac::{can_view, Principal, ResourceRef};
use super::roles::Roles;
use crate::{AggregateId, Timestamp};

/// What a fold did with an input (for counters and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Stored.
    Applied,
    /// From an agent that never joined (only [`super::catalog::Catalog`]
    /// refuses these; the table keeps them).
    IgnoredUnknownAgent,
    /// From a deleted agent (only [`super::catalog::Catalog`] refuses these).
    IgnoredDeletedAgent,
    /// Not newer than the heartbeat already held (replayed or reordered).
    IgnoredStale,
    /// The heartbeat failed [`AgentHeartbeat::validate`]; it is ignored whole.
    IgnoredInvalid(HeartbeatError),
}

/// An agent's latest heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveAgent {
    /// The agent's clock when it sent the heartbeat.
    pub sent_at: Timestamp,
    /// The stream's clock when it stored the heartbeat.
    pub received_at: Timestamp,
    /// When the stream expires the heartbeat (`received_at` + its TTL).
    pub expires_at: Timestamp,
    pub resources: Vec<AdvertisedResource>,
}

/// The latest heartbeat of every agent that has one in the stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HeartbeatTable {
    pub beats: BTreeMap<AggregateId, LiveAgent>,
}

impl HeartbeatTable {
    /// Folds in a heartbeat the stream stored at `received_at` and expires at
    /// `expires_at`. Returns [`Applied::Applied`], [`Applied::IgnoredStale`] or
    /// [`Applied::IgnoredInvalid`]; an invalid beat leaves the held one alone.
    ///
    /// A beat is stale when it is not newer than the held one on either clock,
    /// the agent's (`sent_at`) or the stream's (`received_at`). Asking both to
    /// be old keeps a replayed or reordered beat out, while a clock that steps
    /// back on one side cannot pin the table to an older beat than the one the
    /// stream holds (whose TTL is the one the server's marker will follow).
    pub fn apply_beat(
        &mut self,
        heartbeat: AgentHeartbeat,
        received_at: Timestamp,
        expires_at: Timestamp,
    ) -> Applied {
        if let Err(e) = heartbeat.validate() {
            return Applied::IgnoredInvalid(e);
        }
        if let Some(held) = self.beats.get(&heartbeat.agent_id) {
            if heartbeat.sent_at <= held.sent_at && received_at <= held.received_at {
                return Applied::IgnoredStale;
            }
        }
        let live = LiveAgent {
            sent_at: heartbeat.sent_at,
            received_at,
            expires_at,
            resources: heartbeat.resources,
        };
        self.beats.insert(heartbeat.agent_id, live);
        Applied::Applied
    }

    /// Folds in the delete marker of `bamf.hb.agent.<agent_id>` (TTL ran out,
    /// or the subject was purged). Returns whether a beat was held.
    pub fn apply_gone(&mut self, agent_id: &AggregateId) -> bool {
        self.beats.remove(agent_id).is_some()
    }

    /// Online: joined, not deleted, with a heartbeat that has not expired at `now`.
    pub fn is_online(&self, agents: &Agents, agent_id: &AggregateId, now: Timestamp) -> bool {
        self.is_online_where(agents, agent_id, |beat| beat.expires_at > now)
    }

    /// Every resource of every online agent at `now`, the agent's labels over
    /// the resource's, by name then agent id.
    pub fn resources(&self, agents: &Agents, now: Timestamp) -> Vec<CatalogResource> {
        self.resources_where(agents, |beat| beat.expires_at > now)
    }

    /// [`HeartbeatTable::is_online`] with the liveness test given.
    pub(crate) fn is_online_where(
        &self,
        agents: &Agents,
        agent_id: &AggregateId,
        alive: impl Fn(&LiveAgent) -> bool,
    ) -> bool {
        agents.live(agent_id).is_some() && self.beats.get(agent_id).is_some_and(alive)
    }

    /// [`HeartbeatTable::resources`] with the liveness test given.
    pub(crate) fn resources_where(
        &self,
        agents: &Agents,
        alive: impl Fn(&LiveAgent) -> bool,
    ) -> Vec<CatalogResource> {
        self.resources_kept(agents, alive, |_, _| true)
    }

    /// The online resources that `keep` accepts (given the name and the merged
    /// labels). `keep` runs before anything is copied, so a listing that shows
    /// few of many resources copies only those.
    pub(crate) fn resources_kept(
        &self,
        agents: &Agents,
        alive: impl Fn(&LiveAgent) -> bool,
        keep: impl Fn(&str, &BTreeMap<String, String>) -> bool,
    ) -> Vec<CatalogResource> {
        let mut out = Vec::new();
        for (id, beat) in &self.beats {
            let Some(agent) = agents.live(id) else {
                continue;
            };
            if !alive(beat) {
                continue;
            }
            for r in &beat.resources {
                // Agent labels are set by an admin (via the join token); the
                // agent's own must not be able to override them.
                let labels: Cow<'_, BTreeMap<String, String>> = if agent.labels.is_empty() {
                    Cow::Borrowed(&r.labels)
                } else {
                    let mut merged = r.labels.clone();
                    for l in &agent.labels {
                        merged.insert(l.key.clone(), l.value.clone());
                    }
                    Cow::Owned(merged)
                };
                if !keep(&r.name, &labels) {
                    continue;
                }
                out.push(CatalogResource {
                    name: r.name.clone(),
                    kind: r.kind.clone(),
                    labels: labels.into_owned(),
                    agent_id: id.clone(),
                    agent_name: agent.name.clone(),
                });
            }
        }
        out.sort_by(|a, b| (&a.name, &a.agent_id).cmp(&(&b.name, &b.agent_id)));
        out
    }
}

/// The online resources `principal` may see (RBAC: what it may connect to; for
/// `admin` and `audit`, everything not hidden by a deny).
pub fn visible_resources(
    roles: &Roles,
    principal: &Principal,
    table: &HeartbeatTable,
    agents: &Agents,
    now: Timestamp,
) -> Vec<CatalogResource> {
    table.resources_kept(
        agents,
        |beat| beat.expires_at > now,
        |name, labels| can_view(roles, principal, ResourceRef { name, labels }),
    )
}

/// Keeps the resources `principal` may view.
pub(crate) fn visible(
    roles: &Roles,
    principal: &Principal,
    resources: Vec<CatalogResource>,
) -> Vec<CatalogResource> {
    resources
        .into_iter()
        .filter(|r| {
            can_view(
                roles,
                principal,
                ResourceRef {
                    name: &r.name,
                    labels: &r.labels,
                },
            )
        })
        .collect()
}

//! The agent's heartbeat: every `heartbeat_interval`, its catalog (names,
//! types and labels; never host or port) on `bamf.hb.agent.<id>` with
//! `heartbeat_ttl`, so the API sees it offline once the beats stop.

use bamf_domain::control::catalog::{AdvertisedResource, AgentHeartbeat};
use bamf_domain::{AggregateId, Timestamp};
use bamf_events::heartbeat::{publish_heartbeat, HeartbeatError};
use bamf_events::jetstream;

use crate::config::AgentConfig;

/// The catalog as advertised: labels are the agent's merged with each
/// resource's own.
pub fn advertised(config: &AgentConfig) -> Vec<AdvertisedResource> {
    config
        .resources
        .iter()
        .map(|r| AdvertisedResource {
            name: r.name.clone(),
            kind: r.kind.clone(),
            labels: config.resource_labels(r),
        })
        .collect()
}

/// Publishes one heartbeat and waits for its ack (bounded by `timeout`).
pub async fn beat(
    js: &jetstream::Context,
    agent_id: &AggregateId,
    resources: &[AdvertisedResource],
    config: &AgentConfig,
) -> Result<u64, HeartbeatError> {
    let heartbeat = AgentHeartbeat {
        agent_id: agent_id.clone(),
        sent_at: Timestamp::new(time::OffsetDateTime::now_utc()),
        resources: resources.to_vec(),
    };
    tokio::time::timeout(
        config.request_timeout,
        publish_heartbeat(js, &heartbeat, config.heartbeat_ttl),
    )
    .await
    .unwrap_or(Err(HeartbeatError::TimedOut))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ResourceConfig;

    #[test]
    fn the_catalog_carries_no_host_or_port() {
        let config = AgentConfig {
            labels: [("env".to_string(), "prod".to_string())].into(),
            resources: vec![ResourceConfig {
                name: "db".into(),
                kind: "postgres".into(),
                host: "10.0.0.5".into(),
                port: 5432,
                labels: [("env".to_string(), "dev".to_string())].into(),
            }],
            ..AgentConfig::default()
        };
        let catalog = advertised(&config);
        let json = serde_json::to_string(&catalog).unwrap();
        assert!(
            !json.contains("10.0.0.5") && !json.contains("5432"),
            "{json}"
        );
        assert_eq!(
            catalog[0].labels["env"], "dev",
            "a resource's own label wins"
        );
    }
}

//! Agent heartbeats against a real nats-server: publish with a TTL, the feed
//! of current heartbeats, replacement, expiry into a delete marker, and bad
//! input that is skipped without stopping the feed.

mod common;

use std::time::Duration;

use anyhow::{bail, Context};
use async_nats::header::{self, HeaderMap};
use bamf_domain::control::catalog::{AdvertisedResource, AgentHeartbeat};
use bamf_domain::{AggregateId, Timestamp};
use bamf_events::heartbeat::{parse_nats_ttl, MessageTtl, MAX_HEARTBEAT_BYTES};
use bamf_events::{
    agent_heartbeat_subject, jetstream, publish_heartbeat, HeartbeatError, HeartbeatFeed,
    HeartbeatItem,
};
use common::*;

/// Bound on every wait for the feed (an expiry takes about a second).
const WAIT: Duration = Duration::from_secs(10);
/// The feed's TTL for heartbeats that carry none.
const FALLBACK_TTL: Duration = Duration::from_secs(45);

fn heartbeat(agent_id: &AggregateId, resource: &str) -> AgentHeartbeat {
    AgentHeartbeat {
        agent_id: agent_id.clone(),
        sent_at: Timestamp::new(time::OffsetDateTime::now_utc()),
        resources: vec![AdvertisedResource {
            name: resource.into(),
            kind: "postgres".into(),
            labels: [("env".to_string(), "dev".to_string())].into(),
        }],
    }
}

async fn open(js: &jetstream::Context) -> anyhow::Result<HeartbeatFeed> {
    Ok(HeartbeatFeed::open(js, FALLBACK_TTL).await?)
}

async fn next(feed: &mut HeartbeatFeed) -> anyhow::Result<HeartbeatItem> {
    match tokio::time::timeout(WAIT, feed.next()).await {
        Err(_) => bail!("no heartbeat item within {WAIT:?}"),
        Ok(None) => bail!("the heartbeat feed ended"),
        Ok(Some(item)) => Ok(item?),
    }
}

/// Publishes raw bytes (with optional headers) and awaits the ack.
async fn publish_raw(
    js: &jetstream::Context,
    subject: &str,
    headers: HeaderMap,
    payload: Vec<u8>,
) -> anyhow::Result<()> {
    js.publish_with_headers(subject.to_string(), headers, payload.into())
        .await?
        .await
        .with_context(|| format!("raw publish to {subject}"))?;
    Ok(())
}

#[tokio::test]
async fn a_published_heartbeat_reaches_the_feed_with_its_expiry() -> anyhow::Result<()> {
    let n = nats().await?;
    let mut feed = open(&n.js).await?;
    let agent = id();
    let hb = heartbeat(&agent, "orders-db");
    let before = time::OffsetDateTime::now_utc();

    let seq = publish_heartbeat(&n.js, &hb, Duration::from_secs(30)).await?;
    assert!(seq > 0);

    let HeartbeatItem::Beat {
        agent_id,
        heartbeat,
        received_at,
        expires_at,
    } = next(&mut feed).await?
    else {
        bail!("expected a beat");
    };
    assert_eq!(agent_id, agent);
    assert_eq!(heartbeat, hb);
    assert_eq!(
        expires_at.get() - received_at.get(),
        time::Duration::seconds(30)
    );
    let skew = (received_at.get() - before).abs();
    assert!(
        skew < time::Duration::seconds(5),
        "received_at is the stream's time: {skew}"
    );

    // The stored message carries the TTL header the server acted on.
    let stored =
        n.js.get_stream("BAMF_HEARTBEATS")
            .await?
            .get_last_raw_message_by_subject(&agent_heartbeat_subject(&agent))
            .await?;
    assert_eq!(stored.sequence, seq);
    assert_eq!(
        stored
            .headers
            .get(header::NATS_MESSAGE_TTL)
            .map(|v| v.as_str()),
        Some("30s")
    );
    Ok(())
}

#[tokio::test]
async fn a_later_heartbeat_replaces_the_earlier_for_a_feed_started_afterwards() -> anyhow::Result<()>
{
    let n = nats().await?;
    let (a, b) = (id(), id());
    publish_heartbeat(&n.js, &heartbeat(&a, "first"), Duration::from_secs(30)).await?;
    publish_heartbeat(&n.js, &heartbeat(&b, "other"), Duration::from_secs(30)).await?;
    let latest = heartbeat(&a, "second");
    publish_heartbeat(&n.js, &latest, Duration::from_secs(60)).await?;

    let mut feed = open(&n.js).await?;
    let mut seen = Vec::new();
    loop {
        let HeartbeatItem::Beat {
            agent_id,
            heartbeat,
            ..
        } = next(&mut feed).await?
        else {
            bail!("expected only beats");
        };
        seen.push((agent_id, heartbeat.resources[0].name.clone()));
        if feed.pending() == 0 {
            break;
        }
    }
    seen.sort();
    let mut expected = vec![(a, "second".to_string()), (b, "other".to_string())];
    expected.sort();
    assert_eq!(seen, expected, "one item per agent, the last one");
    Ok(())
}

#[tokio::test]
async fn an_expired_heartbeat_becomes_gone_without_polling() -> anyhow::Result<()> {
    let n = nats().await?;
    let mut feed = open(&n.js).await?;
    let agent = id();
    publish_heartbeat(&n.js, &heartbeat(&agent, "db"), Duration::from_secs(1)).await?;

    assert!(matches!(next(&mut feed).await?, HeartbeatItem::Beat { .. }));
    let HeartbeatItem::Gone { agent_id, reason } = next(&mut feed).await? else {
        bail!("expected the delete marker");
    };
    assert_eq!(agent_id, agent);
    assert_eq!(reason, "MaxAge");

    // A replica starting now sees the marker, not the expired beat.
    let mut late = open(&n.js).await?;
    assert!(
        matches!(next(&mut late).await?, HeartbeatItem::Gone { agent_id, .. } if agent_id == agent)
    );
    Ok(())
}

#[tokio::test]
async fn bad_messages_are_invalid_items_and_the_feed_goes_on() -> anyhow::Result<()> {
    let n = nats().await?;
    let mut feed = open(&n.js).await?;
    let other = id();
    let mismatched = serde_json::to_vec(&heartbeat(&other, "db"))?;
    let mut unknown_field = serde_json::to_value(heartbeat(&id(), "db"))?;
    unknown_field["host"] = "10.0.0.1".into();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bamf.hb.agent.x", b"not json".to_vec(), "not a heartbeat"),
        ("bamf.hb.agent.x", b"{}".to_vec(), "not a heartbeat"),
        (
            "bamf.hb.agent.x",
            serde_json::to_vec(&unknown_field)?,
            "unknown field",
        ),
        ("bamf.hb.agent.x", mismatched, "does not match"),
        ("bamf.hb.agent.x", vec![], "empty payload"),
        (
            "bamf.hb.agent.x",
            vec![b' '; MAX_HEARTBEAT_BYTES + 1],
            "bytes",
        ),
        ("bamf.hb.agent.UPPER", b"{}".to_vec(), "agent id"),
        ("bamf.hb.agent.a.b", b"{}".to_vec(), "tokens after"),
    ];
    for (subject, payload, expected) in cases {
        // One at a time: the stream keeps one message per subject, so a
        // second publish could replace the first before the feed reads it.
        publish_raw(&n.js, subject, HeaderMap::new(), payload).await?;
        match next(&mut feed).await? {
            HeartbeatItem::Invalid {
                subject: got,
                reason,
            } => {
                assert_eq!(got, subject);
                assert!(reason.contains(expected), "{subject}: {reason}");
            }
            item => bail!("{subject}: expected invalid, got {item:?}"),
        }
    }

    // Still going: a beat without a Nats-TTL gets the feed's fallback expiry.
    let agent = id();
    let hb = heartbeat(&agent, "db");
    publish_raw(
        &n.js,
        &agent_heartbeat_subject(&agent),
        HeaderMap::new(),
        serde_json::to_vec(&hb)?,
    )
    .await?;
    let HeartbeatItem::Beat {
        heartbeat,
        received_at,
        expires_at,
        ..
    } = next(&mut feed).await?
    else {
        bail!("expected a beat after the bad input");
    };
    assert_eq!(heartbeat, hb);
    assert_eq!(
        expires_at.get() - received_at.get(),
        time::Duration::try_from(FALLBACK_TTL)?
    );
    Ok(())
}

#[tokio::test]
async fn publishing_refuses_bad_input_and_sends_nothing() -> anyhow::Result<()> {
    let n = nats().await?;
    let agent = id();
    let short =
        publish_heartbeat(&n.js, &heartbeat(&agent, "db"), Duration::from_millis(500)).await;
    assert!(
        matches!(short, Err(HeartbeatError::TtlTooShort(_))),
        "{short:?}"
    );
    let mut bad = heartbeat(&agent, "db");
    bad.resources.push(bad.resources[0].clone());
    let dup = publish_heartbeat(&n.js, &bad, Duration::from_secs(30)).await;
    assert!(
        matches!(dup, Err(HeartbeatError::Invalid { .. })),
        "{dup:?}"
    );

    let info = n.js.get_stream("BAMF_HEARTBEATS").await?.get_info().await?;
    assert_eq!(info.state.messages, 0, "nothing reached the stream");
    Ok(())
}

#[test]
fn nats_ttl_values_parse_as_the_server_reads_them() {
    let after = |s| Some(MessageTtl::After(Duration::from_secs(s)));
    assert_eq!(parse_nats_ttl("30s"), after(30));
    assert_eq!(parse_nats_ttl("30"), after(30));
    assert_eq!(parse_nats_ttl("1m"), after(60));
    assert_eq!(parse_nats_ttl("5m0s"), after(300));
    assert_eq!(parse_nats_ttl("1h30m"), after(5_400));
    assert_eq!(
        parse_nats_ttl("1.5s"),
        after(1),
        "truncated to whole seconds"
    );
    assert_eq!(parse_nats_ttl("2500ms"), after(2));
    assert_eq!(parse_nats_ttl(" 10s "), after(10));
    assert_eq!(parse_nats_ttl("never"), Some(MessageTtl::Never));
    assert_eq!(parse_nats_ttl("NEVER"), Some(MessageTtl::Never));
    for bad in [
        "", "0", "0s", "500ms", "-5s", "-5", "s", "5x", "1..5s", "abc", "5 s",
    ] {
        assert_eq!(parse_nats_ttl(bad), None, "{bad:?}");
    }
}

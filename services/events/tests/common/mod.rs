//! Shared test helpers: a real nats-server with the bamf streams, and envelopes.

#![allow(dead_code)]

use bamf_domain::events::*;
use bamf_domain::{Actor, AggregateId, Envelope, Event, Timestamp};
use bamf_events::{ensure_streams, jetstream, EventLog, LogConfig, StreamOptions};
use bamf_testkit::NatsServer;

pub struct Nats {
    pub server: NatsServer,
    pub js: jetstream::Context,
    pub log: EventLog,
}

pub async fn nats() -> anyhow::Result<Nats> {
    let server = NatsServer::start().await?;
    let client = bamf_events::connect(server.url()).await?;
    let js = jetstream::new(client);
    ensure_streams(&js, &StreamOptions::default()).await?;
    let log = EventLog::new(js.clone(), LogConfig::default());
    Ok(Nats { server, js, log })
}

pub fn id() -> AggregateId {
    AggregateId::from_ulid(ulid::Ulid::new())
}

pub fn envelope(aggregate_id: &AggregateId, event: Event) -> Envelope {
    Envelope::new(
        ulid::Ulid::new(),
        Timestamp::from_unix_micros(1_790_000_000_000_000),
        Actor::system(),
        aggregate_id.clone(),
        event,
    )
}

pub fn user_created(email: &str) -> Event {
    Event::UserCreated(UserCreated {
        email: email.into(),
        display_name: email.into(),
        roles: vec!["everyone".into()],
    })
}

pub fn session_requested(user: &AggregateId) -> Event {
    Event::SessionRequested(SessionRequested {
        user_id: user.clone(),
        resource: "orders-db".into(),
        resource_type: "postgres".into(),
    })
}

pub fn session_closed(bytes: u64) -> Event {
    Event::SessionClosed(SessionClosed {
        bytes_up: bytes,
        bytes_down: bytes,
        reason: "done".into(),
    })
}

pub async fn message_count(js: &jetstream::Context, stream: &str) -> anyhow::Result<u64> {
    Ok(js
        .get_stream(stream)
        .await?
        .get_info()
        .await?
        .state
        .messages)
}

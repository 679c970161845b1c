//! The session broker through the real API on real NATS and PostgreSQL:
//! `POST /connect` refusals — a resource nobody advertises or the caller may
//! not see (404, one answer, nothing recorded), RBAC denial (403,
//! `session.requested` + `session.denied`, an `access.denied` audit record),
//! no live bridge (503), an agent that is silent or refuses the dial (503,
//! `session.denied` with the reason) — and `GET`/`DELETE /sessions`.
//! The agent is a joined agent whose heartbeat and dial subscriber the test
//! plays; the bridge is a published bridge heartbeat.

mod common;

use std::time::Duration;

use bamf_domain::events::Event;
use bamf_domain::tunnel::{BridgeHeartbeat, DialCommand, DialCsr};
use bamf_domain::{AggregateId, Envelope, Timestamp};
use bamf_events::commands::{self, agent_command_subject, Commands, Refusal, Reply};
use bamf_events::feed::{last_sequence, Feed};
use bamf_events::streams::EVENTS_STREAM;
use bamf_pki::KeyAndCsr;
use common::{Backends, Client};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);
/// Pause between probes of a real signal (a probe, not a sleep in place of one).
const PROBE_INTERVAL: Duration = Duration::from_millis(20);

fn now() -> Timestamp {
    Timestamp::new(time::OffsetDateTime::now_utc())
}

/// Every event appended to BAMF_EVENTS after `after`.
async fn events_after(js: &bamf_events::jetstream::Context, after: u64) -> Vec<Envelope> {
    let last = last_sequence(js, EVENTS_STREAM).await.unwrap();
    if last <= after {
        return Vec::new();
    }
    let mut feed = Feed::open(js, EVENTS_STREAM, None, after + 1)
        .await
        .unwrap();
    let mut out = Vec::new();
    loop {
        let item = tokio::time::timeout(WAIT, feed.next())
            .await
            .expect("the stream delivers in time")
            .expect("the feed goes on")
            .expect("readable");
        out.push(item.decoded.expect("a valid event"));
        if item.seq >= last {
            return out;
        }
    }
}

/// The session events among `events`, as (type, data) pairs.
fn session_events(events: &[Envelope]) -> Vec<(String, Value)> {
    events
        .iter()
        .filter(|e| e.event.event_type().starts_with("session."))
        .map(|e| {
            let json: Value = serde_json::from_slice(&e.encode().unwrap()).unwrap();
            (e.event.event_type().to_string(), json["data"].clone())
        })
        .collect()
}

/// An API with a joined agent advertising `orders-db` (env=prod) and `web-1`
/// (env=dev), a `dev` user allowed env=dev, and an `auditor` (role audit).
struct Setup {
    backends: Backends,
    api: common::Replica,
    admin: Client,
    dev: Client,
    auditor: Client,
    agent_id: AggregateId,
    js: bamf_events::jetstream::Context,
}

async fn setup() -> Setup {
    let backends = Backends::start().await;
    let mut config = backends.config();
    config.dial_timeout = Duration::from_secs(2);
    let api = common::Replica::start(config).await;
    let anon = api.client();
    let admin = anon.admin().await;
    let token = admin
        .post("/join-tokens", json!({"name": "edge"}))
        .await
        .expect(201);
    let key = KeyAndCsr::generate().unwrap();
    let joined = anon
        .post(
            "/agents/join",
            json!({"token": token["token"], "name": "edge-1", "csr": key.csr_pem().unwrap()}),
        )
        .await
        .expect(201);
    let agent_id = AggregateId::new(joined["agent_id"].as_str().unwrap()).unwrap();
    let js = backends.jetstream().await;
    common::advertise_two(&js, agent_id.as_str()).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while admin.get("/resources").await.expect(200)["resources"]
        .as_array()
        .unwrap()
        .len()
        < 2
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "resources never listed"
        );
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
    admin
        .post(
            "/roles",
            json!({"name": "dev", "allow": {"labels": {"env": "dev"}}}),
        )
        .await
        .expect(201);
    for (email, role) in [
        ("dev@corp.example", "dev"),
        ("auditor@corp.example", "audit"),
    ] {
        admin
            .post(
                "/users",
                json!({"email": email, "password": "a long password", "roles": [role]}),
            )
            .await
            .expect(201);
    }
    let dev = anon.login("dev@corp.example", "a long password").await;
    let auditor = anon.login("auditor@corp.example", "a long password").await;
    Setup {
        backends,
        api,
        admin,
        dev,
        auditor,
        agent_id,
        js,
    }
}

/// A heartbeat of `bridge-1` at 127.0.0.1:4433, live for a minute.
async fn publish_bridge_heartbeat(js: &bamf_events::jetstream::Context) {
    let bridge = BridgeHeartbeat {
        bridge_id: AggregateId::new("bridge-1").unwrap(),
        sent_at: now(),
        address: "127.0.0.1:4433".into(),
        server_name: "bridge.test".into(),
        sessions: 0,
        pending: 0,
        draining: false,
    };
    bamf_events::bridge_heartbeat::publish_bridge_heartbeat(js, &bridge, Duration::from_secs(60))
        .await
        .unwrap();
}

fn csr() -> String {
    KeyAndCsr::generate().unwrap().csr_pem().unwrap()
}

#[tokio::test]
async fn unknown_and_invisible_resources_get_one_404_and_rbac_denial_is_recorded() {
    let s = setup().await;
    let before = common::last_event_seq(&s.js).await;

    // Nobody advertises it / the caller may not see it: the same answer, and
    // nothing recorded (no name leaks into the log either).
    let unknown = s
        .dev
        .post("/connect", json!({"resource": "nope", "csr": csr()}))
        .await;
    let hidden = s
        .dev
        .post("/connect", json!({"resource": "orders-db", "csr": csr()}))
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (404, "not_found"),
        "{:?}",
        unknown.body
    );
    assert_eq!(
        (hidden.status, hidden.code()),
        (404, "not_found"),
        "{:?}",
        hidden.body
    );
    assert_eq!(common::last_event_seq(&s.js).await, before);

    // A bad CSR is the caller's mistake, before any decision.
    let bad = s
        .dev
        .post("/connect", json!({"resource": "web-1", "csr": "nope"}))
        .await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_argument"));
    assert_eq!(common::last_event_seq(&s.js).await, before);

    // audit sees every resource but may connect to none: 403, recorded.
    let denied = s
        .auditor
        .post("/connect", json!({"resource": "orders-db", "csr": csr()}))
        .await;
    assert_eq!(
        (denied.status, denied.code()),
        (403, "forbidden"),
        "{:?}",
        denied.body
    );
    let events = events_after(&s.js, before).await;
    let sessions = session_events(&events);
    assert_eq!(
        sessions.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["session.requested", "session.denied"],
        "{sessions:?}"
    );
    assert_eq!(sessions[0].1["resource"], "orders-db");
    assert_eq!(sessions[0].1["resource_type"], "postgres");
    assert_eq!(sessions[1].1["reason"], "no rule allowed it");
    assert_eq!(
        events[0].aggregate_id, events[1].aggregate_id,
        "one session aggregate"
    );
    let stream = s.js.get_stream("BAMF_AUDIT").await.unwrap();
    let record = stream
        .get_last_raw_message_by_subject("bamf.audit.access.denied")
        .await
        .unwrap();
    let record: Value = serde_json::from_slice(&record.payload).unwrap();
    assert_eq!(record["data"]["action"], "sessions.connect", "{record}");
    assert_eq!(record["data"]["target"], "orders-db", "{record}");
    assert_eq!(record["actor"]["email"], "auditor@corp.example", "{record}");
    assert_eq!(
        record["subject"]["id"],
        events[0].aggregate_id.as_str(),
        "{record}"
    );

    // Nothing is open.
    let open = s.admin.get("/sessions").await.expect(200);
    assert_eq!(open["sessions"], json!([]), "{open}");
    s.api.stop().await;
}

#[tokio::test]
async fn without_a_bridge_or_an_answering_agent_the_session_is_denied_with_503() {
    let s = setup().await;
    let before = common::last_event_seq(&s.js).await;

    // No bridge has a heartbeat.
    let none = s
        .dev
        .post("/connect", json!({"resource": "web-1", "csr": csr()}))
        .await;
    assert_eq!(
        (none.status, none.code()),
        (503, "unavailable"),
        "{:?}",
        none.body
    );
    assert!(none.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no bridge"));
    let sessions = session_events(&events_after(&s.js, before).await);
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(
        sessions[1],
        (
            "session.denied".to_string(),
            json!({"reason": "no live bridge"})
        )
    );

    // A live bridge; the agent does not listen for dials yet. Probe until the
    // API has the bridge (its answer changes), bounded.
    publish_bridge_heartbeat(&s.js).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let silent = loop {
        let answer = s
            .dev
            .post("/connect", json!({"resource": "web-1", "csr": csr()}))
            .await;
        let message = answer.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if !message.contains("no bridge") {
            break answer;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bridge never became live"
        );
        tokio::time::sleep(PROBE_INTERVAL).await;
    };
    assert_eq!(
        (silent.status, silent.code()),
        (503, "unavailable"),
        "{:?}",
        silent.body
    );
    assert!(
        silent.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is not listening for dials"),
        "{:?}",
        silent.body
    );

    // The agent refuses (as a real one does for a resource it does not have).
    let nats = bamf_events::connect(s.backends.nats.url()).await.unwrap();
    let mut dials: Commands<DialCommand> =
        Commands::subscribe(&nats, agent_command_subject(&s.agent_id, "dial"))
            .await
            .unwrap();
    nats.flush().await.unwrap();
    let agent = tokio::spawn(async move {
        let inbound = dials.next().await.expect("a dial");
        let dial = inbound.command.expect("a valid dial command");
        let refusal = Refusal {
            code: "unknown_resource".into(),
            message: format!("{} is not configured here", dial.resource),
        };
        commands::answer::<DialCsr>(&nats, inbound.reply_to.unwrap(), &Reply::Error(refusal))
            .await
            .unwrap();
        // The answer is buffered: send it before the client is dropped.
        nats.flush().await.unwrap();
        dial
    });
    // The subscription reaches the server's interest graph asynchronously:
    // until it has, the API is told "no responders". Probe on that answer.
    let deadline = tokio::time::Instant::now() + WAIT;
    let (refused, before) = loop {
        let before = common::last_event_seq(&s.js).await;
        let answer = s
            .dev
            .post("/connect", json!({"resource": "web-1", "csr": csr()}))
            .await;
        let message = answer.body["error"]["message"].as_str().unwrap_or("");
        if !message.contains("is not listening") {
            break (answer, before);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent's dial subscription never took effect"
        );
        tokio::time::sleep(PROBE_INTERVAL).await;
    };
    assert_eq!(
        (refused.status, refused.code()),
        (503, "unavailable"),
        "{:?}",
        refused.body
    );
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("edge-1") && message.contains("refused"),
        "{message}"
    );
    let dial = agent.await.unwrap();
    assert_eq!(dial.resource, "web-1");
    assert_eq!(dial.bridge_id.as_str(), "bridge-1");
    assert_eq!(dial.bridge_addr, "127.0.0.1:4433");
    let events = events_after(&s.js, before).await;
    let sessions = session_events(&events);
    assert_eq!(sessions[0].0, "session.requested");
    assert_eq!(sessions[1].0, "session.denied");
    assert!(
        sessions[1].1["reason"]
            .as_str()
            .unwrap()
            .contains("unknown_resource"),
        "{sessions:?}"
    );
    assert_eq!(
        events[0].aggregate_id, dial.session_id,
        "the dial names the session"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.event, Event::CertIssued(_))),
        "no certificate recorded"
    );

    // Unknown sessions can't be killed; only admins may try.
    let missing = s
        .admin
        .delete(&format!("/sessions/{}", dial.session_id))
        .await;
    assert_eq!((missing.status, missing.code()), (404, "not_found"));
    let not_admin = s.dev.delete("/sessions/whatever").await;
    assert_eq!((not_admin.status, not_admin.code()), (403, "forbidden"));
    assert_eq!(
        s.dev.get("/sessions").await.expect(200)["sessions"],
        json!([])
    );
    s.api.stop().await;
}

#[tokio::test]
async fn a_caller_that_hangs_up_mid_dial_still_leaves_a_decided_session() {
    let s = setup().await;
    publish_bridge_heartbeat(&s.js).await;
    let nats = bamf_events::connect(s.backends.nats.url()).await.unwrap();
    let mut dials: Commands<DialCommand> =
        Commands::subscribe(&nats, agent_command_subject(&s.agent_id, "dial"))
            .await
            .unwrap();
    nats.flush().await.unwrap();

    // Until the bridge is live and the subscription has reached the server,
    // a connect is answered at once (503) and nothing reaches the agent;
    // the first one that reaches it is the caller that hangs up.
    let deadline = tokio::time::Instant::now() + WAIT;
    let (inbound, before) = loop {
        let before = common::last_event_seq(&s.js).await;
        let dev = s.dev.clone();
        let mut caller = tokio::spawn(async move {
            dev.post("/connect", json!({"resource": "web-1", "csr": csr()}))
                .await
        });
        tokio::select! {
            inbound = dials.next() => {
                caller.abort();
                assert!(caller.await.unwrap_err().is_cancelled());
                break (inbound.expect("a dial"), before);
            }
            answered = &mut caller => {
                let answered = answered.unwrap();
                assert_eq!(answered.status, 503, "{:?}", answered.body);
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no dial ever reached the agent"
        );
        tokio::time::sleep(PROBE_INTERVAL).await;
    };
    // The caller is gone; the agent answers only now.
    let refusal = Refusal {
        code: "busy".into(),
        message: "too many sessions".into(),
    };
    commands::answer::<DialCsr>(&nats, inbound.reply_to.unwrap(), &Reply::Error(refusal))
        .await
        .unwrap();
    nats.flush().await.unwrap();

    let deadline = tokio::time::Instant::now() + WAIT;
    let sessions = loop {
        let sessions = session_events(&events_after(&s.js, before).await);
        if sessions.len() >= 2 {
            break sessions;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session stayed requested: {sessions:?}"
        );
        tokio::time::sleep(PROBE_INTERVAL).await;
    };
    assert_eq!(sessions[0].0, "session.requested");
    assert_eq!(sessions[1].0, "session.denied", "{sessions:?}");
    assert!(
        sessions[1].1["reason"].as_str().unwrap().contains("busy"),
        "{sessions:?}"
    );
    assert_eq!(
        s.admin.get("/sessions").await.expect(200)["sessions"],
        json!([]),
        "no session is left open"
    );
    s.api.stop().await;
}

//! Bridge memory per idle paired session: the `bamf-bridge` binary in its
//! own process; its resident set (`VmRSS`) idle, then with `sessions` paired
//! sessions open and idle. The benchmark plays both ends, as the bridge
//! tests do: for each session it mints a client and an agent session
//! certificate with the CA, connects both (4 000 QUIC connections for
//! 2 000 sessions, from a few shared client endpoints), and proves the
//! pairing with one byte echoed through one stream, which then ends — so
//! what stays is what an idle paired session costs the bridge.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bamf_pki::Side;
use bamf_tunnel::{CloseCode, StreamHeader, TransportLimits};
use tokio::task::JoinSet;

use super::bridge_process::BridgeProcess;
use super::pki::{session_id, Pki, SERVER_NAME};

/// The bridge process's id.
const BRIDGE_ID: &str = "bench-idle";
/// Sessions being paired at once.
const PAIRING_CONCURRENCY: usize = 32;
/// Client UDP endpoints the connections share (quinn multiplexes many
/// connections on one socket; the bridge's side is one socket anyway).
const CLIENT_ENDPOINTS: usize = 16;
/// Bound on pairing one session, and on pairing them all.
const PAIR_TIMEOUT: Duration = Duration::from_secs(20);
const ALL_PAIRED_TIMEOUT: Duration = Duration::from_secs(120);
/// The bridge closes a paired session with no stream for this long; well
/// past the measurement.
const BRIDGE_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// Readings of the paired bridge's RSS, this far apart (deferred frees —
/// handshake state, finished streams — show in the later ones).
const SETTLE_READINGS: usize = 4;
const SETTLE_INTERVAL: Duration = Duration::from_secs(1);

/// What [`measure`] found.
pub struct Report {
    pub sessions: usize,
    pub idle_kib: u64,
    pub paired_kib: u64,
    pub closed_kib: u64,
    pub peak_kib: u64,
    pub pairing_time: Duration,
}

impl Report {
    pub fn kib_per_session(&self) -> f64 {
        self.paired_kib.saturating_sub(self.idle_kib) as f64 / self.sessions as f64
    }
}

/// Starts `binary` on `pki`'s CA (its TOML config plus `extra_config`
/// lines), pairs `sessions` sessions and reads its memory.
pub async fn measure(
    binary: &Path,
    extra_config: &[String],
    pki: &Pki,
    nats_url: &str,
    sessions: usize,
) -> anyhow::Result<Report> {
    let pki = pki.for_bridge(BRIDGE_ID);
    let dir = tempfile::tempdir()?;
    let mut config = vec![format!(
        "idle_timeout = \"{}\"",
        bamf_runtime::duration::format(BRIDGE_IDLE_TIMEOUT)
    )];
    config.extend(extra_config.iter().cloned());
    let bridge = BridgeProcess::start(binary, &pki, nats_url, &config, dir.path()).await?;
    let outcome = with_bridge(&bridge, &pki, sessions).await;
    if outcome.is_err() {
        eprintln!("bamf-bridge log: {}", bridge.log.display());
        // Keep the log to read.
        let _ = dir.keep();
    }
    bridge.stop().await?;
    outcome
}

async fn with_bridge(bridge: &BridgeProcess, pki: &Pki, sessions: usize) -> anyhow::Result<Report> {
    // The baseline: up, heartbeating, nothing connected.
    let idle_kib = bridge.rss_kib()?;
    println!("bamf-bridge pid {}: idle RSS {idle_kib} KiB", bridge.pid);

    let endpoints = (0..CLIENT_ENDPOINTS)
        .map(|_| quinn::Endpoint::client("127.0.0.1:0".parse().expect("a socket address")))
        .collect::<Result<Vec<_>, _>>()
        .context("client UDP endpoints")?;
    let started = Instant::now();
    let issued = Arc::new(AtomicUsize::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..PAIRING_CONCURRENCY {
        let (issued, pki, endpoints) = (issued.clone(), pki.clone(), endpoints.clone());
        let addr = bridge.quic;
        workers.spawn(async move {
            let mut pairs = Vec::new();
            loop {
                let i = issued.fetch_add(1, Ordering::Relaxed);
                if i >= sessions {
                    return anyhow::Ok(pairs);
                }
                anyhow::ensure!(
                    started.elapsed() < ALL_PAIRED_TIMEOUT,
                    "pairing {sessions} sessions took over {ALL_PAIRED_TIMEOUT:?}"
                );
                let (client, agent) = (
                    &endpoints[i % endpoints.len()],
                    &endpoints[(i + 1) % endpoints.len()],
                );
                let pair = tokio::time::timeout(PAIR_TIMEOUT, pair(&pki, client, agent, addr))
                    .await
                    .with_context(|| format!("session {i} not paired in {PAIR_TIMEOUT:?}"))?
                    .with_context(|| format!("session {i}"))?;
                pairs.push(pair);
            }
        });
    }
    let mut pairs = Vec::with_capacity(sessions);
    while let Some(done) = workers.join_next().await {
        pairs.extend(done.context("pairing worker")??);
    }
    let pairing_time = started.elapsed();
    println!(
        "{} sessions paired in {:.1} s ({:.0}/s)",
        pairs.len(),
        pairing_time.as_secs_f64(),
        pairs.len() as f64 / pairing_time.as_secs_f64()
    );

    let mut readings = Vec::with_capacity(SETTLE_READINGS);
    for i in 0..SETTLE_READINGS {
        if i > 0 {
            tokio::time::sleep(SETTLE_INTERVAL).await;
        }
        readings.push(bridge.rss_kib()?);
    }
    println!("bamf-bridge RSS with {sessions} idle paired sessions, 1 s apart: {readings:?} KiB");
    let paired_kib = *readings.last().expect("SETTLE_READINGS > 0");
    let peak_kib = bridge.peak_kib()?;
    // Every session still up: no connection was closed under us.
    let dead = pairs
        .iter()
        .filter(|(c, a)| c.close_reason().is_some() || a.close_reason().is_some())
        .count();
    anyhow::ensure!(dead == 0, "{dead} sessions closed while idle");

    // Clients leave; the bridge closes every agent side.
    for (client, _) in &pairs {
        client.close(CloseCode::Normal.varint(), b"bench done");
    }
    tokio::time::timeout(PAIR_TIMEOUT, async {
        for (_, agent) in &pairs {
            agent.closed().await;
        }
    })
    .await
    .context("the bridge closes the agent sides once the clients leave")?;
    for endpoint in &endpoints {
        let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    }
    let closed_kib = bridge.rss_kib()?;
    Ok(Report {
        sessions: pairs.len(),
        idle_kib,
        paired_kib,
        closed_kib,
        peak_kib,
        pairing_time,
    })
}

/// One session: both sides connected with fresh session certificates, one
/// byte echoed through one stream (which then ends on both sides).
async fn pair(
    pki: &Pki,
    client_endpoint: &quinn::Endpoint,
    agent_endpoint: &quinn::Endpoint,
    bridge: std::net::SocketAddr,
) -> anyhow::Result<(quinn::Connection, quinn::Connection)> {
    let session = session_id();
    let config = |side| -> anyhow::Result<quinn::ClientConfig> {
        let tls = pki.client_tls(&pki.session(&session, side)?)?;
        Ok(bamf_tunnel::client_config(
            tls,
            &TransportLimits::default(),
        )?)
    };
    let client = client_endpoint.connect_with(config(Side::Client)?, bridge, SERVER_NAME)?;
    let agent = agent_endpoint.connect_with(config(Side::Agent)?, bridge, SERVER_NAME)?;
    let (client, agent) = tokio::try_join!(client, agent)?;

    let ask = async {
        let (mut send, mut recv) = client.open_bi().await?;
        let mut first = StreamHeader::TCP.encode().to_vec();
        first.push(b'!');
        send.write_all(&first).await?;
        send.finish()?;
        let echoed = recv.read_to_end(16).await?;
        anyhow::ensure!(echoed == b"!", "echoed {echoed:?}");
        anyhow::Ok(())
    };
    let echo = async {
        let (mut send, mut recv) = agent.accept_bi().await?;
        let header = StreamHeader::read_from(&mut recv).await?;
        anyhow::ensure!(header == StreamHeader::TCP, "header {header:?}");
        let got = recv.read_to_end(16).await?;
        send.write_all(&got).await?;
        send.finish()?;
        anyhow::Ok(())
    };
    tokio::try_join!(ask, echo)?;
    Ok((client, agent))
}

//! Session set-up latency: from `POST /api/v1/connect` sent to the first
//! byte echoed back through the new tunnel, with `concurrency` clients in a
//! closed loop. Each set-up is what bamfctl does (fresh key, `/connect`,
//! `Tunnel::open`) plus one stream with the bamf/1 header and one byte,
//! which the bridge relays to the agent, which connects to the echo target.
//! The tunnel is closed afterwards, off the clock.
//!
//! Baselines at the same concurrency: a new connection through the TLS
//! relays of [`super::relays`] to the same echo target (TCP connect, two
//! mutual TLS 1.3 handshakes with the same certificate types and checks, the
//! target's TCP connect, one byte echoed) — the data-path set-up bamf does
//! too, without the control plane; and, as diagnostics, the same through the
//! plain TCP relays and one authenticated `GET /auth/whoami` (the least an
//! API round trip costs).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bamf_tunnel::StreamHeader;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;

use super::path::{DataPath, ECHO};
use super::relays::Relays;
use crate::stack::Client;
use crate::stats::Latencies;

/// Bound on one set-up.
const SETUP_TIMEOUT: Duration = Duration::from_secs(20);
/// Set-ups measured one at a time (uncontended latency, a diagnostic).
const ALONE: usize = 20;
/// Bound on each closed loop.
const LOOP_MAX: Duration = Duration::from_secs(60);

/// What [`measure`] found.
pub struct Report {
    /// `/connect` sent → first byte echoed.
    pub bamf: Latencies,
    /// `/connect` sent → answered.
    pub answered: Latencies,
    /// `/connect` sent → QUIC connection established.
    pub opened: Latencies,
    /// `/connect` sent → first byte echoed / answered / QUIC open, one
    /// set-up at a time.
    pub alone: Latencies,
    pub alone_answered: Latencies,
    pub alone_opened: Latencies,
    /// CPU time per set-up of this process (API, bridge, agent, client) and
    /// the stack's nats-server, at `concurrency` at once.
    pub bamf_cpu: Duration,
    /// The same for the TLS relay set-ups (this process only does work).
    pub tls_cpu: Duration,
    pub tls: Latencies,
    /// TLS relay set-ups one at a time.
    pub tls_alone: Latencies,
    pub tcp: Latencies,
    pub whoami: Latencies,
}

/// Runs `count` set-ups of each kind, `concurrency` at a time, after a
/// warm-up of `concurrency` each.
pub async fn measure(
    path: &Arc<DataPath>,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<Report> {
    // One keep-alive API connection per client, as for the `whoami` baseline.
    let clients = (0..concurrency)
        .map(|_| path.admin.with_own_connection())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let run_bamf = |n: usize| {
        let (path, clients) = (path.clone(), clients.clone());
        closed_loop(n, concurrency, move |worker| {
            let (path, client) = (path.clone(), clients[worker].clone());
            async move { bamf_setup(&path, &client).await }
        })
    };
    let nats = crate::mem::children_named("nats-server");
    let stack_cpu = || {
        let nats: Duration = nats
            .iter()
            .filter_map(|&pid| crate::mem::pid_cpu(pid))
            .sum();
        crate::mem::process_cpu().unwrap_or_default() + nats
    };
    run_bamf(concurrency).await?;
    let cpu = stack_cpu();
    let phases = run_bamf(count).await?;
    let bamf_cpu = (stack_cpu() - cpu) / count as u32;
    let alone = {
        let (path, client) = (path.clone(), clients[0].clone());
        closed_loop(ALONE, 1, move |_| {
            let (path, client) = (path.clone(), client.clone());
            async move { bamf_setup(&path, &client).await }
        })
        .await?
    };

    let relay_setups = |relays: Arc<Relays>, n: usize| {
        closed_loop(n, concurrency, move |_| {
            let relays = relays.clone();
            async move { relay_setup(&relays).await }
        })
    };
    let tls = Arc::new(Relays::tls(&path.pki, path.echo.addr).await?);
    relay_setups(tls.clone(), concurrency).await?;
    let tls_alone = closed_loop(ALONE, 1, {
        let tls = tls.clone();
        move |_| {
            let tls = tls.clone();
            async move { relay_setup(&tls).await }
        }
    })
    .await?;
    let cpu = stack_cpu();
    let tls = relay_setups(tls, count).await?;
    let tls_cpu = (stack_cpu() - cpu) / count as u32;
    let tcp = Arc::new(Relays::tcp(path.echo.addr).await?);
    relay_setups(tcp.clone(), concurrency).await?;
    let tcp = relay_setups(tcp, count).await?;

    // The same clients (connections made already), the same closed loop.
    let run_whoami = |n: usize| {
        let clients = clients.clone();
        closed_loop(n, concurrency, move |worker| {
            let client = clients[worker].clone();
            async move {
                let start = Instant::now();
                let status = client.status("/auth/whoami").await?;
                anyhow::ensure!(status == 200, "whoami answered {status}");
                Ok(start.elapsed())
            }
        })
    };
    run_whoami(concurrency).await?;
    let whoami = run_whoami(count).await?;

    Ok(Report {
        bamf: Latencies::new(phases.iter().map(|p| p.0).collect()),
        answered: Latencies::new(phases.iter().map(|p| p.1).collect()),
        opened: Latencies::new(phases.iter().map(|p| p.2).collect()),
        alone: Latencies::new(alone.iter().map(|p| p.0).collect()),
        alone_answered: Latencies::new(alone.iter().map(|p| p.1).collect()),
        alone_opened: Latencies::new(alone.iter().map(|p| p.2).collect()),
        bamf_cpu,
        tls_cpu,
        tls: Latencies::new(tls),
        tls_alone: Latencies::new(tls_alone),
        tcp: Latencies::new(tcp),
        whoami: Latencies::new(whoami),
    })
}

/// One set-up as bamfctl does it, then one byte echoed through a stream;
/// answers (first byte, `/connect` answered, QUIC open) from `POST /connect`
/// sent. The tunnel is closed in the background: closing waits for the
/// bridge to hear it, which is no part of the set-up.
async fn bamf_setup(
    path: &DataPath,
    client: &Client,
) -> anyhow::Result<(Duration, Duration, Duration)> {
    let opened = path.connect(client, ECHO).await?;
    let (mut send, mut recv) = opened.tunnel.connection().open_bi().await?;
    let mut first = StreamHeader::TCP.encode().to_vec();
    first.push(b'!');
    send.write_all(&first).await?;
    let mut echoed = [0u8; 1];
    recv.read_exact(&mut echoed).await.context("the echo")?;
    let total = opened.started.elapsed();
    anyhow::ensure!(&echoed == b"!", "echoed {echoed:?}");
    let tunnel = opened.tunnel;
    tokio::spawn(async move { tunnel.close().await });
    Ok((total, opened.answered, opened.opened))
}

/// A new connection through `relays` and one byte echoed.
async fn relay_setup(relays: &Relays) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut stream = relays.connect().await?;
    stream.write_all(b"!").await?;
    let mut echoed = [0u8; 1];
    stream.read_exact(&mut echoed).await?;
    Ok(start.elapsed())
}

/// Runs `one(worker)` `count` times in all on `concurrency` workers, back to
/// back, each bounded by [`SETUP_TIMEOUT`] and the whole by [`LOOP_MAX`];
/// answers every result, failing on the first error.
async fn closed_loop<T, F, Fut>(count: usize, concurrency: usize, one: F) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let issued = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = JoinSet::new();
    for worker in 0..concurrency {
        let (issued, one) = (issued.clone(), one.clone());
        workers.spawn(async move {
            let mut results = Vec::new();
            while issued.fetch_add(1, Ordering::Relaxed) < count {
                anyhow::ensure!(start.elapsed() < LOOP_MAX, "set-ups took over {LOOP_MAX:?}");
                let result = tokio::time::timeout(SETUP_TIMEOUT, one(worker))
                    .await
                    .with_context(|| format!("a set-up took over {SETUP_TIMEOUT:?}"))??;
                results.push(result);
            }
            anyhow::Ok(results)
        });
    }
    let mut all = Vec::with_capacity(count);
    while let Some(results) = workers.join_next().await {
        all.extend(results.context("set-up worker")??);
    }
    Ok(all)
}

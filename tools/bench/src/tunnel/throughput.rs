//! Throughput through one bamf session against the relays of
//! [`super::relays`]: the client sends `bytes` to the sink target (on one
//! stream, or split over N parallel streams of one session / N parallel
//! connections), the sink answers the count once it has read EOF, and the
//! clock stops at that answer — so every byte has crossed every hop.
//!
//! Paired rounds, the order of the three paths rotating by round; medians,
//! and ratios as the median of the per-round ratios.

use std::time::{Duration, Instant};

use anyhow::Context;
use bamf_tunnel::StreamHeader;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::path::{DataPath, SINK};
use super::relays::Relays;
use crate::mem::process_cpu;
use crate::stats::median;

/// Client write size (the splice buffer's size).
const CHUNK: usize = 64 * 1024;
/// Bytes sent on each path before the rounds (congestion windows, MTU
/// discovery, allocator warm-up).
const WARM_UP: u64 = 32 << 20;
/// Bound on one measurement.
const MEASUREMENT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bamf,
    Tls,
    Tcp,
}

const KINDS: [Kind; 3] = [Kind::Bamf, Kind::Tls, Kind::Tcp];

/// One figure: MB/s and process CPU per MB, medians over rounds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rate {
    pub mb_per_s: f64,
    pub cpu_us_per_mb: f64,
}

/// The figures for one stream count.
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    pub streams: usize,
    pub bamf: Rate,
    pub tls: Rate,
    pub tcp: Rate,
    /// Median of per-round bamf / TLS relay.
    pub vs_tls: f64,
    /// Median of per-round bamf / TCP relay.
    pub vs_tcp: f64,
}

/// What [`measure`] found.
pub struct Report {
    pub single: Figures,
    pub parallel: Figures,
    /// Loss and congestion seen by the client's QUIC connection.
    pub quic_diagnostics: String,
}

/// Runs `rounds` paired rounds of `bytes` per figure, single stream and
/// `streams` in parallel.
pub async fn measure(
    path: &DataPath,
    bytes: u64,
    streams: usize,
    rounds: usize,
) -> anyhow::Result<Report> {
    let opened = path.connect(&path.admin, SINK).await?;
    let conn = opened.tunnel.connection().clone();
    let tcp = Relays::tcp(path.sink.addr).await?;

    let run = |kind: Kind, n: usize, total: u64| {
        let conn = conn.clone();
        let tcp = &tcp;
        async move {
            // Fresh TLS relays each time: session certificates last 30 s.
            let tls = match kind {
                Kind::Tls => Some(Relays::tls(&path.pki, path.sink.addr).await?),
                _ => None,
            };
            let per_stream = total / n as u64;
            let cpu = process_cpu().context("CPU time from /proc/self/stat")?;
            let start = Instant::now();
            let transfers = (0..n).map(|_| {
                let conn = conn.clone();
                let tls = tls.as_ref();
                async move {
                    match kind {
                        Kind::Bamf => over_quic(&conn, per_stream).await,
                        Kind::Tls => over_relays(tls.expect("made above"), per_stream).await,
                        Kind::Tcp => over_relays(tcp, per_stream).await,
                    }
                }
            });
            tokio::time::timeout(
                MEASUREMENT_TIMEOUT,
                futures::future::try_join_all(transfers),
            )
            .await
            .with_context(|| format!("{kind:?} × {n} took over {MEASUREMENT_TIMEOUT:?}"))??;
            let elapsed = start.elapsed().as_secs_f64();
            let cpu = process_cpu()
                .context("CPU time")?
                .saturating_sub(cpu)
                .as_secs_f64();
            let mb = (per_stream * n as u64) as f64 / 1e6;
            anyhow::Ok(Rate {
                mb_per_s: mb / elapsed,
                cpu_us_per_mb: cpu * 1e6 / mb,
            })
        }
    };

    for kind in KINDS {
        run(kind, 1, WARM_UP).await?;
    }
    let mut report = Report {
        single: Figures::default(),
        parallel: Figures::default(),
        quic_diagnostics: String::new(),
    };
    for (figures, n) in [(&mut report.single, 1), (&mut report.parallel, streams)] {
        let mut by_round: Vec<[Rate; 3]> = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let mut rates = [Rate::default(); 3];
            for i in 0..KINDS.len() {
                let k = (i + round) % KINDS.len();
                rates[k] = run(KINDS[k], n, bytes).await?;
            }
            println!(
                "  {n} stream(s), round {}: bamf {:.0} MB/s, TLS relay {:.0} MB/s, TCP relay {:.0} MB/s",
                round + 1,
                rates[0].mb_per_s,
                rates[1].mb_per_s,
                rates[2].mb_per_s
            );
            by_round.push(rates);
        }
        let med =
            |f: &dyn Fn(&[Rate; 3]) -> f64| median(&mut by_round.iter().map(f).collect::<Vec<_>>());
        let rate = |k: usize| Rate {
            mb_per_s: med(&|r| r[k].mb_per_s),
            cpu_us_per_mb: med(&|r| r[k].cpu_us_per_mb),
        };
        *figures = Figures {
            streams: n,
            bamf: rate(0),
            tls: rate(1),
            tcp: rate(2),
            vs_tls: med(&|r| r[0].mb_per_s / r[1].mb_per_s),
            vs_tcp: med(&|r| r[0].mb_per_s / r[2].mb_per_s),
        };
    }
    let stats = conn.stats();
    report.quic_diagnostics = format!(
        "client's QUIC connection: {} packets sent, {} lost, {} congestion events, path MTU {} B, RTT {:?}",
        stats.path.sent_packets,
        stats.path.lost_packets,
        stats.path.congestion_events,
        stats.path.current_mtu,
        stats.path.rtt
    );
    opened.tunnel.close().await;
    Ok(report)
}

/// One stream of the session: the bamf/1 header, then `bytes` to the sink.
async fn over_quic(conn: &quinn::Connection, bytes: u64) -> anyhow::Result<()> {
    let (mut send, mut recv) = conn.open_bi().await?;
    send.write_all(&StreamHeader::TCP.encode()).await?;
    send_all(&mut send, bytes).await?;
    check_count(&mut recv, bytes).await
}

/// One connection through the relays.
async fn over_relays(relays: &Relays, bytes: u64) -> anyhow::Result<()> {
    let mut stream = relays.connect().await?;
    send_all(&mut stream, bytes).await?;
    check_count(&mut stream, bytes).await
}

/// Sends `bytes`, then half-closes.
async fn send_all<W: AsyncWrite + Unpin>(write: &mut W, bytes: u64) -> anyhow::Result<()> {
    let chunk = vec![0x5a_u8; CHUNK];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        write.write_all(&chunk[..n]).await?;
        left -= n as u64;
    }
    write.shutdown().await?;
    Ok(())
}

/// Reads the sink's count and checks it is `bytes`.
async fn check_count<R: AsyncRead + Unpin>(read: &mut R, bytes: u64) -> anyhow::Result<()> {
    let mut count = [0u8; 8];
    read.read_exact(&mut count)
        .await
        .context("the sink's count")?;
    let count = u64::from_be_bytes(count);
    anyhow::ensure!(count == bytes, "the sink read {count} of {bytes} bytes");
    Ok(())
}

//! A closed-loop HTTP load generator: `clients` tasks, each with its own
//! keep-alive connection, send `GET`s back to back until `requests` have been
//! sent or `max` has passed, and record every latency.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::mem::process_cpu;
use crate::stack::Client;
use crate::stats::Latencies;

/// How much load, bounded in count and in time.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub clients: usize,
    pub requests: usize,
    pub max: Duration,
}

/// What a run measured.
pub struct Outcome {
    /// Requests completed (every one answered 200).
    pub completed: usize,
    pub elapsed: Duration,
    pub latencies: Latencies,
    /// Body size of the last answer, in bytes.
    pub body_bytes: usize,
    /// CPU time of the whole process (server and clients) during the run.
    pub cpu: Duration,
}

impl Outcome {
    pub fn per_sec(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64()
    }

    /// Process CPU time per request (server and client share), in µs: less
    /// sensitive than req/s to other work on the machine.
    pub fn cpu_us_per_request(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.completed as f64
    }
}

/// Runs `load` against `GET path` (under the server root) with `template`'s
/// token; every client gets its own connection pool, so one connection each.
pub async fn run(template: &Client, path: &str, load: Load) -> anyhow::Result<Outcome> {
    run_until(template, path, load, Arc::new(AtomicBool::new(false))).await
}

/// [`run`], ending early once `stop` is set (background load).
pub async fn run_until(
    template: &Client,
    path: &str,
    load: Load,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Outcome> {
    let issued = Arc::new(AtomicUsize::new(0));
    let cpu_before = process_cpu().context("no CPU time in /proc/self/stat")?;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(load.clients);
    for _ in 0..load.clients {
        let client = template.with_own_connection()?;
        let issued = Arc::clone(&issued);
        let stop = Arc::clone(&stop);
        let path = path.to_string();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut body_bytes = 0;
            while issued.fetch_add(1, Ordering::Relaxed) < load.requests
                && start.elapsed() < load.max
                && !stop.load(Ordering::Relaxed)
            {
                let t = Instant::now();
                let response = client
                    .request(reqwest::Method::GET, &path)
                    .send()
                    .await
                    .with_context(|| format!("GET {path}"))?;
                let status = response.status().as_u16();
                let body = response.bytes().await?;
                latencies.push(t.elapsed());
                anyhow::ensure!(status == 200, "GET {path} answered {status}");
                body_bytes = body.len();
            }
            anyhow::Ok((latencies, body_bytes))
        }));
    }
    let mut all = Vec::new();
    let mut body_bytes = 0;
    for task in tasks {
        let (latencies, bytes) = task.await.context("load task")??;
        all.extend(latencies);
        body_bytes = body_bytes.max(bytes);
    }
    let elapsed = start.elapsed();
    let cpu = process_cpu()
        .context("no CPU time in /proc/self/stat")?
        .saturating_sub(cpu_before);
    Ok(Outcome {
        cpu,
        completed: all.len(),
        elapsed,
        latencies: Latencies::new(all),
        body_bytes,
    })
}

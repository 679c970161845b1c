//! The TCP targets at the far end of every path the tunnel benchmark
//! measures: a sink (reads to EOF, then answers the byte count) for
//! throughput and an echo for set-up latency. Both serve until dropped.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Read buffer of the sink and the echo.
const BUFFER: usize = 64 * 1024;

/// A target listening on loopback; its tasks end when it is dropped.
pub struct Target {
    pub addr: SocketAddr,
    _tasks: JoinSet<()>,
}

impl Target {
    /// Reads every connection to EOF, then writes the count of bytes read
    /// (8 bytes, big-endian) and closes: the sender knows every byte arrived.
    pub async fn sink() -> anyhow::Result<Target> {
        Target::serve(|tcp| async move {
            let _ = sink(tcp).await;
        })
        .await
    }

    /// Echoes every connection until the peer closes it.
    pub async fn echo() -> anyhow::Result<Target> {
        Target::serve(|tcp| async move {
            let _ = echo(tcp).await;
        })
        .await
    }

    async fn serve<F, Fut>(per_connection: F) -> anyhow::Result<Target>
    where
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("a loopback target binds")?;
        let addr = listener.local_addr()?;
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            // Connection tasks live in this set, so dropping the target ends them.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((tcp, _)) => {
                            let _ = tcp.set_nodelay(true);
                            connections.spawn(per_connection(tcp));
                        }
                        Err(_) => return,
                    },
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(Target {
            addr,
            _tasks: tasks,
        })
    }
}

async fn sink(mut tcp: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; BUFFER];
    let mut count = 0u64;
    loop {
        match tcp.read(&mut buf).await? {
            0 => break,
            n => count += n as u64,
        }
    }
    tcp.write_all(&count.to_be_bytes()).await?;
    tcp.shutdown().await
}

async fn echo(mut tcp: TcpStream) -> std::io::Result<()> {
    let (mut read, mut write) = tcp.split();
    tokio::io::copy(&mut read, &mut write).await?;
    write.shutdown().await
}

//! The baselines of the tunnel benchmark: relays built into the benchmark
//! with the same topology as bamf's data path, so the ratio isolates the
//! transport and the bridge's work.
//!
//! bamf:      client ─QUIC─▶ bridge ─QUIC─▶ agent ─TCP─▶ target
//! baseline:  client ─TCP──▶ relay  ─TCP──▶ agent relay ─TCP─▶ target
//!            (TLS mode: the first two legs are TCP + TLS 1.3)
//!
//! Every relay copies with `bamf_tunnel::splice`, bamf's own copy loop
//! (64 KiB buffer per direction, half-close passed on). In TLS mode both
//! legs are mutual TLS 1.3 with rustls and *ring*, the bridge's certificate
//! and session certificates checked by bamf's verifiers — the same crypto
//! library, configuration and checks as the QUIC path. Session resumption is
//! off on the clients: bamf makes a new key and certificate per session, so
//! it never resumes either.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use bamf_pki::Side;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::pki::{session_id, Pki, SERVER_NAME};

/// A client's stream into the relays.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

/// A relay and an agent relay in front of one target; they serve until dropped.
pub struct Relays {
    entry: SocketAddr,
    /// Set in TLS mode: how a client connects.
    client: Option<TlsConnector>,
    _tasks: JoinSet<()>,
}

impl Relays {
    /// Plain TCP on every leg.
    pub async fn tcp(target: SocketAddr) -> anyhow::Result<Relays> {
        let mut tasks = JoinSet::new();
        let agent = bind().await?;
        let agent_addr = agent.local_addr()?;
        tasks.spawn(serve(agent, move |a| async move {
            let b = connect(target).await?;
            splice_tcp(a, b).await
        }));
        let relay = bind().await?;
        let entry = relay.local_addr()?;
        tasks.spawn(serve(relay, move |a| async move {
            let b = connect(agent_addr).await?;
            splice_tcp(a, b).await
        }));
        Ok(Relays {
            entry,
            client: None,
            _tasks: tasks,
        })
    }

    /// TCP + TLS 1.3 on the client → relay and relay → agent relay legs,
    /// with certificates fresh from `pki` (session certificates are valid for
    /// 30 s: make new relays for each measurement).
    pub async fn tls(pki: &Pki, target: SocketAddr) -> anyhow::Result<Relays> {
        let server_cert = pki.bridge_cert()?;
        let acceptor = TlsAcceptor::from(Arc::new(pki.server_tls(&server_cert)?));
        let session = session_id();
        let client = connector(pki, &pki.session(&session, Side::Client)?)?;
        let relay_as_client = connector(pki, &pki.session(&session, Side::Agent)?)?;

        let mut tasks = JoinSet::new();
        let agent = bind().await?;
        let agent_addr = agent.local_addr()?;
        let agent_acceptor = acceptor.clone();
        tasks.spawn(serve(agent, move |a| {
            let acceptor = agent_acceptor.clone();
            async move {
                let a = acceptor.accept(a).await?;
                let b = connect(target).await?;
                splice_split(a, b).await
            }
        }));
        let relay = bind().await?;
        let entry = relay.local_addr()?;
        tasks.spawn(serve(relay, move |a| {
            let (acceptor, onward) = (acceptor.clone(), relay_as_client.clone());
            async move {
                let a = acceptor.accept(a).await?;
                let b = onward
                    .connect(server_name(), connect(agent_addr).await?)
                    .await?;
                splice_split(a, b).await
            }
        }));
        Ok(Relays {
            entry,
            client: Some(client),
            _tasks: tasks,
        })
    }

    /// A client connection through the relays (TLS handshake done in TLS mode).
    pub async fn connect(&self) -> anyhow::Result<Box<dyn Stream>> {
        let tcp = connect(self.entry).await?;
        Ok(match &self.client {
            None => Box::new(tcp),
            Some(tls) => Box::new(tls.connect(server_name(), tcp).await?),
        })
    }
}

fn server_name() -> ServerName<'static> {
    ServerName::try_from(SERVER_NAME).expect("SERVER_NAME is a valid DNS name")
}

fn connector(pki: &Pki, cert: &super::pki::Cert) -> anyhow::Result<TlsConnector> {
    let mut config = pki.client_tls(cert)?;
    config.resumption = rustls::client::Resumption::disabled();
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn bind() -> anyhow::Result<TcpListener> {
    TcpListener::bind("127.0.0.1:0")
        .await
        .context("a loopback relay binds")
}

async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// Accepts until dropped; each connection runs `relay` in a task of its own.
async fn serve<F, Fut>(listener: TcpListener, relay: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    connections.spawn(relay(tcp));
                }
                Err(_) => return,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn splice_tcp(a: TcpStream, b: TcpStream) -> std::io::Result<()> {
    let (a_read, a_write) = a.into_split();
    let (b_read, b_write) = b.into_split();
    bamf_tunnel::splice(a_read, a_write, b_read, b_write)
        .await
        .map(drop)
        .map_err(|(e, _)| e)
}

/// Splices streams that cannot be split without a lock (TLS).
async fn splice_split<A, B>(a: A, b: B) -> std::io::Result<()>
where
    A: AsyncRead + AsyncWrite,
    B: AsyncRead + AsyncWrite,
{
    let (a_read, a_write) = tokio::io::split(a);
    let (b_read, b_write) = tokio::io::split(b);
    bamf_tunnel::splice(a_read, a_write, b_read, b_write)
        .await
        .map(drop)
        .map_err(|(e, _)| e)
}

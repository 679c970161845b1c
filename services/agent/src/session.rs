//! One tunnel session on the agent's side (ARCHITECTURE §4 steps 3–4): a QUIC
//! connection to the bridge with the agent-side session certificate, the
//! bridge verified by the CA from the `DialCert` and its bridge id; then, for
//! every bidirectional stream the bridge opens, the bamf/1 header, a TCP
//! connection to the configured target, and a splice both ways. The session
//! ends when the bridge closes the connection (or at shutdown).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{anyhow, Context};
use bamf_domain::tunnel::{DialCert, DialCommand};
use bamf_pki::{BridgeServerVerifier, CaTrust};
use bamf_runtime::Shutdown;
use bamf_tunnel::{CloseCode, StreamHeader, TransportLimits};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tracing::{debug, warn, Instrument};

/// Where a session's streams go.
#[derive(Debug, Clone)]
pub struct SessionTarget {
    pub host: String,
    pub port: u16,
}

/// The agent's QUIC client endpoints, one per address family, opened on
/// first use and shared by all its sessions: one UDP socket and one set of
/// receive buffers, not a new endpoint (and its buffers) per session — a
/// large part of a session's set-up cost. Each session still has its own
/// connection and TLS configuration (`connect_with`).
#[derive(Debug, Default)]
pub struct Endpoints {
    v4: OnceLock<quinn::Endpoint>,
    v6: OnceLock<quinn::Endpoint>,
}

impl Endpoints {
    /// The endpoint for reaching `addr`, opened on first use (inside the
    /// runtime that drives it).
    fn for_addr(&self, addr: &SocketAddr) -> anyhow::Result<quinn::Endpoint> {
        let (slot, bind): (_, SocketAddr) = if addr.is_ipv4() {
            (&self.v4, (Ipv4Addr::UNSPECIFIED, 0).into())
        } else {
            (&self.v6, (Ipv6Addr::UNSPECIFIED, 0).into())
        };
        if let Some(endpoint) = slot.get() {
            return Ok(endpoint.clone());
        }
        let endpoint = quinn::Endpoint::client(bind).context("cannot open a UDP socket")?;
        // Two first sessions at once: one endpoint wins, the other is dropped.
        Ok(slot.get_or_init(|| endpoint).clone())
    }
}

/// Connects to the bridge and serves its streams until the connection ends.
/// Returns how many streams were accepted.
pub async fn run(
    endpoints: &Endpoints,
    command: &DialCommand,
    cert: &DialCert,
    key: PrivateKeyDer<'static>,
    target: SessionTarget,
    timeout: Duration,
    shutdown: &Shutdown,
) -> anyhow::Result<u64> {
    let trust = CaTrust::from_pem(&cert.ca_certificate).context("the dial's CA is not valid")?;
    let verifier = Arc::new(BridgeServerVerifier::new(trust, command.bridge_id.as_str()));
    let session_cert = CertificateDer::from_pem_slice(cert.certificate.as_bytes())
        .map_err(|e| anyhow!("the session certificate is not PEM: {e}"))?;
    let tls = bamf_pki::bridge_client_config(verifier, session_cert, key)
        .context("cannot build the session TLS config")?;
    let client = bamf_tunnel::client_config(tls, &TransportLimits::default())
        .context("cannot build the QUIC client config")?;

    let addr = resolve(&command.bridge_addr, timeout).await?;
    let endpoint = endpoints.for_addr(&addr)?;
    let connecting = endpoint
        .connect_with(client, addr, &command.bridge_server_name)
        .with_context(|| format!("cannot connect to bridge {addr}"))?;
    let connection = tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| anyhow!("bridge {addr} did not answer within {timeout:?}"))?
        .with_context(|| format!("QUIC handshake with bridge {addr} failed"))?;
    debug!(bridge = %addr, "connected to the bridge");

    let mut streams = 0u64;
    let target = Arc::new(target);
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.triggered() => {
                connection.close(CloseCode::Normal.varint(), CloseCode::Normal.reason().as_bytes());
                // Lets the close reach the bridge before the process ends;
                // bounded in case it is unreachable.
                let _ = tokio::time::timeout(timeout, endpoint.wait_idle()).await;
                break;
            }
            accepted = connection.accept_bi() => accepted,
        };
        match accepted {
            Ok((send, recv)) => {
                streams += 1;
                let span = tracing::debug_span!("stream", id = %send.id());
                let target = target.clone();
                shutdown.spawn(serve_stream(send, recv, target, timeout).instrument(span));
            }
            Err(e) => {
                debug!(reason = %e, "bridge closed the session");
                break;
            }
        }
    }
    // Otherwise the bridge ended the connection: nothing is left to send.
    Ok(streams)
}

async fn resolve(addr: &str, timeout: Duration) -> anyhow::Result<SocketAddr> {
    let mut found = tokio::time::timeout(timeout, tokio::net::lookup_host(addr))
        .await
        .map_err(|_| anyhow!("cannot resolve bridge address {addr} within {timeout:?}"))?
        .with_context(|| format!("cannot resolve bridge address {addr}"))?;
    found
        .next()
        .ok_or_else(|| anyhow!("bridge address {addr} resolves to nothing"))
}

/// Reads the header, connects to the target, splices. A bad header resets
/// the stream with `ProtocolError`; an unreachable target with
/// `TargetUnreachable`.
async fn serve_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    target: Arc<SessionTarget>,
    timeout: Duration,
) {
    let reset = |send: &mut quinn::SendStream, recv: &mut quinn::RecvStream, code: CloseCode| {
        // Either half may already be gone; nothing more to do then.
        let _ = send.reset(code.varint());
        let _ = recv.stop(code.varint());
    };
    match tokio::time::timeout(timeout, StreamHeader::read_from(&mut recv)).await {
        Ok(Ok(StreamHeader {
            kind: bamf_tunnel::StreamKind::Tcp,
        })) => {}
        Ok(Err(e)) => {
            warn!(error = %e, "stream refused: not a bamf/1 stream");
            return reset(&mut send, &mut recv, CloseCode::ProtocolError);
        }
        Err(_) => {
            warn!("stream refused: no header within {timeout:?}");
            return reset(&mut send, &mut recv, CloseCode::ProtocolError);
        }
    }
    let connect = TcpStream::connect((target.host.as_str(), target.port));
    let tcp = match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => {
            warn!(target = %format!("{}:{}", target.host, target.port), error = %e, "cannot reach the target");
            return reset(&mut send, &mut recv, CloseCode::TargetUnreachable);
        }
        Err(_) => {
            warn!(target = %format!("{}:{}", target.host, target.port), "target did not answer within {timeout:?}");
            return reset(&mut send, &mut recv, CloseCode::TargetUnreachable);
        }
    };
    let _ = tcp.set_nodelay(true);
    let (tcp_read, tcp_write) = tcp.into_split();
    match bamf_tunnel::splice(recv, send, tcp_read, tcp_write).await {
        Ok(moved) => debug!(up = moved.a_to_b, down = moved.b_to_a, "stream closed"),
        Err((e, moved)) => {
            debug!(error = %e, up = moved.a_to_b, down = moved.b_to_a, "stream ended with an error")
        }
    }
}

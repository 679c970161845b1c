//! The client end of a tunnel (ARCHITECTURE §4 steps 3–4): one QUIC
//! connection to the bridge named by a `/connect` answer, authenticated with
//! the session certificate, carrying one bidirectional stream per local TCP
//! connection ([`Tunnel::serve`]) or a single stream on stdin/stdout
//! ([`Tunnel::stdio`], for ssh's `ProxyCommand`).
//!
//! The bridge says why a session ended with a close code; [`TunnelError`]
//! turns it into a sentence a user can act on.

mod answer;
mod error;

pub use answer::ConnectAnswer;
pub use error::{close_message, TunnelError};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bamf_pki::{BridgeServerVerifier, CaTrust};
use bamf_tunnel::{splice, CloseCode, StreamHeader, TransportLimits};
use quinn::{Connection, ConnectionError, Endpoint};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// How long resolving the bridge's name and the QUIC handshake may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the close frame gets to reach the bridge when we end a session.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// An open session with a bridge.
pub struct Tunnel {
    endpoint: Endpoint,
    connection: Connection,
    bridge_addr: String,
}

impl Tunnel {
    /// Connects to the answer's bridge, verifying it as `bridge_id` with the
    /// answer's CA and presenting the session certificate issued for `key`.
    pub async fn open(
        answer: &ConnectAnswer,
        key: PrivateKeyDer<'static>,
        timeout: Duration,
    ) -> Result<Tunnel, TunnelError> {
        let bad = |what: String| TunnelError::BadAnswer(what);
        let trust = CaTrust::from_pem(&answer.ca_certificate)
            .map_err(|e| bad(format!("ca_certificate is not a CA certificate: {e}")))?;
        let cert = CertificateDer::from_pem_slice(answer.certificate.as_bytes())
            .map_err(|e| bad(format!("certificate is not PEM: {e}")))?;
        let verifier = Arc::new(BridgeServerVerifier::new(trust, answer.bridge_id.as_str()));
        let tls = bamf_pki::bridge_client_config(verifier, cert, key)
            .map_err(|e| bad(format!("the session certificate is not usable: {e}")))?;
        let config = bamf_tunnel::client_config(tls, &TransportLimits::default())
            .map_err(|e| bad(format!("cannot build the QUIC configuration: {e}")))?;

        let addr = &answer.bridge_addr;
        let unreachable = |cause: String| TunnelError::Unreachable {
            addr: addr.clone(),
            cause,
        };
        let resolved = resolve(addr, timeout).await.map_err(unreachable)?;
        let bind: SocketAddr = if resolved.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let endpoint = Endpoint::client(bind).map_err(TunnelError::Socket)?;
        let connecting = endpoint
            .connect_with(config, resolved, &answer.bridge_server_name)
            .map_err(|e| unreachable(e.to_string()))?;
        let connection = match tokio::time::timeout(timeout, connecting).await {
            Err(_) => {
                return Err(unreachable(format!(
                    "no answer within {} s",
                    timeout.as_secs()
                )))
            }
            Ok(Err(e)) => return Err(TunnelError::from_connection(addr, e)),
            Ok(Ok(c)) => c,
        };
        Ok(Tunnel {
            endpoint,
            connection,
            bridge_addr: addr.clone(),
        })
    }

    /// The QUIC connection (tests watch it; commands do not need it).
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Forwards every connection `listener` accepts through its own stream
    /// until the bridge ends the session. Ends `Ok` only for a normal close.
    pub async fn serve(&self, listener: TcpListener) -> Result<(), TunnelError> {
        let mut streams = JoinSet::new();
        let reason = loop {
            tokio::select! {
                closed = self.connection.closed() => break closed,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _peer)) => {
                        streams.spawn(forward(self.connection.clone(), tcp));
                    }
                    Err(e) => return Err(TunnelError::Listener(e)),
                },
                // Reap finished streams so the set stays as small as what is open.
                Some(_) = streams.join_next(), if !streams.is_empty() => {}
            }
        };
        streams.abort_all();
        self.ended(reason)
    }

    /// One stream spliced to `input`/`output` (stdin/stdout for
    /// `ProxyCommand`). Ends when both directions are done (then the session
    /// is closed normally) or when the bridge ends the session.
    pub async fn stdio<R, W>(&self, input: R, output: W) -> Result<(), TunnelError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let done = async {
            let (mut send, recv) = self.connection.open_bi().await?;
            send.write_all(&StreamHeader::TCP.encode())
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            splice(input, output, recv, send)
                .await
                .map_err(|(e, _)| e)?;
            Ok::<(), std::io::Error>(())
        };
        tokio::select! {
            closed = self.connection.closed() => self.ended(closed),
            result = done => match result {
                Ok(()) => {
                    self.close().await;
                    Ok(())
                }
                // A failed stream usually means the session went away: say why.
                Err(e) => match self.connection.close_reason() {
                    Some(reason) => self.ended(reason),
                    None => Err(TunnelError::Stream(e)),
                },
            },
        }
    }

    /// Ends the session normally and lets the bridge hear it (bounded).
    pub async fn close(&self) {
        self.connection.close(
            CloseCode::Normal.varint(),
            CloseCode::Normal.reason().as_bytes(),
        );
        let _ = tokio::time::timeout(CLOSE_GRACE, self.endpoint.wait_idle()).await;
    }

    fn ended(&self, reason: ConnectionError) -> Result<(), TunnelError> {
        match TunnelError::from_connection(&self.bridge_addr, reason) {
            TunnelError::Closed(CloseCode::Normal) => Ok(()),
            other => Err(other),
        }
    }
}

/// One local TCP connection through its own stream. Failures end this
/// connection only; the session and the other connections go on.
async fn forward(connection: Connection, tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    let Ok((mut send, recv)) = connection.open_bi().await else {
        return;
    };
    if send.write_all(&StreamHeader::TCP.encode()).await.is_err() {
        return;
    }
    let (tcp_read, tcp_write) = tcp.into_split();
    if let Err((e, _)) = splice(tcp_read, tcp_write, recv, send).await {
        if let Some(message) = error::stream_reset_message(&e) {
            eprintln!("bamfctl: a connection ended: {message}");
        }
    }
}

async fn resolve(addr: &str, timeout: Duration) -> Result<SocketAddr, String> {
    let mut found = tokio::time::timeout(timeout, tokio::net::lookup_host(addr))
        .await
        .map_err(|_| format!("cannot resolve it within {} s", timeout.as_secs()))?
        .map_err(|e| format!("cannot resolve it: {e}"))?;
    found
        .next()
        .ok_or_else(|| "it resolves to nothing".to_owned())
}

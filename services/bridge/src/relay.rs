//! A paired session: every bidirectional stream the client opens is checked
//! (the `bamf/1` header), mirrored by a stream the bridge opens to the agent,
//! and spliced both ways with back-pressure. Bytes are counted as they are
//! read, so the counts are right however a stream ends.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bamf_tunnel::{splice, CloseCode, StreamCredit, StreamHeader};
use quinn::{Connection, ConnectionError, RecvStream, SendStream};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::metrics::Metrics;

/// How long a new stream may take to send its 4-byte header.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long stream tasks get to end once both connections are closed.
const STREAMS_DRAIN: Duration = Duration::from_secs(1);

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The code both sides were closed with.
    pub code: CloseCode,
    /// `client_closed`, `agent_closed`, `killed`, `idle_timeout`, `shutdown`, …
    pub reason: &'static str,
    /// Client → agent bytes.
    pub bytes_up: u64,
    /// Agent → client bytes.
    pub bytes_down: u64,
}

/// Relays a session until a side closes, it is killed, it has had no open
/// stream for `idle_timeout`, or shutdown; then closes both sides with the
/// same code.
///
/// The client's stream limit starts small and grows with use (`credit`, up
/// to the bridge's `max_streams_per_session`).
///
/// Idle means no TCP connection in progress, not no bytes: an interactive
/// `ssh` left quiet keeps its session. (Dead peers are found by the QUIC
/// idle timeout: the bridge sends keep-alives, so only a silent peer trips it.)
pub async fn run_session(
    client: Connection,
    agent: Connection,
    mut kill: oneshot::Receiver<CloseCode>,
    stopping: tokio_util::sync::CancellationToken,
    idle_timeout: Duration,
    mut credit: StreamCredit,
    metrics: Arc<Metrics>,
) -> Ended {
    let up = Arc::new(AtomicU64::new(0));
    let down = Arc::new(AtomicU64::new(0));
    let mut streams = JoinSet::new();
    let idle = tokio::time::sleep(idle_timeout);
    tokio::pin!(idle);
    let (code, reason) = loop {
        tokio::select! {
            killed = &mut kill => match killed {
                Ok(code) => break (code, "killed"),
                // The kill switch is only dropped on shutdown.
                Err(_) => break (CloseCode::Normal, "shutdown"),
            },
            _ = stopping.cancelled() => break (CloseCode::Normal, "shutdown"),
            e = client.closed() => break ended_by(&e, "client_closed"),
            e = agent.closed() => break ended_by(&e, "agent_closed"),
            accepted = client.accept_bi() => match accepted {
                Ok((send, recv)) => {
                    streams.spawn(relay_stream(
                        send, recv, agent.clone(), up.clone(), down.clone(), metrics.clone(),
                    ));
                    credit.update(&client, streams.len());
                }
                Err(e) => break ended_by(&e, "client_closed"),
            },
            Some(_) = streams.join_next(), if !streams.is_empty() => {
                if streams.is_empty() {
                    idle.as_mut().reset(tokio::time::Instant::now() + idle_timeout);
                }
            }
            _ = &mut idle, if streams.is_empty() => break (CloseCode::IdleTimeout, "idle_timeout"),
        }
    };
    client.close(code.varint(), code.reason().as_bytes());
    agent.close(code.varint(), code.reason().as_bytes());
    // With both connections closed every stream task ends promptly.
    let drained = tokio::time::timeout(STREAMS_DRAIN, async {
        while streams.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        streams.abort_all();
    }
    Ended {
        code,
        reason,
        bytes_up: up.load(Ordering::Relaxed),
        bytes_down: down.load(Ordering::Relaxed),
    }
}

/// The code to pass on to the other side, and why the session ended.
fn ended_by(error: &ConnectionError, side_closed: &'static str) -> (CloseCode, &'static str) {
    match error {
        ConnectionError::ApplicationClosed(close) => (
            CloseCode::from_varint(close.error_code).unwrap_or(CloseCode::Normal),
            side_closed,
        ),
        ConnectionError::TimedOut => (CloseCode::IdleTimeout, "idle_timeout"),
        _ => (CloseCode::Normal, side_closed),
    }
}

/// One client stream: header, then a stream to the agent, then splice.
async fn relay_stream(
    mut client_send: SendStream,
    mut client_recv: RecvStream,
    agent: Connection,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
) {
    let header =
        match tokio::time::timeout(HEADER_TIMEOUT, StreamHeader::read_from(&mut client_recv)).await
        {
            Ok(Ok(header)) => header,
            Ok(Err(error)) => {
                metrics.protocol_error();
                tracing::debug!(error = %error, "stream refused");
                reset(&mut client_send, &mut client_recv, CloseCode::ProtocolError);
                return;
            }
            Err(_) => {
                metrics.protocol_error();
                tracing::debug!("stream refused: no header in time");
                reset(&mut client_send, &mut client_recv, CloseCode::ProtocolError);
                return;
            }
        };
    let (mut agent_send, agent_recv) = match agent.open_bi().await {
        Ok(pair) => pair,
        Err(_) => {
            reset(&mut client_send, &mut client_recv, CloseCode::Normal);
            return;
        }
    };
    if agent_send.write_all(&header.encode()).await.is_err() {
        reset(&mut client_send, &mut client_recv, CloseCode::Normal);
        return;
    }
    let mut client_recv = Counting {
        inner: client_recv,
        count: up,
    };
    let mut agent_recv = Counting {
        inner: agent_recv,
        count: down,
    };
    let spliced = splice(
        &mut client_recv,
        &mut client_send,
        &mut agent_recv,
        &mut agent_send,
    )
    .await;
    if let Err((error, _)) = spliced {
        tracing::debug!(error = %error, "stream ended with an error");
        // A reset carries a reason (the agent's "target unreachable", a
        // protocol error): pass it on to both ends instead of a bare end.
        if let Some(code) = reset_code(&error) {
            let _ = client_send.reset(code);
            let _ = agent_send.reset(code);
            let _ = client_recv.inner.stop(code);
            let _ = agent_recv.inner.stop(code);
        }
    }
}

/// The application code of a stream reset, if `error` is one.
fn reset_code(error: &std::io::Error) -> Option<quinn::VarInt> {
    match error.get_ref()?.downcast_ref::<quinn::ReadError>()? {
        quinn::ReadError::Reset(code) => Some(*code),
        _ => None,
    }
}

fn reset(send: &mut SendStream, recv: &mut RecvStream, code: CloseCode) {
    // Either may already be closed by the peer; nothing more to do then.
    let _ = send.reset(code.varint());
    let _ = recv.stop(code.varint());
}

/// A reader that adds what it reads to a shared count.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Counting<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.count.fetch_add(read as u64, Ordering::Relaxed);
        polled
    }
}

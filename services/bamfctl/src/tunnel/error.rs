//! Why a tunnel could not be opened or ended, in words for the user.

use bamf_tunnel::CloseCode;
use quinn::ConnectionError;

/// A tunnel failure, as kinds callers match on.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("the connect answer is not usable: {0}")]
    BadAnswer(String),
    #[error("cannot open a UDP socket for QUIC")]
    Socket(#[source] std::io::Error),
    #[error("cannot reach the bridge at {addr}: {cause}")]
    Unreachable { addr: String, cause: String },
    #[error("the bridge at {addr} refused the connection: {cause}")]
    Refused { addr: String, cause: String },
    /// The bridge ended the session with one of bamf's close codes.
    #[error("{}", close_message(*.0))]
    Closed(CloseCode),
    #[error("the connection to the bridge at {addr} was lost: {cause}")]
    Lost { addr: String, cause: String },
    #[error("cannot accept local connections")]
    Listener(#[source] std::io::Error),
    #[error("the tunnel stream failed")]
    Stream(#[source] std::io::Error),
}

impl TunnelError {
    /// Classifies how a connection to the bridge at `addr` ended.
    pub fn from_connection(addr: &str, e: ConnectionError) -> TunnelError {
        let addr = addr.to_owned();
        match e {
            ConnectionError::ApplicationClosed(close) => {
                match CloseCode::from_varint(close.error_code) {
                    Some(code) => TunnelError::Closed(code),
                    None => TunnelError::Lost {
                        addr,
                        cause: format!("closed with unknown code {}", close.error_code),
                    },
                }
            }
            // A TLS alert during the handshake: the bridge did not accept our
            // certificate (expired, another bridge's, another CA's) or we did
            // not accept its.
            ConnectionError::ConnectionClosed(close) => TunnelError::Refused {
                addr,
                cause: close.to_string(),
            },
            ConnectionError::TransportError(t) => TunnelError::Refused {
                addr,
                cause: t.to_string(),
            },
            ConnectionError::TimedOut => TunnelError::Unreachable {
                addr,
                cause: "no answer (QUIC timeout)".into(),
            },
            other => TunnelError::Lost {
                addr,
                cause: other.to_string(),
            },
        }
    }

    /// The close code the bridge gave, if that is how the session ended.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            TunnelError::Closed(code) => Some(*code),
            _ => None,
        }
    }
}

/// What a close code means for the person at the keyboard.
pub fn close_message(code: CloseCode) -> String {
    match code {
        CloseCode::Normal => "the session was closed".into(),
        CloseCode::PairingTimeout => {
            "the agent did not join the session in time; the agent may be offline or \
             unable to reach the bridge"
                .into()
        }
        CloseCode::DuplicateSide => {
            "this session is already connected from elsewhere; ask for a new session".into()
        }
        CloseCode::SessionFinished => {
            "this session has already ended; run the command again for a new one".into()
        }
        CloseCode::ProtocolError => {
            "the bridge reported a protocol error; check that bamfctl and the bridge \
             are compatible versions"
                .into()
        }
        CloseCode::Draining => {
            "the bridge is draining for maintenance; run the command again to get \
             another bridge"
                .into()
        }
        CloseCode::IdleTimeout => "the session was closed after being idle too long".into(),
        CloseCode::Killed => "the session was killed by an administrator".into(),
        CloseCode::TargetUnreachable => "the agent cannot reach the target".into(),
        CloseCode::LimitReached => {
            "the bridge refused: too many connections on this session or bridge".into()
        }
    }
}

/// The message for a stream the far side reset or stopped with a bamf
/// code (an agent that cannot reach the target resets the stream).
pub(crate) fn stream_reset_message(e: &std::io::Error) -> Option<String> {
    let inner = e.get_ref()?;
    let code = match (
        inner.downcast_ref::<quinn::ReadError>(),
        inner.downcast_ref::<quinn::WriteError>(),
    ) {
        (Some(quinn::ReadError::Reset(code)), _) | (_, Some(quinn::WriteError::Stopped(code))) => {
            *code
        }
        _ => return None,
    };
    CloseCode::from_varint(code).map(close_message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_users_meet_read_plainly() {
        let killed = TunnelError::Closed(CloseCode::Killed).to_string();
        assert_eq!(killed, "the session was killed by an administrator");
        assert!(close_message(CloseCode::IdleTimeout).contains("idle"));
        assert!(close_message(CloseCode::TargetUnreachable).contains("cannot reach the target"));
        assert!(close_message(CloseCode::Draining).contains("draining"));
    }

    #[test]
    fn an_application_close_becomes_its_code() {
        let e = TunnelError::from_connection("bridge:4433", ConnectionError::TimedOut);
        assert!(e.to_string().contains("bridge:4433"), "{e}");
        assert_eq!(e.close_code(), None);
    }
}

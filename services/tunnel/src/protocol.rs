//! The `bamf/1` wire protocol. QUIC with mutual TLS carries identity (the
//! session certificate names the session, the side, the resource and the
//! bridge), so the protocol itself is tiny:
//!
//! - every bidirectional stream opens with a 4-byte [`StreamHeader`]
//!   (`b'B'`, version, kind, reserved 0) and then carries raw bytes of one TCP
//!   connection in both directions;
//! - connections end with an application close code ([`CloseCode`]) that says
//!   why, so each side can tell the user something specific.
//!
//! Anything else on a stream is a protocol error: the stream is reset with
//! [`CloseCode::ProtocolError`] and counted, never a crash.

use tokio::io::{AsyncRead, AsyncReadExt};

/// The ALPN protocol id every bamf QUIC connection negotiates.
pub const ALPN: &[u8] = b"bamf/1";
/// First byte of every stream header.
pub const HEADER_MAGIC: u8 = b'B';
/// Version carried in the header.
pub const VERSION: u8 = 1;
/// Length of the header.
pub const HEADER_LEN: usize = 4;

/// What a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// The bytes of one TCP connection to the session's resource.
    Tcp = 1,
}

/// The header that opens every stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHeader {
    pub kind: StreamKind,
}

/// Why a stream header was refused.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("stream ended before its {HEADER_LEN}-byte header")]
    Truncated,
    #[error("stream does not start with the bamf header (first byte {0:#04x})")]
    BadMagic(u8),
    #[error("unsupported bamf stream version {0}")]
    BadVersion(u8),
    #[error("unknown stream kind {0}")]
    UnknownKind(u8),
    #[error("reserved header byte is {0}, not 0")]
    Reserved(u8),
    #[error("cannot read the stream header")]
    Io(#[source] std::io::Error),
}

impl StreamHeader {
    /// A TCP stream header.
    pub const TCP: StreamHeader = StreamHeader {
        kind: StreamKind::Tcp,
    };

    /// The 4 bytes on the wire.
    pub fn encode(self) -> [u8; HEADER_LEN] {
        [HEADER_MAGIC, VERSION, self.kind as u8, 0]
    }

    /// Parses the 4 header bytes.
    pub fn decode(bytes: [u8; HEADER_LEN]) -> Result<Self, HeaderError> {
        let [magic, version, kind, reserved] = bytes;
        if magic != HEADER_MAGIC {
            return Err(HeaderError::BadMagic(magic));
        }
        if version != VERSION {
            return Err(HeaderError::BadVersion(version));
        }
        if reserved != 0 {
            return Err(HeaderError::Reserved(reserved));
        }
        match kind {
            1 => Ok(StreamHeader {
                kind: StreamKind::Tcp,
            }),
            other => Err(HeaderError::UnknownKind(other)),
        }
    }

    /// Reads and parses a header from the start of a stream.
    pub async fn read_from<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Self, HeaderError> {
        let mut bytes = [0u8; HEADER_LEN];
        match reader.read_exact(&mut bytes).await {
            Ok(_) => Self::decode(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(HeaderError::Truncated),
            Err(e) => Err(HeaderError::Io(e)),
        }
    }
}

/// Application close codes of a bamf connection (and stream reset codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum CloseCode {
    /// The session ended normally (a side closed).
    Normal = 0,
    /// The other side never arrived within the pairing hold.
    PairingTimeout = 1,
    /// This side of the session is already connected (first wins).
    DuplicateSide = 2,
    /// The session is finished; its id is never paired again.
    SessionFinished = 3,
    /// Bytes that are not the bamf protocol.
    ProtocolError = 4,
    /// The bridge is draining; ask the API for a new session.
    Draining = 5,
    /// No traffic for the idle timeout.
    IdleTimeout = 6,
    /// An administrator ended the session.
    Killed = 7,
    /// The agent could not connect to the target.
    TargetUnreachable = 8,
    /// Too many streams or pending pairings.
    LimitReached = 9,
}

impl CloseCode {
    /// The code for quinn.
    pub fn varint(self) -> quinn::VarInt {
        quinn::VarInt::from_u32(self as u32)
    }

    /// The code from a peer's close, if it is one of ours.
    pub fn from_varint(code: quinn::VarInt) -> Option<Self> {
        use CloseCode::*;
        Some(match code.into_inner() {
            0 => Normal,
            1 => PairingTimeout,
            2 => DuplicateSide,
            3 => SessionFinished,
            4 => ProtocolError,
            5 => Draining,
            6 => IdleTimeout,
            7 => Killed,
            8 => TargetUnreachable,
            9 => LimitReached,
            _ => return None,
        })
    }

    /// A short reason, also sent as the close reason bytes.
    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::Normal => "session closed",
            CloseCode::PairingTimeout => "the other side did not connect in time",
            CloseCode::DuplicateSide => "this side of the session is already connected",
            CloseCode::SessionFinished => "session is finished",
            CloseCode::ProtocolError => "protocol error",
            CloseCode::Draining => "bridge is draining",
            CloseCode::IdleTimeout => "idle timeout",
            CloseCode::Killed => "session was ended by an administrator",
            CloseCode::TargetUnreachable => "the agent cannot reach the target",
            CloseCode::LimitReached => "limit reached",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_refuses_everything_else() {
        let bytes = StreamHeader::TCP.encode();
        assert_eq!(StreamHeader::decode(bytes).unwrap(), StreamHeader::TCP);
        assert!(matches!(
            StreamHeader::decode(*b"GET "),
            Err(HeaderError::BadMagic(b'G'))
        ));
        assert!(matches!(
            StreamHeader::decode([b'B', 2, 1, 0]),
            Err(HeaderError::BadVersion(2))
        ));
        assert!(matches!(
            StreamHeader::decode([b'B', 1, 9, 0]),
            Err(HeaderError::UnknownKind(9))
        ));
        assert!(matches!(
            StreamHeader::decode([b'B', 1, 1, 7]),
            Err(HeaderError::Reserved(7))
        ));
    }

    #[tokio::test]
    async fn a_short_stream_is_truncated_not_a_panic() {
        let mut short: &[u8] = b"B\x01";
        assert!(matches!(
            StreamHeader::read_from(&mut short).await,
            Err(HeaderError::Truncated)
        ));
    }

    #[test]
    fn close_codes_round_trip() {
        for n in 0..=9u32 {
            let code = CloseCode::from_varint(quinn::VarInt::from_u32(n)).unwrap();
            assert_eq!(code as u32, n);
            assert!(!code.reason().is_empty());
        }
        assert_eq!(CloseCode::from_varint(quinn::VarInt::from_u32(99)), None);
    }
}

//! `syslog+tcp://HOST:PORT`: one RFC 5424 message per record, framed by
//! octet counting (RFC 6587 §3.4.1: `<length> <message>`), so a record may
//! hold any byte.
//!
//! ```text
//! <108>1 2026-11-22T10:00:00.123456Z bastion bamf 4711 login.failed - {"seq":7,"record":{…}}
//! ```
//!
//! - PRI: facility 13 (log audit); severity 5 (notice) for a record whose
//!   outcome is success, 4 (warning) for a failure (`login.failed`,
//!   `access.denied`, `session.denied`).
//! - TIMESTAMP: the record's `time` (RFC 3339, UTC, microseconds).
//! - HOSTNAME: this machine's name; APP-NAME `bamf`; PROCID this process;
//!   MSGID: the action (the record's `type`); no STRUCTURED-DATA.
//! - MSG: the export line (`--format jsonl`) or the OCSF object, no BOM.
//!
//! "Accepted" means written and flushed to the socket: plain TCP syslog has
//! no application-level acknowledgement, so records in the kernel's buffers
//! when the receiver dies are lost to it (they were acked on the server).
//! A failed write or connect drops the connection and the whole batch is
//! sent again on a new one (the receiver may see some records twice).

use std::time::Duration;

use bamf_domain::events::Outcome;
use bamf_domain::Envelope;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::sink::{span, Backoff, SinkError};
use super::Outgoing;

/// Facility 13: log audit.
pub const FACILITY: u8 = 13;
pub const SEVERITY_WARNING: u8 = 4;
pub const SEVERITY_NOTICE: u8 = 5;
pub const APP_NAME: &str = "bamf";
/// RFC 5424 limits MSGID to 32 printable characters.
const MSGID_MAX: usize = 32;
/// RFC 5424 limits HOSTNAME to 255 printable characters.
const HOSTNAME_MAX: usize = 255;
/// Bound on connecting to the receiver.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on writing one batch: a receiver that stops reading for this long
/// is treated as gone, and the batch is sent again on a new connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// The syslog sink.
pub struct SyslogSink {
    addr: String,
    hostname: String,
    procid: String,
    conn: Option<TcpStream>,
}

impl SyslogSink {
    /// A sink for `addr` (`host:port`); it connects on the first batch.
    pub fn new(addr: String) -> SyslogSink {
        SyslogSink {
            addr,
            hostname: local_hostname(),
            procid: std::process::id().to_string(),
            conn: None,
        }
    }

    pub(super) async fn accept(
        &mut self,
        batch: &[Outgoing],
        stop: &CancellationToken,
    ) -> Result<(), SinkError> {
        let mut frames = Vec::new();
        for o in batch {
            frames.extend_from_slice(&frame(&message(o, &self.hostname, &self.procid)));
        }
        let mut backoff = Backoff::new();
        loop {
            let why = match self.send(&frames).await {
                Ok(()) => return Ok(()),
                Err(why) => why,
            };
            self.conn = None;
            let delay = backoff.next_delay();
            eprintln!(
                "bamfctl: syslog sink {}: {why}; sending {} again in {delay:?} (attempt {})",
                self.addr,
                span(batch),
                backoff.attempt + 1
            );
            Backoff::sleep(delay, stop).await?;
        }
    }

    /// Connects if needed, writes and flushes.
    async fn send(&mut self, frames: &[u8]) -> Result<(), String> {
        // A receiver that closed the connection while we were idle: the next
        // write could still "succeed" into the kernel's buffer and be lost,
        // so look for its end-of-stream first and reconnect.
        if let Some(conn) = &self.conn {
            let mut probe = [0u8; 1];
            match conn.try_read(&mut probe) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // Syslog receivers say nothing; whatever they did say is ignored.
                Ok(n) if n > 0 => {}
                _ => self.conn = None,
            }
        }
        if self.conn.is_none() {
            let conn = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.addr))
                .await
                .map_err(|_| format!("no connection within {CONNECT_TIMEOUT:?}"))?
                .map_err(|e| format!("cannot connect: {e}"))?;
            // Small frames go out at once rather than waiting for more.
            let _ = conn.set_nodelay(true);
            self.conn = Some(conn);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err("not connected".into());
        };
        let write = async {
            conn.write_all(frames).await?;
            conn.flush().await
        };
        tokio::time::timeout(WRITE_TIMEOUT, write)
            .await
            .map_err(|_| format!("the receiver took more than {WRITE_TIMEOUT:?} to read a batch"))?
            .map_err(|e| format!("cannot write: {e}"))
    }
}

/// `<length> <message>` (RFC 6587 octet counting).
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = format!("{} ", message.len()).into_bytes();
    out.extend_from_slice(message);
    out
}

/// What the header needs from a record, read without decoding its data.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow)]
    action: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    time: Option<std::borrow::Cow<'a, str>>,
}

/// The RFC 5424 message of one record.
pub fn message(o: &Outgoing, hostname: &str, procid: &str) -> Vec<u8> {
    let head = serde_json::from_slice::<Head<'_>>(&o.payload).ok();
    let action = head
        .as_ref()
        .and_then(|h| h.action.as_deref())
        .map(|a| header_field(a, MSGID_MAX))
        .unwrap_or_else(|| "-".into());
    let timestamp = head
        .as_ref()
        .and_then(|h| h.time.as_deref())
        .filter(|t| is_timestamp(t))
        .unwrap_or("-")
        .to_string();
    // The outcome is fixed per type; an undecodable record reads as notice.
    let severity = match Envelope::decode(&o.payload).map(|e| e.event.outcome()) {
        Ok(Outcome::Failure) => SEVERITY_WARNING,
        _ => SEVERITY_NOTICE,
    };
    let pri = u16::from(FACILITY) * 8 + u16::from(severity);
    let mut out =
        format!("<{pri}>1 {timestamp} {hostname} {APP_NAME} {procid} {action} - ").into_bytes();
    out.extend_from_slice(&o.line);
    out
}

/// An RFC 3339 timestamp as RFC 5424 takes it (printable, no space, at most
/// 6 fraction digits — bamf writes microseconds).
fn is_timestamp(t: &str) -> bool {
    let fraction_ok = match t.split_once('.') {
        Some((_, rest)) => rest.chars().take_while(char::is_ascii_digit).count() <= 6,
        None => true,
    };
    t.len() <= 40
        && t.as_bytes().get(10) == Some(&b'T')
        && t.bytes().all(|b| b.is_ascii_graphic())
        && fraction_ok
}

/// `s` as a header field: printable US-ASCII without spaces, at most `max`
/// characters; `-` (NILVALUE) when nothing is left.
fn header_field(s: &str, max: usize) -> String {
    let clean: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if clean.is_empty() {
        "-".into()
    } else {
        clean
    }
}

/// This machine's host name, or `-`.
fn local_hostname() -> String {
    let from_file = |p: &str| std::fs::read_to_string(p).ok();
    let name = from_file("/proc/sys/kernel/hostname")
        .or_else(|| from_file("/etc/hostname"))
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    header_field(name.trim(), HOSTNAME_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(payload: &str) -> Outgoing {
        Outgoing {
            seq: 7,
            line: format!("{{\"seq\":7,\"record\":{payload}}}").into_bytes(),
            payload: payload.as_bytes().to_vec().into(),
        }
    }

    #[test]
    fn an_undecodable_record_still_gets_a_valid_header() {
        let m = message(&outgoing(r#"{"type":"a b","time":"yesterday"}"#), "h", "1");
        assert_eq!(
            String::from_utf8(m).unwrap(),
            r#"<109>1 - h bamf 1 ab - {"seq":7,"record":{"type":"a b","time":"yesterday"}}"#
        );
        let f = frame(b"<109>1 - - bamf 1 - - x");
        assert_eq!(f, b"23 <109>1 - - bamf 1 - - x");
    }

    #[test]
    fn timestamps_are_checked() {
        assert!(is_timestamp("2026-11-22T10:00:00.123456Z"));
        assert!(!is_timestamp("2026-11-22T10:00:00.1234567Z"));
        assert!(!is_timestamp("2026-11-22 10:00:00Z"));
    }
}

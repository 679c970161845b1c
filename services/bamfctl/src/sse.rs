//! The client end of the API's resumable Server-Sent Event streams
//! (`sessions watch`, `audit tail --follow`): a small `text/event-stream`
//! parser and the reconnect policy both commands share.

use std::io;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::error::ClientError;

/// Longest SSE event bamfctl buffers; the server's events are far smaller.
pub const MAX_EVENT_BYTES: usize = 1 << 20;
/// First pause before reconnecting; doubled on each failure up to the max.
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One Server-Sent Event.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
    pub id: Option<String>,
}

/// A small `text/event-stream` parser: `event:`, `data:` (joined by
/// newlines), `id:`; comments and other fields ignored; CRLF or LF lines.
#[derive(Default)]
pub struct SseParser {
    buf: Vec<u8>,
    current: SseEvent,
    has_data: bool,
}

impl SseParser {
    /// Feeds bytes; answers the events they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.buf.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8(line).context("an event line is not UTF-8")?;
            if line.is_empty() {
                if self.has_data {
                    let mut event = std::mem::take(&mut self.current);
                    if event.event.is_empty() {
                        event.event = "message".into();
                    }
                    events.push(event);
                }
                self.current = SseEvent::default();
                self.has_data = false;
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((&line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.current.event = value.to_string(),
                "data" => {
                    if self.has_data {
                        self.current.data.push('\n');
                    }
                    self.current.data.push_str(value);
                    self.has_data = true;
                }
                "id" => self.current.id = Some(value.to_string()),
                _ => {}
            }
        }
        anyhow::ensure!(
            self.buf.len() + self.current.data.len() <= MAX_EVENT_BYTES,
            "an event is longer than {MAX_EVENT_BYTES} bytes"
        );
        Ok(events)
    }
}

/// An event with its `id:` read as a sequence.
pub type Numbered = (Option<u64>, SseEvent);

impl SseParser {
    /// The events completed by the next chunk of a response (`None` at the
    /// stream's end), each with its `id:` read as a sequence.
    pub fn events(
        &mut self,
        chunk: reqwest::Result<Option<bytes::Bytes>>,
    ) -> Result<Option<Vec<Numbered>>, Lost> {
        let chunk = match chunk {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return Ok(None),
            Err(e) => return Err(Lost::Stream(crate::error::root_cause(&e))),
        };
        let events = self.push(&chunk).map_err(|e| Lost::Stream(e.to_string()))?;
        events
            .into_iter()
            .map(|event| match event.id.as_deref().map(str::parse::<u64>) {
                None => Ok((None, event)),
                Some(Ok(id)) => Ok((Some(id), event)),
                Some(Err(_)) => Err(Lost::Stream(format!("bad event id {:?}", event.id))),
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }
}

/// Why one connection's stream stopped.
pub enum Lost {
    /// The connection or the event stream failed: resume.
    Stream(String),
    /// stdout failed: stop.
    Output(anyhow::Error),
}

/// Whether `e` is stdout closing under us (`| head`): the command just ends.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// When to reconnect, and how long to wait first.
pub struct Reconnect {
    backoff: Duration,
    connected_once: bool,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            backoff: INITIAL_BACKOFF,
            connected_once: false,
        }
    }
}

impl Reconnect {
    /// A stream opened; answers whether it resumes an earlier one.
    pub fn connected(&mut self) -> bool {
        self.backoff = INITIAL_BACKOFF;
        std::mem::replace(&mut self.connected_once, true)
    }

    /// Whether a failed attempt to open the stream is worth repeating: the
    /// API says to retry (starting, catching up), or it is unreachable after
    /// we had a stream (a restart). Anything else (a refusal, a first
    /// connection that fails) is the command's error.
    pub fn retryable(&self, e: &anyhow::Error) -> bool {
        match e.downcast_ref::<ClientError>() {
            Some(ClientError::Api(api)) => api.status == 503,
            Some(_) => self.connected_once,
            None => false,
        }
    }

    /// Waits before the next attempt (doubling up to a few seconds).
    pub async fn pause(&mut self) {
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_parsed_across_chunks_and_comments_ignored() {
        let mut p = SseParser::default();
        assert!(p.push(b": keep-alive\n\nevent: sess").unwrap().is_empty());
        let got = p
            .push(b"ion\r\ndata: {\"a\":1}\r\nid: 7\r\n\r\nevent: ready\ndata: x\ndata: y\n\n")
            .unwrap();
        assert_eq!(
            got,
            [
                SseEvent {
                    event: "session".into(),
                    data: "{\"a\":1}".into(),
                    id: Some("7".into())
                },
                SseEvent {
                    event: "ready".into(),
                    data: "x\ny".into(),
                    id: None
                },
            ]
        );
        assert!(p.push(&vec![b'a'; MAX_EVENT_BYTES + 1]).is_err());
    }
}

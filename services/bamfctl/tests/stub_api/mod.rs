//! A stand-in for the bamf API while the real one is being built: a plain TCP
//! listener on 127.0.0.1:0 that answers each connection with the next canned
//! reply and hands the request it read back to the test. Just enough HTTP/1.1
//! for bamfctl's client (one request per connection, `Connection: close`),
//! over plain http or over TLS with a test certificate.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// How long a test waits for bamfctl's request, and a connection for its bytes.
const WAIT: Duration = Duration::from_secs(10);

/// One canned answer.
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub request_id: &'static str,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status,
            body: body.to_string(),
            request_id: "req-stub",
        }
    }

    pub fn no_content() -> Reply {
        Reply {
            status: 204,
            body: String::new(),
            request_id: "req-stub",
        }
    }

    pub fn error(status: u16, code: &str, message: &str, request_id: &'static str) -> Reply {
        Reply {
            status,
            body: serde_json::json!({"error": {"code": code, "message": message}}).to_string(),
            request_id,
        }
    }
}

/// A request as the stub read it.
#[derive(Debug)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

pub struct StubApi {
    pub url: String,
    requests: mpsc::Receiver<Recorded>,
}

impl StubApi {
    /// Serves `replies` in order over plain http, one per connection.
    pub fn start(replies: Vec<Reply>) -> StubApi {
        Self::serve(replies, None)
    }

    /// The same over https, with `tls` (a rustls server configuration).
    pub fn start_tls(replies: Vec<Reply>, tls: Arc<rustls::ServerConfig>) -> StubApi {
        Self::serve(replies, Some(tls))
    }

    fn serve(replies: Vec<Reply>, tls: Option<Arc<rustls::ServerConfig>>) -> StubApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // https needs a name the certificate holds; "localhost" resolves to 127.0.0.1.
        let url = match tls {
            Some(_) => format!("https://localhost:{port}"),
            None => format!("http://127.0.0.1:{port}"),
        };
        let (tx, requests) = mpsc::channel();
        std::thread::spawn(move || {
            for reply in replies {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                stream.set_read_timeout(Some(WAIT)).unwrap();
                let recorded = match &tls {
                    Some(config) => {
                        let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                        answer(rustls::StreamOwned::new(conn, stream), &reply)
                    }
                    None => answer(stream, &reply),
                };
                let _ = tx.send(recorded);
            }
        });
        StubApi { url, requests }
    }

    /// The next request bamfctl made.
    pub fn request(&self) -> Recorded {
        self.requests
            .recv_timeout(WAIT)
            .expect("bamfctl made no request to the stub API")
    }
}

/// Reads one request from `stream` and writes `reply`.
fn answer(stream: impl Read + Write, reply: &Reply) -> Recorded {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    let reason = if reply.status < 300 { "OK" } else { "Error" };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nx-request-id: {}\r\ncontent-length: {}\r\nconnection: close\r\n",
        reply.status,
        reply.request_id,
        reply.body.len()
    );
    if !reply.body.is_empty() {
        head.push_str("content-type: application/json\r\n");
    }
    head.push_str("\r\n");
    let stream = reader.get_mut();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(reply.body.as_bytes()).unwrap();
    stream.flush().unwrap();
    Recorded {
        method,
        target,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

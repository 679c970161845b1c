//! A minimal HTTP/1.0 client for health and readiness probes.
//!
//! The dev stack and the tests ask `/healthz` and `/readyz` with it (and the
//! dev stack its few JSON calls to the API); pulling a full HTTP client into
//! every program for that would be out of proportion.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response a probe reads; health answers are a few dozen bytes.
const MAX_RESPONSE: u64 = 64 * 1024;

/// A probe's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The body as text.
    pub body: String,
}

/// `GET path` on `addr`, the whole exchange bounded by `timeout`.
pub async fn get(addr: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<Response> {
    request(addr, &Request::get(path), timeout).await
}

/// One HTTP/1.0 request: method, path, extra header lines, a JSON body.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Extra header lines, without the line ends (`Authorization: Bearer …`).
    pub headers: Vec<String>,
    /// A JSON body (sent with `Content-Type: application/json`), if any.
    pub json: Option<String>,
}

impl<'a> Request<'a> {
    /// `GET path` with no body.
    pub fn get(path: &'a str) -> Self {
        Request {
            method: "GET",
            path,
            ..Request::default()
        }
    }
}

/// Sends `request` to `addr` and reads the answer (at most 64 KiB), the
/// whole exchange bounded by `timeout`.
pub async fn request(
    addr: SocketAddr,
    request: &Request<'_>,
    timeout: Duration,
) -> std::io::Result<Response> {
    tokio::time::timeout(timeout, exchange(addr, request))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "probe timed out"))?
}

async fn exchange(addr: SocketAddr, request: &Request<'_>) -> std::io::Result<Response> {
    let mut text = format!(
        "{} {} HTTP/1.0\r\nHost: {addr}\r\n",
        request.method, request.path
    );
    for header in &request.headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    if let Some(json) = &request.json {
        text.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
            json.len()
        ));
    } else {
        text.push_str("\r\n");
    }
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(text.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.take(MAX_RESPONSE).read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP response");
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(invalid)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(invalid)?;
    Ok(Response {
        status,
        body: body.to_string(),
    })
}

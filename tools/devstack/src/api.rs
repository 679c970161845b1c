//! The few bamf-api calls the stack makes itself, as the admin it configured:
//! log in, make a join token for its agent (first start only), list the
//! resources to see the agent's come online, log out.
//!
//! The API is ours, on loopback, plain HTTP: a request per connection with
//! HTTP/1.0 (the answer then has a length or ends at close, never chunked),
//! like `bamf_runtime::probe`, rather than a full HTTP client in the runner.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on one call, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read; a resource list of a dev stack is a few KiB.
const MAX_ANSWER: u64 = 4 * 1024 * 1024;
/// How long the agent's join token is valid: it is used within seconds.
const JOIN_TOKEN_TTL: &str = "10m";

/// bamf-api at `addr`, under `/api/v1`.
#[derive(Clone, Copy)]
pub struct Api {
    addr: SocketAddr,
}

/// One resource of `GET /resources`.
pub struct Resource {
    pub name: String,
    pub kind: String,
    pub agent_id: String,
}

impl Api {
    pub fn new(addr: SocketAddr) -> Self {
        Api { addr }
    }

    /// Logs in; answers the login token.
    pub async fn login(&self, email: &str, password: &str) -> Result<String> {
        let body = json!({ "email": email, "password": password, "ttl": "1h" });
        let answer = self
            .call("log in", "POST", "/auth/local/login", None, Some(&body))
            .await?;
        string_field(&answer, "token", "login")
    }

    /// Ends the login.
    pub async fn logout(&self, token: &str) -> Result<()> {
        self.call("log out", "POST", "/auth/logout", Some(token), None)
            .await?;
        Ok(())
    }

    /// A single-use join token named `name`; answers its value.
    pub async fn join_token(&self, token: &str, name: &str) -> Result<String> {
        let body = json!({ "name": name, "ttl": JOIN_TOKEN_TTL, "max_uses": 1 });
        let answer = self
            .call(
                "create a join token",
                "POST",
                "/join-tokens",
                Some(token),
                Some(&body),
            )
            .await?;
        string_field(&answer, "token", "join token")
    }

    /// The live resource catalog.
    pub async fn resources(&self, token: &str) -> Result<Vec<Resource>> {
        let answer = self
            .call("list resources", "GET", "/resources", Some(token), None)
            .await?;
        let items = answer["resources"]
            .as_array()
            .context("the API's resource list has no \"resources\" array")?;
        items
            .iter()
            .map(|item| {
                Ok(Resource {
                    name: string_field(item, "name", "resource")?,
                    kind: string_field(item, "type", "resource")?,
                    agent_id: string_field(item, "agent_id", "resource")?,
                })
            })
            .collect()
    }

    /// Whether `GET /bridges` lists `bridge_id` as online.
    pub async fn bridge_online(&self, token: &str, bridge_id: &str) -> Result<bool> {
        let answer = self
            .call("list bridges", "GET", "/bridges", Some(token), None)
            .await?;
        let items = answer["bridges"]
            .as_array()
            .context("the API's bridge list has no \"bridges\" array")?;
        Ok(items
            .iter()
            .any(|b| b["id"] == bridge_id && b["online"] == true))
    }

    /// `method /api/v1<path>`; a non-2xx answer is an error quoting the API's
    /// `{"error": {code, message}}`.
    async fn call(
        &self,
        what: &str,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value> {
        let url = format!("http://{}/api/v1{path}", self.addr);
        let (status, text) =
            tokio::time::timeout(CALL_TIMEOUT, exchange(self.addr, method, path, token, body))
                .await
                .map_err(|_| {
                    anyhow::anyhow!("cannot {what}: {url} did not answer in {CALL_TIMEOUT:?}")
                })?
                .with_context(|| format!("cannot {what}: no HTTP answer from {url}"))?;
        let value: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .with_context(|| format!("cannot {what}: {url} answered {status} with no JSON"))?
        };
        if !(200..300).contains(&status) {
            let code = value["error"]["code"].as_str().unwrap_or("unknown");
            let message = value["error"]["message"].as_str().unwrap_or("no message");
            bail!("cannot {what}: the API answered {status} {code}: {message}");
        }
        Ok(value)
    }
}

async fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> std::io::Result<(u16, String)> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!(
        "{method} /api/v1{path} HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.take(MAX_ANSWER).read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP answer");
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(invalid)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(invalid)?;
    Ok((status, body.to_string()))
}

fn string_field(value: &Value, key: &str, what: &str) -> Result<String> {
    value[key]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("the API's {what} answer has no string {key:?}"))
}

//! The few bamf-api calls the stack makes itself, as the admin it configured:
//! log in, make a join token for its agent (first start only), list the
//! resources to see the agent's come online, log out.
//!
//! The API is ours, on loopback, plain HTTP: a request per connection with
//! HTTP/1.0 (the answer then has a length or ends at close, never chunked),
//! through `bamf_runtime::probe`, rather than a full HTTP client in the runner.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bamf_runtime::probe;
use serde_json::{json, Value};

/// Bound on one call, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
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
        let full_path = format!("/api/v1{path}");
        let mut headers = vec!["Accept: application/json".to_string()];
        if let Some(token) = token {
            headers.push(format!("Authorization: Bearer {token}"));
        }
        let request = probe::Request {
            method,
            path: &full_path,
            headers,
            json: body.map(Value::to_string),
        };
        let probe::Response { status, body: text } =
            probe::request(self.addr, &request, CALL_TIMEOUT)
                .await
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

fn string_field(value: &Value, key: &str, what: &str) -> Result<String> {
    value[key]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("the API's {what} answer has no string {key:?}"))
}

//! The HTTP client for `/api/v1`: one reqwest client with bounded timeouts,
//! the bearer token when logged in, and error answers turned into
//! [`ApiError`]s that carry the server's `x-request-id`.
//!
//! Bodies are `serde_json::Value`: `--json` prints what the server said, and
//! the table views deserialize from it leniently (unknown fields ignored).

use std::time::Duration;

use anyhow::{bail, Context, Result};
use reqwest::{header, Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{root_cause, ApiError, ClientError};
use crate::tls;

/// How long to wait for a TCP (and TLS) connection to the API.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request may take, answer included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Where every route lives under the API URL.
const API_PREFIX: [&str; 2] = ["api", "v1"];
/// The response header naming the request in the server's logs and audit.
const REQUEST_ID: &str = "x-request-id";

/// A client for one API URL, with or without a login token.
pub struct ApiClient {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

/// The error body every non-2xx answer carries.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// Checks an API URL: absolute http(s), no query or fragment.
pub fn parse_api_url(raw: &str) -> Result<Url> {
    let url = Url::parse(raw).with_context(|| format!("API URL {raw:?} is not a valid URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("API URL {raw:?} must start with http:// or https://");
    }
    if url.cannot_be_a_base() || url.query().is_some() || url.fragment().is_some() {
        bail!("API URL {raw:?} must be a plain http(s) URL without query or fragment");
    }
    Ok(url)
}

/// True for plain http to anything but this machine: the password and token
/// would cross a network in clear (the local stack on 127.0.0.1 is fine).
pub fn is_cleartext_remote(url: &Url) -> bool {
    if url.scheme() != "http" {
        return false;
    }
    let Some(host) = url.host_str() else {
        return true;
    };
    // IPv6 hosts come bracketed: `[::1]`.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => !ip.is_loopback(),
        Err(_) => !host.eq_ignore_ascii_case("localhost"),
    }
}

impl ApiClient {
    /// A client for `api_url`; `token` is sent as `Authorization: Bearer`.
    pub fn new(api_url: &str, token: Option<String>) -> Result<Self> {
        let base = parse_api_url(api_url)?;
        let tls = tls::client_config(base.scheme() == "https")?;
        // One client for requests and streams: a read may stay silent for
        // STREAM_READ_TIMEOUT; a plain request is bounded as a whole by
        // REQUEST_TIMEOUT in `send`, streams only by their reads.
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(STREAM_READ_TIMEOUT)
            // The API never redirects; following one could carry the token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("bamfctl/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(tls)
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(ApiClient { http, base, token })
    }

    /// `base/api/v1/<segments>?<query>`, each segment percent-encoded (ids may
    /// be e-mail addresses).
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        {
            // `parse_api_url` refused cannot-be-a-base URLs, so segments exist.
            let mut path = url
                .path_segments_mut()
                .expect("API URL was checked to be a base URL");
            path.pop_if_empty().extend(API_PREFIX).extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    pub async fn get(&self, segments: &[&str]) -> Result<Value, ClientError> {
        self.send(Method::GET, segments, &[], None).await
    }

    pub async fn post(&self, segments: &[&str], body: &Value) -> Result<Value, ClientError> {
        self.send(Method::POST, segments, &[], Some(body)).await
    }

    pub async fn delete(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<Value, ClientError> {
        self.send(Method::DELETE, segments, query, None).await
    }

    /// Sends one request. A 2xx answer's JSON body is returned (`Null` for an
    /// empty one, like 204); anything else becomes an error.
    pub async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        self.send_as(method, segments, query, body).await
    }

    /// [`ApiClient::send`], reading the answer straight into `T` (which may
    /// keep parts of it verbatim, as `RawValue`s; a `Value` sorts keys).
    pub async fn send_as<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<T, ClientError> {
        let url = self.url(segments, query);
        let mut req = self
            .http
            .request(method, url.clone())
            .timeout(REQUEST_TIMEOUT);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| transport_error(&self.base, e))?;
        let Answer {
            status,
            request_id,
            retry_after,
            bytes,
        } = self.read_answer(resp).await?;
        if status.is_success() {
            let parsed = if bytes.is_empty() {
                serde_json::from_value(Value::Null)
            } else {
                serde_json::from_slice(&bytes)
            };
            return parsed.map_err(|e| ClientError::BadResponse {
                status: status.as_u16(),
                request_id,
                what: format!("the body is not the JSON expected: {e}"),
            });
        }
        Err(api_error(status, &bytes, request_id, retry_after).into())
    }
}

/// An answer read to its end: status, the ids error reports quote, body.
struct Answer {
    status: reqwest::StatusCode,
    request_id: Option<String>,
    retry_after: Option<String>,
    bytes: Vec<u8>,
}

impl ApiClient {
    async fn read_answer(&self, resp: reqwest::Response) -> Result<Answer, ClientError> {
        let header_str = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let request_id = header_str(REQUEST_ID);
        let retry_after = header_str(header::RETRY_AFTER.as_str());
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport_error(&self.base, e))?
            .to_vec();
        Ok(Answer {
            status,
            request_id,
            retry_after,
            bytes,
        })
    }
}

/// How long a stream (`sessions watch`) may stay silent before it is taken
/// for dead: three of the server's 15-second keep-alives.
pub const STREAM_READ_TIMEOUT: Duration = Duration::from_secs(45);

impl ApiClient {
    /// Opens a Server-Sent Events stream (`GET`, `Accept: text/event-stream`,
    /// `Last-Event-ID` when resuming). Unlike [`ApiClient::send`] there is no
    /// bound on the whole answer, only on the connect and on each read.
    /// Failures of the request itself are [`ClientError`]s (downcast to tell
    /// a refusal from an outage).
    pub async fn open_stream(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
        last_event_id: Option<u64>,
    ) -> Result<reqwest::Response> {
        let mut req = self
            .http
            .get(self.url(segments, query))
            .header(header::ACCEPT, "text/event-stream");
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| transport_error(&self.base, e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let Answer {
            status,
            request_id,
            retry_after,
            bytes,
        } = self.read_answer(resp).await?;
        Err(ClientError::from(api_error(status, &bytes, request_id, retry_after)).into())
    }
}

/// The error of a non-2xx answer. A body outside the contract (a proxy's HTML
/// page, say) still gives the status and a readable message.
fn api_error(
    status: StatusCode,
    body: &[u8],
    request_id: Option<String>,
    retry_after: Option<String>,
) -> ApiError {
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => (b.error.code, b.error.message),
        Err(_) => (
            "unknown".to_string(),
            status
                .canonical_reason()
                .unwrap_or("unexpected status")
                .to_lowercase(),
        ),
    };
    ApiError {
        status: status.as_u16(),
        code,
        message,
        request_id,
        retry_after: retry_after.filter(|_| status == StatusCode::TOO_MANY_REQUESTS),
    }
}

fn transport_error(base: &Url, e: reqwest::Error) -> ClientError {
    let url = base.as_str().trim_end_matches('/').to_string();
    if e.is_timeout() {
        // A connect that times out reports as a timeout too; both mean "no answer".
        return ClientError::Timeout {
            url,
            after: REQUEST_TIMEOUT,
        };
    }
    let cause = root_cause(&e);
    if e.is_connect() {
        ClientError::Unreachable {
            url,
            cause,
            source: e,
        }
    } else {
        ClientError::Transport {
            url,
            cause,
            source: e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_a_base_path_and_encode_segments() {
        let c = ApiClient::new("http://example.test/bamf/", None).unwrap();
        assert_eq!(
            c.url(&["users", "a b@x.test"], &[]).as_str(),
            "http://example.test/bamf/api/v1/users/a%20b@x.test"
        );
        assert_eq!(
            c.url(&["auth", "sessions"], &[("email", "a+b@x.test")])
                .as_str(),
            "http://example.test/bamf/api/v1/auth/sessions?email=a%2Bb%40x.test"
        );
    }

    #[test]
    fn only_plain_http_off_this_machine_is_cleartext() {
        let c = |u: &str| is_cleartext_remote(&parse_api_url(u).unwrap());
        assert!(!c("http://127.0.0.1:8080"));
        assert!(!c("http://[::1]:8080"));
        assert!(!c("http://localhost:8080"));
        assert!(!c("https://bamf.example.com"));
        assert!(c("http://bamf.example.com"));
        assert!(c("http://10.0.0.5:8080"));
    }

    #[test]
    fn api_urls_must_be_plain_http_or_https() {
        assert!(parse_api_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_api_url("https://bamf.example.com/").is_ok());
        assert!(parse_api_url("127.0.0.1:8080").is_err());
        assert!(parse_api_url("ftp://x").is_err());
        assert!(parse_api_url("http://x/?a=b").is_err());
    }

    #[test]
    fn error_bodies_outside_the_contract_keep_the_status() {
        let e = api_error(StatusCode::BAD_GATEWAY, b"<html>", None, Some("5".into()));
        assert_eq!((e.status, e.code.as_str()), (502, "unknown"));
        assert_eq!(e.message, "bad gateway");
        assert_eq!(e.retry_after, None);
        let e = api_error(
            StatusCode::TOO_MANY_REQUESTS,
            br#"{"error":{"code":"too_many_attempts","message":"slow down","extra":1}}"#,
            Some("r".into()),
            Some("7".into()),
        );
        assert_eq!(e.code, "too_many_attempts");
        assert_eq!(e.retry_after.as_deref(), Some("7"));
    }
}

//! `http://…` / `https://…`: each batch is one `POST` of
//! `application/x-ndjson` (one record per line).
//!
//! - 2xx: accepted.
//! - 408, 429, 5xx, no connection, timeout: the same batch is sent again with
//!   capped exponential back-off (honouring `Retry-After` in seconds), for
//!   ever, each retry logged on stderr: a slow or failing receiver slows the
//!   export down, nothing is dropped.
//! - Any other status: the export stops with an error naming it; nothing of
//!   the batch is acked, so the next run sends it again.
//!
//! `--header 'Name: value'` adds headers (auth tokens); values are marked
//! sensitive and never printed, and neither are the URL's user info or query.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use tokio_util::sync::CancellationToken;

use super::sink::{lines, shown_url, span, Backoff, SinkError, MAX_BACKOFF};
use super::Outgoing;

pub const CONTENT_TYPE_NDJSON: &str = "application/x-ndjson";
/// Bound on connecting to the receiver.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on one POST, answer included; a receiver slower than this gets the
/// batch again.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How much of a refusal's body is quoted in the error.
const BODY_EXCERPT: usize = 200;
/// How much of a 2xx answer is read (so the connection is reused); the rest
/// is dropped with the connection.
const DRAIN_LIMIT: usize = 64 * 1024;

/// The HTTP sink.
pub struct HttpSink {
    client: reqwest::Client,
    url: Url,
    shown: String,
    headers: HeaderMap,
}

impl HttpSink {
    /// A sink posting to `url` with `headers` (`(name, value)` pairs).
    pub fn new(url: Url, headers: &[(String, String)]) -> Result<HttpSink> {
        let shown = shown_url(&url);
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| anyhow!("--header: {name:?} is not a valid header name"))?;
            let mut v = HeaderValue::from_str(value).map_err(|_| {
                anyhow!("--header: the value of {name} is not a valid header value")
            })?;
            v.set_sensitive(true);
            map.append(n, v);
        }
        let tls = crate::tls::client_config(url.scheme() == "https")?;
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            // A redirect could carry the auth header elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("bamfctl/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(tls)
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(HttpSink {
            client,
            url,
            shown,
            headers: map,
        })
    }

    pub(super) async fn accept(
        &mut self,
        batch: &[Outgoing],
        stop: &CancellationToken,
    ) -> Result<(), SinkError> {
        let body = bytes::Bytes::from(lines(batch));
        let mut backoff = Backoff::new();
        loop {
            let sent = self
                .client
                .post(self.url.clone())
                .headers(self.headers.clone())
                .header(CONTENT_TYPE, CONTENT_TYPE_NDJSON)
                .body(body.clone())
                .send()
                .await;
            let (why, retry_after) = match sent {
                Ok(answer) if answer.status().is_success() => {
                    // Read (a bounded part of) the answer so the connection
                    // can be used again.
                    let _ = excerpt(answer, DRAIN_LIMIT).await;
                    return Ok(());
                }
                Ok(answer) if retryable(answer.status()) => {
                    let retry_after = answer
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s).min(MAX_BACKOFF));
                    (
                        format!("answered {}", status_text(answer.status())),
                        retry_after,
                    )
                }
                Ok(answer) => {
                    let status = answer.status();
                    let body = excerpt(answer, BODY_EXCERPT).await;
                    let body: String = String::from_utf8_lossy(&body)
                        .chars()
                        .map(|c| if c.is_control() { ' ' } else { c })
                        .take(BODY_EXCERPT)
                        .collect();
                    let body = body.trim();
                    let said = if body.is_empty() {
                        String::new()
                    } else {
                        format!(" ({body})")
                    };
                    return Err(SinkError::Failed(anyhow!(
                        "the HTTP sink {} refused {} with {}{said}; nothing of it was acknowledged",
                        self.shown,
                        span(batch),
                        status_text(status)
                    )));
                }
                // Without the URL: its query may hold a token.
                Err(e) => (describe(&e), None),
            };
            let delay = retry_after.unwrap_or_else(|| backoff.next_delay());
            if retry_after.is_some() {
                backoff.attempt += 1;
            }
            eprintln!(
                "bamfctl: HTTP sink {} {why}; sending {} again in {delay:?} (attempt {})",
                self.shown,
                span(batch),
                backoff.attempt + 1
            );
            Backoff::sleep(delay, stop).await?;
        }
    }
}

/// Up to about `limit` bytes of an answer's body (never the whole of a
/// large one).
async fn excerpt(mut answer: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        match answer.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body
}

/// Statuses worth trying again: the receiver is busy or failing, not refusing.
fn retryable(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// A transport error in words, without the URL.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "did not answer in time"
    } else if e.is_connect() {
        "cannot be reached"
    } else {
        "failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} ({cause})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_failing_receivers_are_retried_refusals_are_not() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retryable(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 301] {
            assert!(!retryable(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }

    #[test]
    fn bad_headers_are_named_without_their_value() {
        let url: Url = "http://127.0.0.1:9/in".parse().unwrap();
        let err = HttpSink::new(url.clone(), &[("Bad Name".into(), "x".into())])
            .err()
            .unwrap();
        assert!(err.to_string().contains("\"Bad Name\""), "{err}");
        let err = HttpSink::new(url, &[("Authorization".into(), "Bearer a\nb".into())])
            .err()
            .unwrap();
        assert!(!err.to_string().contains("Bearer"), "{err}");
    }
}

//! The JSON client an agent or a bridge uses to enrol with the API (join,
//! renew): one reqwest client, rustls with the *ring* provider (the system's
//! roots for `https://`), a timeout on every call, and the API's
//! `{"error": {"code", "message"}}` answers turned into [`ApiCallError::Refused`].

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// reqwest is built without HTTP/2, so offer HTTP/1.1 only.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiCallError {
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
    #[error("cannot reach the API at {url}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// A success status with a body that is not the expected answer.
    #[error("the API's answer to {what} at {url} is not valid")]
    BadAnswer {
        what: &'static str,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The API answered with an error status.
    #[error("the API refused {what}: {message} ({status} {code})")]
    Refused {
        what: &'static str,
        status: u16,
        code: String,
        message: String,
    },
}

impl ApiCallError {
    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiCallError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// A JSON client of one API base URL.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
}

impl ApiClient {
    /// A client for `base_url` (`http://…` or `https://…`), every call
    /// bounded by `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, ApiCallError> {
        let base = base_url.trim_end_matches('/').to_string();
        let tls = tls_config(base.starts_with("https://"))?;
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| ApiCallError::Setup(e.to_string()))?;
        Ok(ApiClient { http, base })
    }

    /// `POST <base><path>` with `body` as JSON; `what` names the call in errors.
    pub async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        what: &'static str,
        path: &str,
        body: &B,
    ) -> Result<R, ApiCallError> {
        let url = format!("{}{path}", self.base);
        let transport = |source| ApiCallError::Transport {
            url: url.clone(),
            source,
        };
        let response = self
            .http
            .post(&url)
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if status.is_success() {
            return response
                .json()
                .await
                .map_err(|source| ApiCallError::BadAnswer {
                    what,
                    url: url.clone(),
                    source,
                });
        }
        let (code, message) = match response.json::<ErrorBody>().await {
            Ok(body) => (body.error.code, body.error.message),
            Err(_) => ("unknown".into(), "no error body".into()),
        };
        Err(ApiCallError::Refused {
            what,
            status: status.as_u16(),
            code,
            message,
        })
    }
}

fn tls_config(load_roots: bool) -> Result<rustls::ClientConfig, ApiCallError> {
    let mut roots = rustls::RootCertStore::empty();
    if load_roots {
        let found = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(ApiCallError::Setup(
                "no trusted root certificates found on this system; set SSL_CERT_FILE".into(),
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ApiCallError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(config)
}

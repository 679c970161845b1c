//! The two API calls an agent makes: `POST /api/v1/agents/join` (first start,
//! with the join token) and `POST /api/v1/agents/renew` (its certificate and a
//! CSR for the same key). One reqwest client, rustls with the *ring*
//! provider, a timeout on every call.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// reqwest is built without HTTP/2, so offer HTTP/1.1 only.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
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

impl ApiError {
    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The answer of join and renew.
#[derive(Debug, Clone, Deserialize)]
pub struct Enrolled {
    pub agent_id: String,
    pub certificate: String,
    pub ca_certificate: String,
    pub not_after: String,
}

#[derive(Serialize)]
struct JoinRequest<'a> {
    token: &'a str,
    name: &'a str,
    csr: &'a str,
}

#[derive(Serialize)]
struct RenewRequest<'a> {
    certificate: &'a str,
    csr: &'a str,
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

/// Client of the agent endpoints.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
}

impl ApiClient {
    /// A client for `platform_url`, every call bounded by `timeout`.
    pub fn new(platform_url: &str, timeout: Duration) -> Result<Self, ApiError> {
        let base = platform_url.trim_end_matches('/').to_string();
        let tls = tls_config(base.starts_with("https://"))?;
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| ApiError::Setup(e.to_string()))?;
        Ok(ApiClient { http, base })
    }

    /// Joins with `token`, sending the CSR of the agent's key.
    pub async fn join(&self, token: &str, name: &str, csr: &str) -> Result<Enrolled, ApiError> {
        self.post(
            "join",
            "/api/v1/agents/join",
            &JoinRequest { token, name, csr },
        )
        .await
    }

    /// Renews `certificate` for the same key (`csr`).
    pub async fn renew(&self, certificate: &str, csr: &str) -> Result<Enrolled, ApiError> {
        self.post(
            "renewal",
            "/api/v1/agents/renew",
            &RenewRequest { certificate, csr },
        )
        .await
    }

    async fn post<B: Serialize>(
        &self,
        what: &'static str,
        path: &str,
        body: &B,
    ) -> Result<Enrolled, ApiError> {
        let url = format!("{}{path}", self.base);
        let transport = |source| ApiError::Transport {
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
            return response.json().await.map_err(|source| ApiError::BadAnswer {
                what,
                url: url.clone(),
                source,
            });
        }
        let (code, message) = match response.json::<ErrorBody>().await {
            Ok(body) => (body.error.code, body.error.message),
            Err(_) => ("unknown".into(), "no error body".into()),
        };
        Err(ApiError::Refused {
            what,
            status: status.as_u16(),
            code,
            message,
        })
    }
}

fn tls_config(load_roots: bool) -> Result<rustls::ClientConfig, ApiError> {
    let mut roots = rustls::RootCertStore::empty();
    if load_roots {
        let found = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(ApiError::Setup(
                "no trusted root certificates found on this system; set SSL_CERT_FILE".into(),
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ApiError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(config)
}

/// A CSR for an existing key (renewal keeps the key), PEM.
pub fn csr_for_key(key_pem: &str) -> Result<String, String> {
    let key = rcgen::KeyPair::from_pem(key_pem).map_err(|e| e.to_string())?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(&key).map_err(|e| e.to_string())?;
    csr.pem().map_err(|e| e.to_string())
}

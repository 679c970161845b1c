//! The two API calls an agent makes: `POST /api/v1/agents/join` (first start,
//! with the join token) and `POST /api/v1/agents/renew` (its certificate and a
//! CSR for the same key), over the shared enrolment client of `bamf-runtime`.

use std::time::Duration;

pub use bamf_runtime::api_client::ApiCallError as ApiError;
use serde::{Deserialize, Serialize};

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

/// Client of the agent endpoints.
#[derive(Debug, Clone)]
pub struct ApiClient(bamf_runtime::api_client::ApiClient);

impl ApiClient {
    /// A client for `platform_url`, every call bounded by `timeout`.
    pub fn new(platform_url: &str, timeout: Duration) -> Result<Self, ApiError> {
        bamf_runtime::api_client::ApiClient::new(platform_url, timeout).map(ApiClient)
    }

    /// Joins with `token`, sending the CSR of the agent's key.
    pub async fn join(&self, token: &str, name: &str, csr: &str) -> Result<Enrolled, ApiError> {
        self.0
            .post(
                "join",
                "/api/v1/agents/join",
                &JoinRequest { token, name, csr },
            )
            .await
    }

    /// Renews `certificate` for the same key (`csr`).
    pub async fn renew(&self, certificate: &str, csr: &str) -> Result<Enrolled, ApiError> {
        self.0
            .post(
                "renewal",
                "/api/v1/agents/renew",
                &RenewRequest { certificate, csr },
            )
            .await
    }
}

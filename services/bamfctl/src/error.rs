//! What can go wrong talking to the API, as kinds callers match on: an answer
//! with an error status, an unreachable server, a timeout, a transport failure
//! or an answer that is not what the contract says.

use std::time::Duration;

/// The HTTP status and error code the API uses for a missing or dead login.
const UNAUTHORIZED: u16 = 401;
/// The one 401 that is not about the token: a wrong e-mail or password at login.
const INVALID_CREDENTIALS: &str = "invalid_credentials";

/// An error answer from the API: `{"error": {"code", "message"}}` plus the
/// status and the `x-request-id` the user can quote to an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    /// `retry-after` of a 429, in seconds as the server wrote it.
    pub retry_after: Option<String>,
}

impl ApiError {
    /// The token was missing, unknown, expired or revoked (not a wrong password).
    pub fn is_unauthenticated(&self) -> bool {
        self.status == UNAUTHORIZED && self.code != INVALID_CREDENTIALS
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_unauthenticated() {
            f.write_str("not logged in or login expired; run `bamfctl login`")?;
        } else {
            f.write_str(&self.message)?;
        }
        write!(f, " ({}, HTTP {}", self.code, self.status)?;
        // Among the details, not after the message: bamf-api's own 429
        // message already says when to retry, a proxy's may not.
        if let Some(secs) = &self.retry_after {
            write!(f, ", retry after {secs} s")?;
        }
        let id = self.request_id.as_deref().unwrap_or("none");
        write!(f, ", request id {id})")
    }
}

impl std::error::Error for ApiError {}

/// Why a request to the API did not produce the answer asked for.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(
        "cannot reach the bamf API at {url}: {cause}; check that it is running, \
         or point bamfctl at it with --api-url or BAMF_API_URL"
    )]
    Unreachable {
        url: String,
        cause: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("no answer from the bamf API at {url} within {} s", .after.as_secs())]
    Timeout { url: String, after: Duration },
    #[error("cannot talk to the bamf API at {url}: {cause}")]
    Transport {
        url: String,
        cause: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("unexpected answer from the bamf API (HTTP {status}, request id {}): {what}",
        .request_id.as_deref().unwrap_or("none"))]
    BadResponse {
        status: u16,
        request_id: Option<String>,
        what: String,
    },
}

impl ClientError {
    /// The API error answer, if that is what this is.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            ClientError::Api(e) => Some(e),
            _ => None,
        }
    }
}

/// The innermost cause of an error: for a refused connection that is
/// "Connection refused (os error 111)" rather than reqwest's outer wording.
pub fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: "e-mail already taken".into(),
            request_id: Some("req-1".into()),
            retry_after: None,
        }
    }

    #[test]
    fn an_api_error_names_message_code_status_and_request_id() {
        assert_eq!(
            api(409, "conflict").to_string(),
            "e-mail already taken (conflict, HTTP 409, request id req-1)"
        );
    }

    #[test]
    fn a_401_says_to_log_in_except_for_a_wrong_password() {
        let e = api(401, "unauthenticated");
        assert!(e.is_unauthenticated());
        assert!(e
            .to_string()
            .starts_with("not logged in or login expired; run `bamfctl login`"));
        let e = api(401, "invalid_credentials");
        assert!(!e.is_unauthenticated());
        assert!(e.to_string().starts_with("e-mail already taken"));
    }

    #[test]
    fn a_429_says_when_to_retry_once() {
        let mut e = api(429, "too_many_attempts");
        e.message = "too many failed logins; retry in 30 s".into();
        e.retry_after = Some("30".into());
        e.request_id = None;
        assert_eq!(
            e.to_string(),
            "too many failed logins; retry in 30 s \
             (too_many_attempts, HTTP 429, retry after 30 s, request id none)"
        );
    }
}

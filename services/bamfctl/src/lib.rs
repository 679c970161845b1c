//! `bamfctl`: the bamf command-line client (ARCHITECTURE §6), as a library
//! with a thin binary so its parts are tested without a terminal or a server.
//!
//! Layout: [`cli`] (the command tree and global flags), [`cmd`] (one file per
//! command group: `auth` for login/logout/status, `users`, `roles`, `tokens`,
//! `agents`, `resources`, `logins`, `sessions`, and the tunnel commands
//! `tcp`, `ssh`, `psql` with what they share in `connect`), [`tunnel`] (the
//! client end of a QUIC tunnel: listener and `--stdio` modes, close codes in
//! words), [`context`] (API URL precedence and the
//! saved login), [`client`] (the HTTP client for `/api/v1`, timeouts, error
//! answers), [`tls`] (rustls with *ring* and the system roots), [`error`]
//! (error kinds), [`credentials`] (`~/.bamf/credentials.json`, 0600),
//! [`password`] (no-echo prompt, `--password-stdin`), [`labels`] (`key=value`),
//! [`role_file`] (role documents from YAML), [`types`] (lenient views of the
//! API's objects) and [`output`] (tables and `--json`).

pub mod cli;
pub mod client;
pub mod cmd;
pub mod context;
pub mod credentials;
pub mod error;
pub mod labels;
pub mod output;
pub mod password;
pub mod role_file;
pub mod sse;
pub mod tls;
pub mod tunnel;
pub mod types;

pub use cli::Cli;
pub use cmd::run;

use error::ClientError;

/// The one-line message for a failed command: the context chain, stopping at
/// a [`ClientError`], whose message already names its cause in plain words
/// (reqwest's own chain below it is noise to a user).
pub fn error_report(err: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    for cause in err.chain() {
        parts.push(cause.to_string());
        if cause.downcast_ref::<ClientError>().is_some() {
            break;
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    #[test]
    fn the_report_keeps_the_context_and_stops_at_the_client_error() {
        let api = ApiError {
            status: 403,
            code: "forbidden".into(),
            message: "admin only".into(),
            request_id: Some("r1".into()),
            retry_after: None,
        };
        let err = anyhow::Error::new(ClientError::Api(api)).context("cannot list users");
        assert_eq!(
            error_report(&err),
            "cannot list users: admin only (forbidden, HTTP 403, request id r1)"
        );
    }
}

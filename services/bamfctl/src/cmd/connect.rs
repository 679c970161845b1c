//! What `tcp`, `ssh` and `psql` share: asking the API for a session
//! (`POST /connect` with a fresh key's CSR), opening the tunnel, running a
//! native client next to it, and exiting with that client's status.

use std::process::ExitStatus;

use anyhow::{Context, Result};
use bamf_pki::KeyAndCsr;
use serde_json::json;
use tokio::net::TcpListener;

use crate::client::ApiClient;
use crate::error::ClientError;
use crate::tunnel::{ConnectAnswer, Tunnel, TunnelError, CONNECT_TIMEOUT};

/// The API's answer to `/connect` was a refusal, said for this resource.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "no resource named {resource} that you can reach (unknown, or no online agent \
         advertises it); `bamfctl resources` lists what you can reach"
    )]
    NotFound { resource: String },
    #[error("access to {resource} denied: {message}")]
    Denied { resource: String, message: String },
    #[error("cannot connect to {resource} now: {message} (no bridge is live, or the agent is offline or did not answer in time)")]
    Unavailable { resource: String, message: String },
    #[error("cannot request a session for {resource}")]
    Other {
        resource: String,
        #[source]
        source: ClientError,
    },
}

/// Maps a failed `/connect` to what it means for `resource`.
pub fn connect_error(resource: &str, e: ClientError) -> ConnectError {
    let resource = resource.to_owned();
    match e.api() {
        Some(api) if api.status == 404 => ConnectError::NotFound { resource },
        Some(api) if api.status == 403 => ConnectError::Denied {
            resource,
            message: api.message.clone(),
        },
        Some(api) if api.status == 503 => ConnectError::Unavailable {
            resource,
            message: api.message.clone(),
        },
        _ => ConnectError::Other {
            resource,
            source: e,
        },
    }
}

/// The process should exit with this code (a wrapped client's status);
/// `main` exits with it without printing anything more.
#[derive(Debug, thiserror::Error)]
#[error("exit status {0}")]
pub struct Exit(pub i32);

/// Turns a child's status into `Ok` or an [`Exit`] with the same code
/// (a signal death is 128 + the signal, as shells report it).
pub fn exit_with(status: ExitStatus) -> Result<()> {
    if status.success() {
        return Ok(());
    }
    let code = status.code().unwrap_or_else(|| {
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            128 + status.signal().unwrap_or(0)
        }
        #[cfg(not(unix))]
        {
            1
        }
    });
    Err(Exit(code).into())
}

/// Asks the API for a session to `resource` and opens its tunnel.
pub async fn open(client: &ApiClient, resource: &str) -> Result<(ConnectAnswer, Tunnel)> {
    // A fresh key per session: only its CSR leaves this process.
    let key = KeyAndCsr::generate().context("cannot generate the session key")?;
    let csr = key.csr_pem().context("cannot encode the session CSR")?;
    let answer = client
        .post(&["connect"], &json!({ "resource": resource, "csr": csr }))
        .await
        .map_err(|e| connect_error(resource, e))?;
    let answer: ConnectAnswer = serde_json::from_value(answer)
        .context("unexpected answer from the bamf API to POST /connect")?;
    let tunnel = Tunnel::open(&answer, key.private_key_der(), CONNECT_TIMEOUT)
        .await
        .with_context(|| format!("cannot open the tunnel to {resource}"))?;
    Ok((answer, tunnel))
}

/// Binds the local listener: `port` on 127.0.0.1, or a free one.
pub async fn listen(port: Option<u16>) -> Result<TcpListener> {
    let port = port.unwrap_or(0);
    TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))
}

/// Runs `child` while the tunnel forwards `listener`; exits with the
/// child's status when it ends (closing the session), or with the tunnel's
/// error (stopping the child) if the session ends first.
pub async fn with_child(
    tunnel: &Tunnel,
    listener: TcpListener,
    mut child: tokio::process::Command,
    what: &str,
) -> Result<()> {
    child.kill_on_drop(true);
    let mut child = child
        .spawn()
        .with_context(|| format!("cannot run {what}"))?;
    tokio::select! {
        status = child.wait() => {
            let status = status.with_context(|| format!("cannot wait for {what}"))?;
            tunnel.close().await;
            exit_with(status)
        }
        served = tunnel.serve(listener) => {
            let _ = child.kill().await;
            served.map_err(session_ended)
        }
    }
}

/// The error for a session that ended under a running command.
pub fn session_ended(e: TunnelError) -> anyhow::Error {
    anyhow::Error::new(e).context("the tunnel ended")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    fn refusal(status: u16, code: &str, message: &str) -> ClientError {
        ClientError::Api(ApiError {
            status,
            code: code.into(),
            message: message.into(),
            request_id: Some("r1".into()),
            retry_after: None,
        })
    }

    #[test]
    fn connect_refusals_read_as_what_they_mean_for_the_resource() {
        let e = connect_error("db", refusal(404, "not_found", "no such resource"));
        assert!(matches!(e, ConnectError::NotFound { .. }));
        assert!(e
            .to_string()
            .starts_with("no resource named db that you can reach"));

        let e = connect_error("db", refusal(403, "forbidden", "role dev denies db"));
        assert_eq!(e.to_string(), "access to db denied: role dev denies db");

        let e = connect_error("db", refusal(503, "unavailable", "no live bridge"));
        assert!(e
            .to_string()
            .starts_with("cannot connect to db now: no live bridge"));

        // Anything else keeps the API's own report (code, status, request id).
        let e = connect_error("db", refusal(401, "unauthenticated", "login expired"));
        let report = crate::error_report(&anyhow::Error::new(e));
        assert!(
            report.starts_with("cannot request a session for db: not logged in"),
            "{report}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_child_status_becomes_the_exit_code() {
        use std::os::unix::process::ExitStatusExt;
        assert!(exit_with(ExitStatus::from_raw(0)).is_ok());
        let err = exit_with(ExitStatus::from_raw(7 << 8)).unwrap_err();
        assert_eq!(err.downcast_ref::<Exit>().map(|e| e.0), Some(7));
        // Killed by SIGTERM (15): 128 + 15, as shells say.
        let err = exit_with(ExitStatus::from_raw(15)).unwrap_err();
        assert_eq!(err.downcast_ref::<Exit>().map(|e| e.0), Some(143));
    }
}

//! Connecting to NATS for the commands that read `BAMF_AUDIT` directly
//! (`audit export`, `audit verify` over the stream): these are the SIEM's and
//! the operator's tools, so they talk to NATS with their own NATS user rather
//! than through the API. The permissions they need are in docs/audit.md.
//!
//! Credentials: a `.creds` file (`--nats-creds`), or `--nats-user` with the
//! password in `BAMF_NATS_PASSWORD` (never a flag, so it is not in the shell
//! history or the process list, and never printed). TLS: a `tls://` URL, or
//! `--nats-ca` with the CA that signed the server's certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bamf_events::{jetstream, Client, ConnectOptions};
use clap::Args;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject as _;

/// Environment variable holding the NATS URL when `--nats-url` is not given.
pub const URL_ENV: &str = "BAMF_NATS_URL";
/// Environment variable holding the password of `--nats-user`.
pub const PASSWORD_ENV: &str = "BAMF_NATS_PASSWORD";
/// Bound on reaching the server and completing the NATS handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on each JetStream API request (consumer info, acks awaited, …).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach NATS.
#[derive(Args, Debug, Clone, Default)]
pub struct NatsArgs {
    /// NATS server URL, e.g. nats://nats.internal:4222 or tls://… (several, comma-separated) [env: BAMF_NATS_URL].
    // Read from the environment in `url()`, not by clap: `audit verify
    // --file` must not count an exported BAMF_NATS_URL as a second source.
    #[arg(long = "nats-url", value_name = "URL")]
    pub url: Option<String>,
    /// NATS credentials file (JWT and NKey seed), as made by `nsc`.
    #[arg(long = "nats-creds", value_name = "FILE", conflicts_with = "user")]
    pub creds: Option<PathBuf>,
    /// NATS user name; the password is read from BAMF_NATS_PASSWORD.
    #[arg(long = "nats-user", value_name = "USER")]
    pub user: Option<String>,
    /// PEM file of the CA that signed the NATS server's certificate (enables TLS).
    #[arg(long = "nats-ca", value_name = "FILE")]
    pub ca: Option<PathBuf>,
}

impl NatsArgs {
    /// Whether any `--nats-*` flag was given on the command line.
    pub fn given(&self) -> bool {
        self.url.is_some() || self.creds.is_some() || self.user.is_some() || self.ca.is_some()
    }

    /// Whether a URL is known, from `--nats-url` or [`URL_ENV`].
    pub fn has_url(&self) -> bool {
        self.url().is_some()
    }

    /// `--nats-url`, else [`URL_ENV`].
    fn url(&self) -> Option<String> {
        self.url
            .clone()
            .or_else(|| std::env::var(URL_ENV).ok())
            .filter(|u| !u.trim().is_empty())
    }

    /// Connects (bounded by [`CONNECT_TIMEOUT`]) and returns the client and
    /// its JetStream context.
    pub async fn connect(&self) -> Result<(Client, jetstream::Context)> {
        let Some(url) = self.url() else {
            bail!("no NATS URL: pass --nats-url or set {URL_ENV}");
        };
        let url = url.as_str();
        let shown = redact(url);
        let mut options = ConnectOptions::new()
            .name("bamfctl")
            .connection_timeout(CONNECT_TIMEOUT)
            .request_timeout(Some(REQUEST_TIMEOUT));
        if let Some(creds) = &self.creds {
            options = options.credentials_file(creds).await.with_context(|| {
                format!("cannot read the NATS credentials file {}", creds.display())
            })?;
        }
        if let Some(user) = &self.user {
            let password = std::env::var(PASSWORD_ENV).map_err(|_| {
                anyhow::anyhow!(
                    "--nats-user needs the password in the environment variable {PASSWORD_ENV}"
                )
            })?;
            options = options.user_and_password(user.clone(), password);
        }
        let tls_url = url
            .split(',')
            .any(|u| u.trim().to_ascii_lowercase().starts_with("tls://"));
        if let Some(ca) = &self.ca {
            options = options
                .require_tls(true)
                .tls_client_config(tls_config(Some(ca))?);
        } else if tls_url {
            options = options.tls_client_config(tls_config(None)?);
        }
        // connection_timeout bounds each attempt; this bounds the whole
        // handshake (TLS, auth) too.
        let client = tokio::time::timeout(CONNECT_TIMEOUT * 2, options.connect(url))
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "cannot connect to NATS at {shown}: no answer within {:?}",
                    CONNECT_TIMEOUT * 2
                )
            })?
            .with_context(|| format!("cannot connect to NATS at {shown}"))?;
        let js = jetstream::new(client.clone());
        Ok((client, js))
    }
}

/// rustls with the *ring* provider, trusting `ca` alone when given, else the
/// system's roots.
fn tls_config(ca: Option<&Path>) -> Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read the NATS CA file {}", path.display()))?;
            let mut added = 0;
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
                let cert = cert
                    .with_context(|| format!("{} is not a PEM certificate file", path.display()))?;
                roots
                    .add(cert)
                    .with_context(|| format!("{} holds an unusable certificate", path.display()))?;
                added += 1;
            }
            if added == 0 {
                bail!("{} holds no PEM certificate", path.display());
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                bail!("no trusted root certificates found on this system; pass --nats-ca");
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("cannot set up TLS with the ring provider")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The URL(s) without any `user:password@`, for messages.
pub fn redact(url: &str) -> String {
    url.split(',')
        .map(|u| {
            let u = u.trim();
            let (scheme, rest) = match u.find("://") {
                Some(i) => (&u[..i + 3], &u[i + 3..]),
                None => ("", u),
            };
            match rest.rfind('@') {
                Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
                None => u.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn credentials_in_a_url_are_never_shown() {
        assert_eq!(
            redact("nats://alice:s3cret@nats:4222"),
            "nats://***@nats:4222"
        );
        assert_eq!(
            redact("tls://a:b@x:1, nats://y:2"),
            "tls://***@x:1,nats://y:2"
        );
        assert_eq!(redact("127.0.0.1:4222"), "127.0.0.1:4222");
    }
}

//! The bridge certificate from the API (`api_url`): load it from `data_dir`,
//! else enrol with the bootstrap token (a fresh key; only its CSR travels);
//! then renew it with the certificate itself before it expires, for the same
//! key, and swap it into the running listener.
//!
//! Files in `data_dir`: `bridge.key` (PKCS#8 PEM, 0600; refused when group
//! or others can read it), `ca.crt`, and `bridge.crt` written last, so its
//! presence means the others are complete.
//!
//! The API being unreachable at start is waited out (with a growing pause,
//! until shutdown); a refusal (wrong token, bad names) stops the bridge with
//! the API's message. A stored certificate that is still valid lets the
//! bridge start without the API; the renewal loop then renews at once when
//! the certificate no longer carries the configured names.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use bamf_pki::{CaTrust, KeyAndCsr, ServerCertSlot};
use bamf_runtime::api_client::{ApiCallError, ApiClient};
use bamf_runtime::files;
use bamf_runtime::Shutdown;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::config::BridgeConfig;
use crate::tls::BridgeTls;

pub const KEY_FILE: &str = "bridge.key";
pub const CERT_FILE: &str = "bridge.crt";
pub const CA_FILE: &str = "ca.crt";

/// First pause before trying an unreachable API again; doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// Longest pause between attempts (start-up and failed renewals).
const MAX_RETRY: Duration = Duration::from_secs(30);

/// The bridge's key and certificates, as PEM.
#[derive(Clone)]
pub struct Identity {
    pub key_pem: String,
    pub cert_pem: String,
    pub ca_pem: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Identity").finish_non_exhaustive()
    }
}

impl Identity {
    /// The stored identity, or `None` when `dir` holds no certificate.
    pub fn load(dir: &Path) -> anyhow::Result<Option<Identity>> {
        if !dir.join(CERT_FILE).exists() {
            return Ok(None);
        }
        Ok(Some(Identity {
            key_pem: files::read_key_file(&dir.join(KEY_FILE))?,
            cert_pem: files::read_limited(&dir.join(CERT_FILE))?,
            ca_pem: files::read_limited(&dir.join(CA_FILE))?,
        }))
    }

    /// Writes the identity to `dir` (created 0700 if missing).
    pub fn store(&self, dir: &Path) -> anyhow::Result<()> {
        files::create_private_dir(dir)?;
        files::write_atomic(&dir.join(KEY_FILE), &self.key_pem, 0o600)?;
        files::write_atomic(&dir.join(CA_FILE), &self.ca_pem, 0o644)?;
        files::write_atomic(&dir.join(CERT_FILE), &self.cert_pem, 0o644)?;
        Ok(())
    }

    fn cert_der(&self) -> anyhow::Result<CertificateDer<'static>> {
        CertificateDer::from_pem_slice(self.cert_pem.as_bytes())
            .context("the bridge certificate is not PEM")
    }

    fn key_der(&self) -> anyhow::Result<PrivateKeyDer<'static>> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).context("the bridge key is not PEM")
    }

    /// The TLS material of this identity.
    pub fn tls(&self) -> anyhow::Result<BridgeTls> {
        let trust = CaTrust::from_pem(&self.ca_pem).context("the CA certificate is not valid")?;
        let cert = ServerCertSlot::new(self.cert_der()?, self.key_der()?)
            .context("the bridge certificate and key are not a usable pair")?;
        Ok(BridgeTls {
            cert: Arc::new(cert),
            trust,
        })
    }

    /// Checks the certificate against its CA, `bridge_id` and `now`; answers
    /// whether it carries exactly the configured `names`.
    fn check(&self, bridge_id: &str, names: &[String], now: SystemTime) -> anyhow::Result<bool> {
        let trust = CaTrust::from_pem(&self.ca_pem).context("the CA certificate is not valid")?;
        let claims = trust
            .verify_bridge(std::slice::from_ref(&self.cert_der()?), now, bridge_id)
            .context("the stored bridge certificate is not usable")?;
        let mut held: Vec<String> = claims
            .dns_names
            .iter()
            .cloned()
            .chain(claims.ip_addresses.iter().map(|ip| ip.to_string()))
            .collect();
        held.sort();
        let mut wanted = names.to_vec();
        wanted.sort();
        Ok(held == wanted)
    }

    fn validity(&self) -> anyhow::Result<(SystemTime, SystemTime)> {
        bamf_pki::cert_validity(&self.cert_der()?)
            .context("cannot read the bridge certificate's validity")
    }
}

#[derive(Serialize)]
struct EnrollRequest<'a> {
    token: &'a str,
    bridge_id: &'a str,
    names: &'a [String],
    csr: &'a str,
}

#[derive(Serialize)]
struct RenewRequest<'a> {
    bridge_id: &'a str,
    certificate: &'a str,
    names: &'a [String],
    csr: &'a str,
}

#[derive(Deserialize)]
struct Answer {
    certificate: String,
    ca_certificate: String,
}

/// The names the certificate must carry: `server_name` and the host of
/// `advertise_address`, lower-cased, without duplicates.
pub fn names(config: &BridgeConfig) -> Vec<String> {
    let mut names = vec![config.server_name.trim().to_ascii_lowercase()];
    let advertised = config.advertise_address.trim();
    let host = match advertised.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host,
        _ => advertised,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.to_ascii_lowercase();
    if !host.is_empty() && !names.contains(&host) {
        names.push(host);
    }
    names
}

/// Obtains the bridge certificate: from `data_dir` when it holds a valid one
/// for this bridge, else by enrolling. Waits out an unreachable API until
/// `shutdown`.
pub async fn obtain(
    config: &BridgeConfig,
    api: &ApiClient,
    shutdown: &Shutdown,
) -> anyhow::Result<Identity> {
    let dir = &config.data_dir;
    let wanted = names(config);
    if let Some(stored) = Identity::load(dir).with_context(|| {
        format!(
            "cannot load the bridge identity from {} (key \"data_dir\")",
            dir.display()
        )
    })? {
        match stored.check(&config.bridge_id, &wanted, SystemTime::now()) {
            Ok(_) => {
                info!(bridge = %config.bridge_id, "certificate loaded from data_dir");
                return Ok(stored);
            }
            Err(e) => warn!(
                error = format!("{e:#}"),
                "stored certificate not usable; enrolling again"
            ),
        }
    }
    let mut pause = FIRST_RETRY;
    loop {
        match enroll(config, api, &wanted).await {
            Ok(identity) => {
                identity.store(dir).with_context(|| {
                    format!(
                        "cannot store the bridge identity in {} (key \"data_dir\")",
                        dir.display()
                    )
                })?;
                info!(bridge = %config.bridge_id, "enrolled with the API");
                return Ok(identity);
            }
            Err(Enrol::Refused(e)) => return Err(e),
            Err(Enrol::Unreachable(e)) => {
                warn!(error = %e, retry_in = ?pause, "cannot enrol yet");
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = shutdown.token().cancelled() => bail!("stopped before the bridge could enrol"),
                }
                pause = (pause * 2).min(MAX_RETRY);
            }
        }
    }
}

enum Enrol {
    /// The API said no (or there is no token): retrying will not help.
    Refused(anyhow::Error),
    /// Worth another try later.
    Unreachable(ApiCallError),
}

async fn enroll(
    config: &BridgeConfig,
    api: &ApiClient,
    names: &[String],
) -> Result<Identity, Enrol> {
    let token = config.bootstrap_token.trim();
    if token.is_empty() {
        return Err(Enrol::Refused(anyhow::anyhow!(
            "no usable certificate in {} and no bootstrap_token: set key \"bootstrap_token\" (BAMF_BRIDGE_BOOTSTRAP_TOKEN) to the API's bridge_bootstrap_token",
            config.data_dir.display()
        )));
    }
    let key = KeyAndCsr::generate().map_err(|e| Enrol::Refused(e.into()))?;
    let csr = key.csr_pem().map_err(|e| Enrol::Refused(e.into()))?;
    let request = EnrollRequest {
        token,
        bridge_id: &config.bridge_id,
        names,
        csr: &csr,
    };
    match api
        .post::<_, Answer>("bridge enrolment", "/api/v1/bridges/enroll", &request)
        .await
    {
        Ok(answer) => Ok(Identity {
            key_pem: key.private_key_pem(),
            cert_pem: answer.certificate,
            ca_pem: answer.ca_certificate,
        }),
        Err(e) if refused(&e) => Err(Enrol::Refused(e.into())),
        Err(e) => Err(Enrol::Unreachable(e)),
    }
}

/// A 4xx other than 408/429: the request itself is wrong.
fn refused(error: &ApiCallError) -> bool {
    matches!(error.status(), Some(s) if (400..500).contains(&s) && s != 408 && s != 429)
}

/// Renews now for the same key.
async fn renew(
    config: &BridgeConfig,
    api: &ApiClient,
    identity: &Identity,
    names: &[String],
) -> Result<Identity, ApiCallError> {
    let csr = KeyAndCsr::from_key_pem(&identity.key_pem)
        .and_then(|k| k.csr_pem())
        .map_err(|e| ApiCallError::Setup(format!("cannot make the renewal CSR: {e}")))?;
    let request = RenewRequest {
        bridge_id: &config.bridge_id,
        certificate: &identity.cert_pem,
        names,
        csr: &csr,
    };
    let answer: Answer = api
        .post(
            "bridge certificate renewal",
            "/api/v1/bridges/renew",
            &request,
        )
        .await?;
    Ok(Identity {
        cert_pem: answer.certificate,
        ca_pem: answer.ca_certificate,
        ..identity.clone()
    })
}

/// Keeps the certificate in `slot` fresh until `shutdown`: renews at the
/// usual point of its lifetime (with jitter), or at once when it lacks the
/// configured names; stores each renewal and swaps it in. A refused renewal
/// (the certificate is no longer accepted) falls back to enrolling again
/// with the bootstrap token when one is configured.
pub async fn renew_forever(
    config: BridgeConfig,
    api: ApiClient,
    mut identity: Identity,
    slot: Arc<ServerCertSlot>,
    shutdown: Shutdown,
) {
    let wanted = names(&config);
    let mut pause = FIRST_RETRY;
    loop {
        let due = match identity.check(&config.bridge_id, &wanted, SystemTime::now()) {
            Ok(true) => renewal_delay(&identity),
            // Names changed, or no longer valid: renew (or enrol) now.
            Ok(false) | Err(_) => Duration::ZERO,
        };
        tokio::select! {
            () = tokio::time::sleep(due) => {}
            () = shutdown.token().cancelled() => return,
        }
        let stored = renew_and_swap(&config, &api, &identity, &wanted, &slot).await;
        match stored {
            Ok(next) => {
                info!(bridge = %config.bridge_id, "certificate renewed");
                identity = next;
                pause = FIRST_RETRY;
            }
            Err(error) => {
                warn!(error = format!("{error:#}"), retry_in = ?pause, "certificate renewal failed");
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = shutdown.token().cancelled() => return,
                }
                pause = (pause * 2).min(MAX_RETRY);
            }
        }
    }
}

/// One renewal (or, when it is refused and a token is configured, a fresh
/// enrolment), stored in `data_dir` and swapped into `slot`.
async fn renew_and_swap(
    config: &BridgeConfig,
    api: &ApiClient,
    identity: &Identity,
    wanted: &[String],
    slot: &ServerCertSlot,
) -> anyhow::Result<Identity> {
    let next = match renew(config, api, identity, wanted).await {
        Ok(next) => next,
        Err(e) if refused(&e) && !config.bootstrap_token.trim().is_empty() => {
            warn!(error = %e, "renewal refused; enrolling again with the bootstrap token");
            enroll(config, api, wanted).await.map_err(|e| match e {
                Enrol::Refused(e) => e,
                Enrol::Unreachable(e) => e.into(),
            })?
        }
        Err(e) => return Err(e.into()),
    };
    next.store(&config.data_dir)?;
    slot.replace(next.cert_der()?, next.key_der()?)
        .context("the renewed certificate does not fit the key")?;
    Ok(next)
}

fn renewal_delay(identity: &Identity) -> Duration {
    let at = identity.validity().and_then(|(not_before, not_after)| {
        bamf_pki::renewal_at_random(not_before, not_after).context("cannot draw the renewal jitter")
    });
    match at {
        Ok(at) => bamf_pki::renewal_delay(SystemTime::now(), at),
        Err(e) => {
            warn!(error = format!("{e:#}"), "renewing now");
            Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_server_name_and_the_advertised_host() {
        let config = BridgeConfig {
            server_name: "Bridge.Corp.Example".into(),
            advertise_address: "bridge.corp.example:4433".into(),
            ..BridgeConfig::default()
        };
        assert_eq!(names(&config), ["bridge.corp.example"]);
        let config = BridgeConfig {
            server_name: "localhost".into(),
            advertise_address: "127.0.0.1:4433".into(),
            ..BridgeConfig::default()
        };
        assert_eq!(names(&config), ["localhost", "127.0.0.1"]);
        let config = BridgeConfig {
            server_name: "localhost".into(),
            advertise_address: "[::1]:4433".into(),
            ..BridgeConfig::default()
        };
        assert_eq!(names(&config), ["localhost", "::1"]);
    }
}

//! Getting and keeping the agent's identity: join on first start (a fresh key,
//! the join token, the name), load it on later starts (no token needed), and
//! renew the certificate before it expires (at `renewal_at` with jitter). A
//! 403 on renewal means the agent was deleted: the agent stops.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use bamf_domain::AggregateId;
use tracing::{info, warn};

use crate::api::{ApiClient, ApiError};
use crate::config::AgentConfig;
use crate::identity::Identity;

/// Wait before retrying a renewal that failed for a reason other than 403.
const RENEW_RETRY: Duration = Duration::from_secs(30);

/// Loads the stored identity, or joins with the config's token and stores it.
pub async fn load_or_join(config: &AgentConfig, api: &ApiClient) -> anyhow::Result<Identity> {
    if let Some(identity) = Identity::load(&config.data_dir).with_context(|| {
        format!(
            "cannot load the agent identity from {} (key \"data_dir\")",
            config.data_dir.display()
        )
    })? {
        info!(agent = %identity.agent_id, "identity loaded");
        return Ok(identity);
    }
    let Some(token) = config.join_token() else {
        bail!(
            "no identity in {} and no join_token: set key \"join_token\" (or BAMF_AGENT_JOIN_TOKEN) for the first start",
            config.data_dir.display()
        );
    };
    let key = bamf_pki::KeyAndCsr::generate().context("cannot generate the agent key")?;
    let csr = key.csr_pem().context("cannot encode the agent CSR")?;
    let enrolled = api
        .join(token, &config.name, &csr)
        .await
        .context("cannot join")?;
    let identity = Identity {
        agent_id: AggregateId::new(enrolled.agent_id.clone())
            .context("the API answered an invalid agent id")?,
        key_pem: key.private_key_pem(),
        cert_pem: enrolled.certificate,
        ca_pem: enrolled.ca_certificate,
    };
    identity
        .store(&config.data_dir)
        .context("cannot store the agent identity")?;
    info!(agent = %identity.agent_id, name = %config.name, "joined");
    Ok(identity)
}

/// Why a renewal did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RenewError {
    /// The API refuses this agent (403): it was deleted. The agent stops.
    #[error("agent {agent_id} was deleted (the API refuses to renew its certificate); join again with a new token")]
    Deleted {
        agent_id: AggregateId,
        #[source]
        source: ApiError,
    },
    /// Worth retrying later (API unreachable, 5xx…).
    #[error("cannot renew the agent certificate")]
    Failed(#[source] ApiError),
    /// The renewed identity could not be written; the agent stops.
    #[error("cannot store the renewed certificate")]
    Store(#[source] crate::identity::IdentityError),
}

/// Renews now: a CSR for the same key, the API's answer stored in `data_dir`.
pub async fn renew_now(
    identity: &Identity,
    api: &ApiClient,
    data_dir: &Path,
) -> Result<Identity, RenewError> {
    let csr = bamf_pki::KeyAndCsr::from_key_pem(&identity.key_pem)
        .and_then(|k| k.csr_pem())
        .map_err(|e| {
            RenewError::Failed(ApiError::Setup(format!("cannot make the renewal CSR: {e}")))
        })?;
    let enrolled = match api.renew(&identity.cert_pem, &csr).await {
        Ok(enrolled) => enrolled,
        Err(source) if source.status() == Some(403) => {
            return Err(RenewError::Deleted {
                agent_id: identity.agent_id.clone(),
                source,
            })
        }
        Err(e) => return Err(RenewError::Failed(e)),
    };
    let renewed = Identity {
        cert_pem: enrolled.certificate,
        ca_pem: enrolled.ca_certificate,
        ..identity.clone()
    };
    renewed.store(data_dir).map_err(RenewError::Store)?;
    Ok(renewed)
}

/// Renews the certificate for ever, each time at `renewal_at` with jitter;
/// returns only with the error that stops the agent (deleted, or an identity
/// that cannot be stored).
pub async fn renew_forever(
    data_dir: &Path,
    api: &ApiClient,
    mut identity: Identity,
) -> anyhow::Error {
    loop {
        let delay = match renewal_delay(&identity) {
            Ok(delay) => delay,
            Err(e) => return e,
        };
        tokio::time::sleep(delay).await;
        match renew_now(&identity, api, data_dir).await {
            Ok(renewed) => {
                info!(agent = %renewed.agent_id, "certificate renewed");
                identity = renewed;
            }
            Err(RenewError::Failed(e)) => {
                warn!(error = %e, retry_in = ?RENEW_RETRY, "certificate renewal failed");
                tokio::time::sleep(RENEW_RETRY).await;
            }
            Err(fatal) => return fatal.into(),
        }
    }
}

fn renewal_delay(identity: &Identity) -> anyhow::Result<Duration> {
    let der = identity
        .cert_der()
        .map_err(|e| anyhow::anyhow!("the agent certificate is not PEM: {e}"))?;
    let (not_before, not_after) =
        bamf_pki::cert_validity(&der).context("cannot read the agent certificate's validity")?;
    let at = bamf_pki::renewal_at_random(not_before, not_after)
        .context("cannot draw the renewal jitter")?;
    Ok(bamf_pki::renewal_delay(SystemTime::now(), at))
}

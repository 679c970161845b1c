//! Credential material on `bamf.cred.>` (stream `BAMF_CREDENTIALS`, ARCHITECTURE
//! §2): kept apart from `BAMF_EVENTS` so it never reaches the audit stream or a
//! SIEM. One subject per user and kind (`bamf.cred.user.<id>.password`); the
//! last message on it is the current value. This module stores and reads
//! records; hashing is the API's business (it never sees a plain password here).

use async_nats::header::{self, HeaderMap};
use async_nats::jetstream::{self, stream::DirectGetErrorKind};
use bamf_domain::AggregateId;
use serde::{Deserialize, Serialize};

use crate::streams::CREDENTIALS_STREAM;

/// Largest credential record read back (the stream allows 64 KiB).
const MAX_RECORD_LEN: usize = 64 * 1024;

/// A stored password hash (PHC string, e.g. `$argon2id$v=19$…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordRecord {
    /// `argon2id`.
    pub algorithm: String,
    /// The PHC-format hash, salt included.
    pub hash: String,
}

/// Why a credential could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("cannot store the credential in {CREDENTIALS_STREAM}")]
    Store(#[source] async_nats::Error),
    #[error("cannot read the credential from {CREDENTIALS_STREAM}")]
    Read(#[source] async_nats::Error),
    #[error("the stored credential on {subject} is not a valid record")]
    Corrupt {
        subject: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Reads and writes `bamf.cred.>`. Cheap to clone.
#[derive(Clone)]
pub struct Credentials {
    js: jetstream::Context,
}

/// `bamf.cred.user.<id>.password`.
pub fn password_subject(user_id: &AggregateId) -> String {
    format!("bamf.cred.user.{}.password", user_id.as_str())
}

impl Credentials {
    /// Credentials over `js` (streams are set up separately).
    pub fn new(js: jetstream::Context) -> Self {
        Credentials { js }
    }

    /// Stores a user's password hash (the newest one wins). Returns its sequence.
    pub async fn put_password(
        &self,
        user_id: &AggregateId,
        record: &PasswordRecord,
    ) -> Result<u64, CredentialError> {
        let payload = serde_json::to_vec(record).expect("a record of strings serializes");
        let mut headers = HeaderMap::new();
        headers.insert(header::NATS_EXPECTED_STREAM, CREDENTIALS_STREAM);
        let ack = self
            .js
            .publish_with_headers(password_subject(user_id), headers, payload.into())
            .await
            .map_err(|e| CredentialError::Store(e.into()))?
            .await
            .map_err(|e| CredentialError::Store(e.into()))?;
        Ok(ack.sequence)
    }

    /// The user's current password hash, if one was ever stored.
    pub async fn password(
        &self,
        user_id: &AggregateId,
    ) -> Result<Option<PasswordRecord>, CredentialError> {
        let subject = password_subject(user_id);
        let stream = self
            .js
            .get_stream_no_info(CREDENTIALS_STREAM)
            .await
            .map_err(|e| CredentialError::Read(e.into()))?;
        let message = match stream.direct_get_last_for_subject(&subject).await {
            Ok(m) => m,
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CredentialError::Read(e.into())),
        };
        if message.payload.len() > MAX_RECORD_LEN {
            return Err(CredentialError::Corrupt {
                subject,
                source: serde::de::Error::custom("record too large"),
            });
        }
        serde_json::from_slice(&message.payload)
            .map(Some)
            .map_err(|source| CredentialError::Corrupt { subject, source })
    }
}

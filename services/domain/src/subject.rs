//! NATS subject tokens and event subjects: `bamf.evt.<aggregate>.<id>.<event>`.
//!
//! Every token is lowercase `[a-z0-9_-]`, so an id can never smuggle a `.`, a
//! wildcard or whitespace into a subject. ULIDs are written in lowercase here.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The prefix of every domain-event subject (stream `BAMF_EVENTS`).
pub const EVENT_SUBJECT_PREFIX: &str = "bamf.evt";

/// Longest token accepted; a SHA-256 hex digest (64) fits with room to spare.
pub const MAX_TOKEN_LEN: usize = 128;

/// Why a subject token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    /// The token is empty.
    #[error("subject token is empty")]
    Empty,
    /// The token is longer than [`MAX_TOKEN_LEN`].
    #[error("subject token is {len} characters long (at most {MAX_TOKEN_LEN})")]
    TooLong { len: usize },
    /// The token holds a character outside `[a-z0-9_-]`.
    #[error(
        "subject token {token:?} holds {found:?}; only lowercase a-z, 0-9, '_' and '-' are allowed"
    )]
    InvalidChar { token: String, found: char },
}

/// Checks one subject token.
pub fn validate_token(token: &str) -> Result<(), SubjectError> {
    if token.is_empty() {
        return Err(SubjectError::Empty);
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(SubjectError::TooLong { len: token.len() });
    }
    match token
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
    {
        Some(found) => Err(SubjectError::InvalidChar {
            token: token.to_string(),
            found,
        }),
        None => Ok(()),
    }
}

/// The id of an aggregate (a user, a session, a join token…): a valid subject
/// token, usually a lowercase ULID or a hex digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AggregateId(String);

impl AggregateId {
    /// Validates `id` as a subject token.
    pub fn new(id: impl Into<String>) -> Result<Self, SubjectError> {
        let id = id.into();
        validate_token(&id)?;
        Ok(AggregateId(id))
    }

    /// A ULID, lowercased (subjects are lowercase).
    pub fn from_ulid(id: ulid::Ulid) -> Self {
        AggregateId(id.to_string().to_ascii_lowercase())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AggregateId {
    type Error = SubjectError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        AggregateId::new(value)
    }
}

impl From<AggregateId> for String {
    fn from(id: AggregateId) -> String {
        id.0
    }
}

impl fmt::Display for AggregateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for AggregateId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AggregateId".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An aggregate id: a subject token (lowercase ULID or hex digest).",
            "pattern": "^[a-z0-9_-]{1,128}$"
        })
    }
}

/// The subject of one stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSubject {
    /// Aggregate kind, e.g. `session`.
    pub aggregate: &'static str,
    /// Aggregate id.
    pub id: AggregateId,
    /// Event name within the aggregate, e.g. `granted`.
    pub event: &'static str,
}

impl EventSubject {
    /// The subject filter that covers every event of this aggregate instance,
    /// used for optimistic concurrency over the whole aggregate.
    pub fn aggregate_filter(&self) -> String {
        aggregate_filter(self.aggregate, &self.id)
    }
}

/// `bamf.evt.<aggregate>.<id>.*`.
pub fn aggregate_filter(aggregate: &str, id: &AggregateId) -> String {
    format!("{EVENT_SUBJECT_PREFIX}.{aggregate}.{id}.*")
}

impl fmt::Display for EventSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{EVENT_SUBJECT_PREFIX}.{}.{}.{}",
            self.aggregate, self.id, self.event
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_lowercase_and_safe() {
        assert!(validate_token("01jd7x0000000000000000000a").is_ok());
        assert!(validate_token("role_binding").is_ok());
        assert_eq!(validate_token(""), Err(SubjectError::Empty));
        for bad in ["a.b", "a*", ">", "A", "a b", "alice@corp"] {
            assert!(
                matches!(validate_token(bad), Err(SubjectError::InvalidChar { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            validate_token(&"a".repeat(129)),
            Err(SubjectError::TooLong { len: 129 })
        ));
    }

    #[test]
    fn ulids_become_lowercase_ids() {
        let id = AggregateId::from_ulid(ulid::Ulid::from_parts(1, 2));
        assert_eq!(id.as_str(), id.as_str().to_ascii_lowercase());
        assert!(validate_token(id.as_str()).is_ok());
    }

    #[test]
    fn subjects_and_filters() {
        let s = EventSubject {
            aggregate: "session",
            id: AggregateId::new("abc").unwrap(),
            event: "granted",
        };
        assert_eq!(s.to_string(), "bamf.evt.session.abc.granted");
        assert_eq!(s.aggregate_filter(), "bamf.evt.session.abc.*");
    }

    #[test]
    fn ids_are_validated_when_deserialized() {
        assert!(serde_json::from_str::<AggregateId>("\"ok-1\"").is_ok());
        assert!(serde_json::from_str::<AggregateId>("\"a.b\"").is_err());
    }
}

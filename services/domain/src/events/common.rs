//! Small value types shared by several events.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A SHA-256 digest in lowercase hex: how tokens appear in the log (never raw).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Hex(String);

/// A digest that is not 64 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 digest in lowercase hex: {0:?}")]
pub struct DigestError(pub String);

impl Sha256Hex {
    /// Validates 64 lowercase hex characters.
    pub fn new(hex: impl Into<String>) -> Result<Self, DigestError> {
        let hex = hex.into();
        let ok = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if ok {
            Ok(Sha256Hex(hex))
        } else {
            Err(DigestError(hex))
        }
    }

    /// The digest as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares with `other` without an early exit (cheap, and removes a
    /// timing question when one side was presented by a caller).
    pub fn same_as(&self, other: &Sha256Hex) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl TryFrom<String> for Sha256Hex {
    type Error = DigestError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Sha256Hex::new(value)
    }
}

impl From<Sha256Hex> for String {
    fn from(d: Sha256Hex) -> String {
        d.0
    }
}

impl JsonSchema for Sha256Hex {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Sha256Hex".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "SHA-256 digest, lowercase hex. Secrets appear in the log only as digests.",
            "pattern": "^[0-9a-f]{64}$"
        })
    }
}

/// A label selector entry (`env=prod`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Label {
    pub key: String,
    pub value: String,
}

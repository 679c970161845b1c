//! Event time: RFC 3339, UTC, microsecond precision (`2026-11-22T10:00:00.123456Z`).
//!
//! The domain never reads the clock; callers pass a [`Timestamp`] in.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// An instant in UTC, truncated to microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

/// Why a timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// Not RFC 3339.
    #[error("timestamp {0:?} is not RFC 3339")]
    NotRfc3339(String),
    /// RFC 3339 but not in UTC (`Z`).
    #[error("timestamp {0:?} is not in UTC")]
    NotUtc(String),
}

impl Timestamp {
    /// Converts to UTC and truncates to whole microseconds.
    pub fn new(at: OffsetDateTime) -> Self {
        let at = at.to_offset(UtcOffset::UTC);
        let micros = at.nanosecond() / 1_000 * 1_000;
        // replace_nanosecond only fails above 999_999_999, which micros*1000 cannot reach.
        Timestamp(at.replace_nanosecond(micros).unwrap_or(at))
    }

    /// Microseconds since the Unix epoch.
    pub fn from_unix_micros(micros: i64) -> Self {
        let nanos = i128::from(micros) * 1_000;
        Timestamp::new(
            OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH),
        )
    }

    /// The instant.
    pub fn get(&self) -> OffsetDateTime {
        self.0
    }

    /// Parses the wire form, which must be RFC 3339 in UTC.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        if !text.ends_with('Z') {
            return Err(TimestampError::NotUtc(text.to_string()));
        }
        OffsetDateTime::parse(text, &Rfc3339)
            .map(Timestamp::new)
            .map_err(|_| TimestampError::NotRfc3339(text.to_string()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 in UTC with microseconds, e.g. 2026-11-22T10:00:00.123456Z.",
            "pattern": "Z$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_microseconds() {
        let t = Timestamp::from_unix_micros(1_795_000_000_123_456);
        let text = t.to_string();
        assert!(text.ends_with(".123456Z"), "{text}");
        assert_eq!(Timestamp::parse(&text), Ok(t));
    }

    #[test]
    fn refuses_other_offsets_and_garbage() {
        assert!(matches!(
            Timestamp::parse("2026-01-01T00:00:00+01:00"),
            Err(TimestampError::NotUtc(_))
        ));
        assert!(matches!(
            Timestamp::parse("yesterdayZ"),
            Err(TimestampError::NotRfc3339(_))
        ));
    }
}

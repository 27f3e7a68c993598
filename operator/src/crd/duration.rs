//! `Duration`: a human duration such as `500ms`, `10s`, `1m` or `2h`, as written in the spec.
//!
//! Invariant: the schema pattern and [`Duration::to_std`] accept exactly the same strings, so a
//! value the API server stored always converts.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// The pattern the API server enforces; keep in sync with [`Duration::to_std`].
pub const DURATION_PATTERN: &str = "^[0-9]{1,9}(ms|s|m|h)$";

/// A duration written as a number and one unit (`ms`, `s`, `m`, `h`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(transparent)]
pub struct Duration(pub String);

/// The string is not a number followed by one of `ms`, `s`, `m`, `h`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a duration; write a whole number followed by ms, s, m or h (e.g. 30s)")]
pub struct DurationError(pub String);

impl Duration {
    /// A duration from a literal known to be valid (used for defaults).
    pub fn from_static(s: &'static str) -> Self {
        Self(s.to_owned())
    }

    /// The duration as a `std::time::Duration`.
    pub fn to_std(&self) -> Result<std::time::Duration, DurationError> {
        let s = self.0.as_str();
        let split = s
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| DurationError(s.to_owned()))?;
        let (digits, unit) = s.split_at(split);
        if digits.is_empty() || digits.len() > 9 {
            return Err(DurationError(s.to_owned()));
        }
        let n: u64 = digits.parse().map_err(|_| DurationError(s.to_owned()))?;
        let d = match unit {
            "ms" => std::time::Duration::from_millis(n),
            "s" => std::time::Duration::from_secs(n),
            "m" => std::time::Duration::from_secs(n * 60),
            "h" => std::time::Duration::from_secs(n * 3600),
            _ => return Err(DurationError(s.to_owned())),
        };
        Ok(d)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_every_unit() {
        let d = |s: &str| Duration(s.into()).to_std().unwrap();
        assert_eq!(d("500ms"), std::time::Duration::from_millis(500));
        assert_eq!(d("10s"), std::time::Duration::from_secs(10));
        assert_eq!(d("1m"), std::time::Duration::from_secs(60));
        assert_eq!(d("2h"), std::time::Duration::from_secs(7200));
    }

    #[test]
    fn rejects_what_the_pattern_rejects() {
        for bad in ["", "s", "10", "1.5s", "10d", "-1s", "1m30s", "1234567890s"] {
            assert!(Duration(bad.into()).to_std().is_err(), "{bad} accepted");
        }
    }
}

//! `Percent`: a share of traffic, a whole number from 0 to 100, as written in the spec and the
//! status.
//!
//! Invariant: a `Percent` never holds more than 100, whether built in code or read from JSON; on
//! the wire it is a plain integer, so the CRD schema stays `type: integer`.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// A whole percentage, 0 to 100.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(into = "u8", try_from = "i64")]
pub struct Percent(u8);

/// The number is not a whole percentage.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0} is not a percentage; write a whole number from 0 to 100")]
pub struct PercentError(pub i64);

impl Percent {
    /// No traffic.
    pub const ZERO: Self = Self(0);
    /// All of the traffic.
    pub const HUNDRED: Self = Self(100);

    /// A percentage, if `value` is at most 100.
    pub const fn new(value: u8) -> Result<Self, PercentError> {
        if value <= 100 {
            Ok(Self(value))
        } else {
            Err(PercentError(value as i64))
        }
    }

    /// The nearest percentage to `value`: below 0 is 0, above 100 is 100. For numbers read from
    /// objects the operator does not validate (a VirtualService's weights).
    pub fn saturating_from(value: i64) -> Self {
        // Lossless: the value is clamped into 0..=100 first.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Self(value.clamp(0, 100) as u8)
    }

    /// The number, 0 to 100.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The share that is left: 100 minus this one.
    pub const fn complement(self) -> Self {
        Self(100 - self.0)
    }
}

impl TryFrom<i64> for Percent {
    type Error = PercentError;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        u8::try_from(value)
            .ok()
            .and_then(|v| Self::new(v).ok())
            .ok_or(PercentError(value))
    }
}

impl From<Percent> for u8 {
    fn from(p: Percent) -> Self {
        p.0
    }
}

impl From<Percent> for i32 {
    fn from(p: Percent) -> Self {
        i32::from(p.0)
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl JsonSchema for Percent {
    fn schema_name() -> Cow<'static, str> {
        "Percent".into()
    }

    fn inline_schema() -> bool {
        true
    }

    // Exactly the schema these fields had as bare `i32`, so the CRD is unchanged. The bounds are
    // stated where a field needs them: `range(min = 0, max = 100)` on `canaryWeight`, the CEL
    // 1..=99 rule on `steps`; the status is written only by the operator, from `Percent`s.
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "integer",
            "format": "int32",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_0_to_100() {
        for v in [0, 1, 50, 99, 100] {
            assert_eq!(Percent::new(v).map(Percent::get), Ok(v));
        }
    }

    #[test]
    fn rejects_more_than_100() {
        for v in [101, 150, 255] {
            assert_eq!(Percent::new(v), Err(PercentError(i64::from(v))));
        }
    }

    #[test]
    fn reads_a_plain_integer_and_rejects_one_out_of_range() {
        let read = |json: &str| serde_json::from_str::<Percent>(json);
        assert_eq!(read("25").unwrap().get(), 25);
        assert_eq!(read("0").unwrap(), Percent::ZERO);
        assert_eq!(read("100").unwrap(), Percent::HUNDRED);
        for bad in ["101", "-1", "300", "\"25\"", "2.5"] {
            assert!(read(bad).is_err(), "{bad} accepted");
        }
        let error = read("101").unwrap_err().to_string();
        assert!(error.contains("from 0 to 100"), "{error}");
    }

    #[test]
    fn writes_a_plain_integer() {
        let p = Percent::new(35).unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "35");
        assert_eq!(p.to_string(), "35");
    }

    #[test]
    fn saturates_numbers_from_unvalidated_objects() {
        assert_eq!(Percent::saturating_from(-5), Percent::ZERO);
        assert_eq!(Percent::saturating_from(40).get(), 40);
        assert_eq!(Percent::saturating_from(120), Percent::HUNDRED);
    }

    #[test]
    fn the_complement_is_the_rest_of_100() {
        assert_eq!(Percent::new(30).unwrap().complement().get(), 70);
        assert_eq!(Percent::ZERO.complement(), Percent::HUNDRED);
        assert_eq!(Percent::HUNDRED.complement(), Percent::ZERO);
    }

    #[test]
    fn schema_is_the_int32_of_the_fields_it_replaced() {
        let schema = schemars::schema_for!(Percent);
        let json = serde_json::to_value(&schema).unwrap();
        assert_eq!(json["type"], "integer");
        assert_eq!(json["format"], "int32");
    }
}

//! Durations (`"7d"`, `"200ms"`) and sizes (`"256MiB"`), parsed once at load into typed values.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

/// A duration or size string that could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnitError {
    /// No number at the start.
    #[error("{0:?}: expected a number followed by a unit")]
    NoNumber(String),
    /// A unit that is not known.
    #[error("{input:?}: unknown unit {unit:?} (use {expected})")]
    UnknownUnit {
        /// Whole input.
        input: String,
        /// The unit found.
        unit: String,
        /// The units accepted.
        expected: &'static str,
    },
    /// The value does not fit.
    #[error("{0:?}: value out of range")]
    Overflow(String),
}

const DURATION_UNITS: &str = "ms, s, m, h, d, w";
const SIZE_UNITS: &str = "B, KiB, MiB, GiB, TiB, KB, MB, GB, TB";

fn split_number(input: &str) -> Result<(f64, &str), UnitError> {
    let s = input.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let num: f64 = s[..end]
        .parse()
        .map_err(|_| UnitError::NoNumber(input.to_string()))?;
    Ok((num, s[end..].trim()))
}

/// Parses `"200ms"`, `"30s"`, `"5m"`, `"1h"`, `"7d"`, `"2w"`, `"1.5h"`; a bare number is seconds.
pub fn parse_duration(input: &str) -> Result<Duration, UnitError> {
    let (num, unit) = split_number(input)?;
    let nanos_per_unit: u64 = match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "" | "s" | "sec" | "secs" => 1_000_000_000,
        "m" | "min" | "mins" => 60_000_000_000,
        "h" | "hr" | "hrs" => 3_600_000_000_000,
        "d" | "day" | "days" => 86_400_000_000_000,
        "w" | "week" | "weeks" => 604_800_000_000_000,
        _ => {
            return Err(UnitError::UnknownUnit {
                input: input.to_string(),
                unit: unit.to_string(),
                expected: DURATION_UNITS,
            })
        }
    };
    let overflow = || UnitError::Overflow(input.to_string());
    // Integers are computed exactly; fractions are rounded to the nanosecond.
    let nanos = if num.fract() == 0.0 && num < 1.8e19 {
        (num as u64)
            .checked_mul(nanos_per_unit)
            .ok_or_else(overflow)?
    } else {
        let v = (num * nanos_per_unit as f64).round();
        if !v.is_finite() || v >= 1.8e19 {
            return Err(overflow());
        }
        v as u64
    };
    Ok(Duration::from_nanos(nanos))
}

/// Parses `"256MiB"`, `"1GiB"`, `"64KB"`, `"512"` (bytes) into bytes. `K/M/G/T` alone are binary.
pub fn parse_size(input: &str) -> Result<u64, UnitError> {
    let (num, unit) = split_number(input)?;
    let mult: f64 = match unit {
        "" | "B" | "b" => 1.0,
        "KiB" | "K" | "k" | "Ki" => 1024.0,
        "MiB" | "M" | "Mi" => 1024.0 * 1024.0,
        "GiB" | "G" | "Gi" => 1024.0 * 1024.0 * 1024.0,
        "TiB" | "T" | "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        _ => {
            return Err(UnitError::UnknownUnit {
                input: input.to_string(),
                unit: unit.to_string(),
                expected: SIZE_UNITS,
            })
        }
    };
    let v = num * mult;
    if !v.is_finite() || v > 1.8e19 {
        return Err(UnitError::Overflow(input.to_string()));
    }
    Ok(v as u64)
}

/// Formats a duration the way [`parse_duration`] reads it back (largest exact unit).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 && !d.is_zero() {
        return format!("{}ns", d.as_nanos());
    }
    for (unit, per) in [
        ("w", 604_800_000u128),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= per && ms.is_multiple_of(per) {
            return format!("{}{unit}", ms / per);
        }
    }
    format!("{ms}ms")
}

/// Formats bytes the way [`parse_size`] reads them back (largest exact binary unit).
pub fn format_size(bytes: u64) -> String {
    for (unit, per) in [
        ("TiB", 1u64 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ] {
        if bytes >= per && bytes.is_multiple_of(per) {
            return format!("{}{unit}", bytes / per);
        }
    }
    format!("{bytes}B")
}

/// A duration read from configuration as `"7d"`, `"200ms"`…
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

/// A size read from configuration as `"256MiB"` or a plain number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl std::str::FromStr for HumanDuration {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        parse_duration(s).map(HumanDuration)
    }
}

impl std::str::FromStr for ByteSize {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        parse_size(s).map(ByteSize)
    }
}

impl std::fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl std::fmt::Display for ByteSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_size(self.0))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SizeRepr {
    Int(u64),
    Str(String),
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match SizeRepr::deserialize(d)? {
            SizeRepr::Int(v) => Ok(ByteSize(v)),
            SizeRepr::Str(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        let e = parse_duration("7x").expect_err("unknown unit");
        assert_eq!(
            e.to_string(),
            "\"7x\": unknown unit \"x\" (use ms, s, m, h, d, w)"
        );
        assert!(parse_duration("d").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("5 parsecs").is_err());
    }

    proptest! {
        #[test]
        fn durations_format_round_trip(ms in 0u64..10_000_000_000) {
            let d = Duration::from_millis(ms);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }

        #[test]
        fn sizes_format_round_trip(b in 0u64..(1u64 << 50)) {
            prop_assert_eq!(parse_size(&format_size(b)), Ok(b));
        }
    }
}

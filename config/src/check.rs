//! Validation helpers: parse one raw builder value into its typed form, or record an error that names the
//! key, the value and the fix. Every helper returns `None` on error so the caller can go on and collect
//! every problem in one pass.

use crate::error::ConfigError;
use logmind_protocol::units::{ByteSize, HumanDuration, UnitError};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

/// A size as written in the file: a string with a unit or a plain number of bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RawSize {
    /// A number of bytes.
    Bytes(u64),
    /// A string such as `"16MiB"`.
    Text(String),
}

impl From<&str> for RawSize {
    fn from(s: &str) -> Self {
        RawSize::Text(s.to_string())
    }
}

/// Whether zero is an acceptable value for a duration or size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zero {
    /// Zero is refused.
    Refuse,
    /// Zero is meaningful (e.g. "no grace period").
    Allow,
}

/// Collects validation errors.
#[derive(Debug, Default)]
pub struct Checker {
    /// Errors found so far.
    pub errors: Vec<ConfigError>,
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn unit_problem(e: &UnitError, units: &str, example: &str) -> String {
    match e {
        UnitError::NoNumber(_) => {
            format!("expected a number followed by a unit, e.g. {example} (use {units})")
        }
        UnitError::UnknownUnit { unit, expected, .. } => {
            format!("unknown unit {unit:?} (use {expected})")
        }
        UnitError::Overflow(_) => "value out of range (use a smaller value)".to_string(),
    }
}

impl Checker {
    /// Records an error.
    pub fn push(&mut self, e: ConfigError) {
        self.errors.push(e);
    }

    /// Records an `Invalid` error for a string value.
    pub fn invalid(&mut self, key: &str, value: &str, problem: impl Into<String>) {
        self.errors
            .push(ConfigError::invalid(key, quote(value), problem));
    }

    /// Parses a duration such as `"7d"`, kept to the millisecond.
    ///
    /// Durations are floating-point products (`"1.5h"`), so the value is rounded to the nearest
    /// millisecond; this makes the printed effective configuration read back to exactly the same value.
    /// A value that really has a sub-millisecond part (`"1.3ms"`, `"400us"`) is refused.
    pub fn duration(&mut self, key: &str, raw: &str, zero: Zero) -> Option<HumanDuration> {
        let parsed = match raw.parse::<HumanDuration>() {
            Ok(d) => d.0,
            Err(e) => {
                self.invalid(key, raw, unit_problem(&e, "ms, s, m, h, d, w", "\"30s\""));
                return None;
            }
        };
        let nanos = parsed.as_nanos();
        let rounded_ms = (nanos + 500_000) / 1_000_000;
        let error = nanos.abs_diff(rounded_ms * 1_000_000);
        // Floating-point noise is far below this; a real sub-millisecond part is not.
        let tolerance = (nanos / 100_000_000_000_000).max(1_000);
        if error > tolerance {
            self.invalid(key, raw, "finer than a millisecond (durations are kept to the millisecond: use e.g. \"1ms\")");
            return None;
        }
        let d = HumanDuration(Duration::from_millis(
            u64::try_from(rounded_ms).unwrap_or(u64::MAX),
        ));
        if zero == Zero::Refuse && d.0.is_zero() {
            self.invalid(key, raw, "must be greater than zero (use e.g. \"1s\")");
            return None;
        }
        Some(d)
    }

    /// Parses a size such as `"16MiB"` or a number of bytes.
    pub fn size(&mut self, key: &str, raw: &RawSize, zero: Zero) -> Option<ByteSize> {
        let (parsed, shown) = match raw {
            RawSize::Bytes(b) => (Ok(ByteSize(*b)), b.to_string()),
            RawSize::Text(s) => (s.parse::<ByteSize>(), quote(s)),
        };
        match parsed {
            Ok(b) if zero == Zero::Refuse && b.0 == 0 => {
                let problem = "must be greater than zero (use e.g. \"1MiB\")";
                self.push(ConfigError::invalid(key, shown, problem));
                None
            }
            Ok(b) => Some(b),
            Err(e) => {
                let problem =
                    unit_problem(&e, "B, KiB, MiB, GiB, TiB, KB, MB, GB, TB", "\"16MiB\"");
                self.push(ConfigError::invalid(key, shown, problem));
                None
            }
        }
    }

    /// Parses an `IP:PORT` listen address.
    pub fn socket_addr(&mut self, key: &str, raw: &str, example: &str) -> Option<SocketAddr> {
        match raw.trim().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                let problem = format!("invalid socket address (use IP:PORT like {example})");
                self.invalid(key, raw, problem);
                None
            }
        }
    }

    /// Refuses an empty (or blank) string.
    pub fn non_empty(&mut self, key: &str, raw: &str, example: &str) -> Option<String> {
        if raw.trim().is_empty() {
            self.invalid(key, raw, format!("must not be empty (use e.g. {example})"));
            None
        } else {
            Some(raw.to_string())
        }
    }

    /// Compiles a regular expression.
    pub fn regex(&mut self, key: &str, raw: &str) -> Option<Regex> {
        match Regex::new(raw) {
            Ok(r) => Some(r),
            Err(e) => {
                let text = e.to_string();
                let last = text.lines().last().unwrap_or("syntax error").trim();
                let first = last
                    .strip_prefix("error:")
                    .unwrap_or(last)
                    .trim()
                    .to_string();
                let problem = format!(
                    "invalid regular expression: {first} (fix the pattern; syntax: https://docs.rs/regex/#syntax)"
                );
                self.invalid(key, raw, problem);
                None
            }
        }
    }

    /// Accepts one of a fixed set of lower-case words.
    pub fn one_of<T: Copy>(&mut self, key: &str, raw: &str, choices: &[(&str, T)]) -> Option<T> {
        let lower = raw.trim().to_ascii_lowercase();
        if let Some((_, v)) = choices.iter().find(|(name, _)| *name == lower) {
            return Some(*v);
        }
        let names: Vec<String> = choices.iter().map(|(n, _)| quote(n)).collect();
        self.invalid(
            key,
            raw,
            format!("unknown value (use one of {})", names.join(", ")),
        );
        None
    }

    /// Refuses an integer below `min`.
    pub fn at_least(&mut self, key: &str, value: u64, min: u64) -> Option<u64> {
        if value < min {
            let problem = format!("must be at least {min} (use e.g. {})", min.max(100));
            self.push(ConfigError::invalid(key, value.to_string(), problem));
            None
        } else {
            Some(value)
        }
    }
}

/// A compiled regular expression that remembers its source (compared and printed by source).
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    /// Wraps a compiled regex.
    pub fn new(regex: Regex) -> Self {
        Pattern {
            source: regex.as_str().to_string(),
            regex,
        }
    }

    /// The compiled regex.
    pub fn regex(&self) -> &Regex {
        &self.regex
    }

    /// The source text, as written in the configuration.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

impl Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last(c: &Checker) -> String {
        c.errors.last().map(ToString::to_string).unwrap_or_default()
    }

    #[test]
    fn unit_errors_name_key_and_units() {
        let mut c = Checker::default();
        assert!(c
            .duration("indexer.retention.period", "7x", Zero::Refuse)
            .is_none());
        assert_eq!(
            last(&c),
            "indexer.retention.period \"7x\": unknown unit \"x\" (use ms, s, m, h, d, w)"
        );
        assert!(c
            .size("agent.batch_max_bytes", &RawSize::Bytes(0), Zero::Refuse)
            .is_none());
        assert!(last(&c).starts_with("agent.batch_max_bytes 0: must be greater than zero"));
    }

    #[test]
    fn durations_are_kept_to_the_millisecond() {
        let mut c = Checker::default();
        let ms =
            |c: &mut Checker, s: &str| c.duration("k", s, Zero::Allow).map(|d| d.0.as_millis());
        assert_eq!(ms(&mut c, "1.5h"), Some(5_400_000));
        assert_eq!(ms(&mut c, "74565.957h"), Some(268_437_445_200));
        assert_eq!(ms(&mut c, "0.1s"), Some(100));
        assert_eq!(ms(&mut c, "0s"), Some(0));
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert_eq!(ms(&mut c, "1.3ms"), None);
        assert!(last(&c).contains("k \"1.3ms\": finer than a millisecond"));
        assert_eq!(ms(&mut c, "400us"), None);
        assert!(c.duration("k", "0s", Zero::Refuse).is_none());
        assert!(last(&c).contains("must be greater than zero"));
    }
}

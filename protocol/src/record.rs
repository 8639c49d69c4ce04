//! [`LogRecord`]: one log event after the agent is done with it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One log event, with field names exactly as in ARCHITECTURE.md.
///
/// Empty strings mean "absent" and are omitted on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogRecord {
    /// Event time, ns since the Unix epoch (from the CRI/Docker timestamp).
    pub ts: i64,
    /// Kubernetes namespace; for Docker the compose project, else `docker`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Application name (pod label, compose service or container name).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub app: String,
    /// Pod name (Kubernetes) or empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pod: String,
    /// Container name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub container: String,
    /// Container id (Docker id or Kubernetes pod uid + container).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub container_id: String,
    /// Container restart count (the `N` of `N.log`).
    #[serde(skip_serializing_if = "is_zero")]
    pub restart: u32,
    /// Node the container ran on.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub node: String,
    /// `stdout` or `stderr`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stream: String,
    /// Normalised level (see [`Level`]) or empty when unknown.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub level: String,
    /// Extracted request id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub request_id: String,
    /// Extracted user id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user_id: String,
    /// Extracted trace id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub trace_id: String,
    /// The full event text after framing; multi-line events joined with `\n`.
    pub message: String,
    /// Other parsed key/values, flattened with `.`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// Where the line came from; unique per line.
    pub source: Source,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// Origin of a record: agent id, stable file identity and byte offset of the event's first line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Source {
    /// Id of the agent that read the line.
    pub agent: String,
    /// Stable identity of the file (device, inode and head fingerprint), not its path.
    pub file: String,
    /// Byte offset of the event's first line in that file.
    pub offset: u64,
}

/// The normalised levels, in increasing severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `trace`
    Trace,
    /// `debug`
    Debug,
    /// `info`
    Info,
    /// `warn`
    Warn,
    /// `error`
    Error,
    /// `fatal`
    Fatal,
}

impl Level {
    /// All levels, in increasing severity.
    pub const ALL: [Level; 6] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
        Level::Fatal,
    ];

    /// The canonical lowercase name used in records and queries.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// Normalises the spellings found in the wild (`ERROR`, `err`, `warning`, `crit`, `E`, `30`…).
    pub fn parse(s: &str) -> Option<Level> {
        let s = s.trim();
        if s.len() > 16 {
            return None;
        }
        let mut buf = [0u8; 16];
        let lower = &mut buf[..s.len()];
        lower.copy_from_slice(s.as_bytes());
        lower.make_ascii_lowercase();
        Some(match &*lower {
            b"trace" | b"trc" | b"t" | b"finest" | b"finer" | b"10" => Level::Trace,
            b"debug" | b"dbg" | b"d" | b"fine" | b"20" => Level::Debug,
            b"info" | b"inf" | b"i" | b"information" | b"informational" | b"notice" | b"30" => {
                Level::Info
            }
            b"warn" | b"warning" | b"wrn" | b"w" | b"40" => Level::Warn,
            b"error" | b"err" | b"e" | b"severe" | b"50" => Level::Error,
            b"fatal" | b"critical" | b"crit" | b"panic" | b"emerg" | b"emergency" | b"alert"
            | b"f" | b"c" | b"60" => Level::Fatal,
            _ => return None,
        })
    }

    /// True for the levels counted as errors (`error`, `fatal`).
    pub fn is_error(self) -> bool {
        self >= Level::Error
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_spellings_normalise() {
        assert_eq!(Level::parse("ERROR"), Some(Level::Error));
        assert_eq!(Level::parse("Warning"), Some(Level::Warn));
        assert_eq!(Level::parse(" crit "), Some(Level::Fatal));
        assert_eq!(Level::parse("verbose-ish"), None);
        assert_eq!(Level::parse("a-very-long-level-name"), None);
    }

    #[test]
    fn empty_fields_are_omitted_on_the_wire() {
        let r = LogRecord {
            ts: 1,
            message: "hi".into(),
            ..Default::default()
        };
        let json = serde_json::to_string(&r).expect("serialize");
        assert_eq!(
            json,
            r#"{"ts":1,"message":"hi","source":{"agent":"","file":"","offset":0}}"#
        );
        let back: LogRecord = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, r);
    }
}

//! `[agent.extract]` (identifier extraction) and `[agent.multiline]` (multi-line event merging).

use crate::check::{Checker, Pattern};
use serde::{Deserialize, Serialize};

/// Which identifier a pattern's named capture group fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdField {
    /// `(?P<request_id>…)`.
    RequestId,
    /// `(?P<user_id>…)`.
    UserId,
    /// `(?P<trace_id>…)`.
    TraceId,
}

impl IdField {
    /// The capture group name (also the record field name).
    pub fn name(self) -> &'static str {
        match self {
            IdField::RequestId => "request_id",
            IdField::UserId => "user_id",
            IdField::TraceId => "trace_id",
        }
    }

    const ALL: [IdField; 3] = [IdField::RequestId, IdField::UserId, IdField::TraceId];
}

/// `[agent.extract]` as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExtractBuilder {
    /// JSON/logfmt keys holding a request id.
    pub request_id_keys: Vec<String>,
    /// JSON/logfmt keys holding a user id.
    pub user_id_keys: Vec<String>,
    /// JSON/logfmt keys holding a trace id.
    pub trace_id_keys: Vec<String>,
    /// Extra regexes with named groups.
    pub patterns: Vec<String>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

impl Default for ExtractBuilder {
    fn default() -> Self {
        ExtractBuilder {
            request_id_keys: strings(&["request_id", "requestId", "req_id", "x_request_id"]),
            user_id_keys: strings(&["user_id", "userId", "uid"]),
            trace_id_keys: strings(&["trace_id", "traceId", "traceparent"]),
            patterns: Vec::new(),
        }
    }
}

/// An extra extraction regex and the identifiers its named groups capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ExtractPattern {
    /// The compiled pattern.
    pub pattern: Pattern,
    /// Identifiers it captures (at least one).
    #[serde(skip)]
    pub fields: Vec<IdField>,
}

/// Validated `[agent.extract]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtractConfig {
    /// JSON/logfmt keys (and free-text `key: X` / `key=X` forms) holding a request id.
    pub request_id_keys: Vec<String>,
    /// Keys holding a user id.
    pub user_id_keys: Vec<String>,
    /// Keys holding a trace id (`traceparent` values yield their trace-id part).
    pub trace_id_keys: Vec<String>,
    /// Extra regexes tried on the message, each with a named group `request_id`, `user_id` or `trace_id`.
    pub patterns: Vec<ExtractPattern>,
}

fn check_keys(c: &mut Checker, key: &str, keys: &[String]) -> bool {
    let mut ok = true;
    for (i, k) in keys.iter().enumerate() {
        if k.trim().is_empty() || k.chars().any(char::is_whitespace) {
            c.invalid(
                &format!("{key}[{i}]"),
                k,
                "a key must be non-empty without spaces (e.g. \"request_id\")",
            );
            ok = false;
        }
    }
    ok
}

impl ExtractBuilder {
    /// Parses and checks every value, recording each problem in `c`.
    pub fn validate(&self, c: &mut Checker) -> Option<ExtractConfig> {
        let mut ok = check_keys(c, "agent.extract.request_id_keys", &self.request_id_keys);
        ok &= check_keys(c, "agent.extract.user_id_keys", &self.user_id_keys);
        ok &= check_keys(c, "agent.extract.trace_id_keys", &self.trace_id_keys);
        let mut patterns = Vec::new();
        for (i, raw) in self.patterns.iter().enumerate() {
            let key = format!("agent.extract.patterns[{i}]");
            let Some(regex) = c.regex(&key, raw) else {
                ok = false;
                continue;
            };
            let fields: Vec<IdField> = IdField::ALL
                .into_iter()
                .filter(|f| regex.capture_names().flatten().any(|n| n == f.name()))
                .collect();
            if fields.is_empty() {
                c.invalid(
                    &key,
                    raw,
                    "no named group request_id, user_id or trace_id (add one, e.g. \"req=(?P<request_id>[0-9a-f-]+)\")",
                );
                ok = false;
                continue;
            }
            patterns.push(ExtractPattern {
                pattern: Pattern::new(regex),
                fields,
            });
        }
        ok.then(|| ExtractConfig {
            request_id_keys: self.request_id_keys.clone(),
            user_id_keys: self.user_id_keys.clone(),
            trace_id_keys: self.trace_id_keys.clone(),
            patterns,
        })
    }
}

/// One custom multi-line rule as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleBuilder {
    /// Regex matching the first line of an event.
    pub start: String,
    /// Regex matching the lines that continue it.
    #[serde(rename = "continue")]
    pub continue_: String,
}

/// `[agent.multiline]` as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MultilineBuilder {
    /// Python tracebacks.
    pub python: bool,
    /// JVM stack traces.
    pub java: bool,
    /// Go panics.
    pub go: bool,
    /// Custom rules.
    pub custom: Vec<RuleBuilder>,
}

impl Default for MultilineBuilder {
    fn default() -> Self {
        MultilineBuilder {
            python: true,
            java: true,
            go: true,
            custom: Vec::new(),
        }
    }
}

/// A custom multi-line rule: a line matching `start` begins an event, following lines matching `continue`
/// are appended to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MultilineRule {
    /// First line of an event.
    pub start: Pattern,
    /// Continuation lines.
    #[serde(rename = "continue")]
    pub continue_: Pattern,
}

/// Validated `[agent.multiline]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MultilineConfig {
    /// Merge Python tracebacks (`Traceback (most recent call last):` … exception line).
    pub python: bool,
    /// Merge JVM stack traces (`\tat …`, `Caused by: …`, `\t... N more`).
    pub java: bool,
    /// Merge Go panics and goroutine dumps.
    pub go: bool,
    /// Extra rules, tried after the built-in ones.
    pub custom: Vec<MultilineRule>,
}

impl MultilineBuilder {
    /// Parses and checks every value, recording each problem in `c`.
    pub fn validate(&self, c: &mut Checker) -> Option<MultilineConfig> {
        let mut custom = Vec::new();
        let mut ok = true;
        for (i, rule) in self.custom.iter().enumerate() {
            let start = c.regex(&format!("agent.multiline.custom[{i}].start"), &rule.start);
            let cont = c.regex(
                &format!("agent.multiline.custom[{i}].continue"),
                &rule.continue_,
            );
            match (start, cont) {
                (Some(s), Some(k)) => custom.push(MultilineRule {
                    start: Pattern::new(s),
                    continue_: Pattern::new(k),
                }),
                _ => ok = false,
            }
        }
        ok.then(|| MultilineConfig {
            python: self.python,
            java: self.java,
            go: self.go,
            custom,
        })
    }
}

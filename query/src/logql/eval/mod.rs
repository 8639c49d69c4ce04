//! LogQL evaluation over records: the log pipeline ([`pipeline`]), metric queries ([`metric`]) and what can be
//! answered from the index instead of by scanning ([`plan`]).
//!
//! Labels of a record: stream labels are logmind's placement fields (`namespace`, `app`, `pod`, `container`,
//! `node`, `stream`); structured metadata are the extracted fields (`level` with its alias `detected_level`,
//! `request_id`, `user_id`, `trace_id`); parsers (`json`, `logfmt`, `pattern`, `regexp`, `unpack`) add parsed
//! labels. Label filters see all three; metric series are keyed by stream labels, `level` and parsed labels
//! (ids join a series key only when an aggregation groups by them, so a plain `count_over_time` never explodes
//! into one series per request).

pub mod format;
pub mod metric;
pub mod parsers;
pub mod pipeline;
pub mod plan;

use logmind_protocol::LogRecord;
use std::collections::BTreeMap;

/// A label set, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// Stream label names, in the order logmind exposes them.
pub const STREAM_LABELS: [&str; 6] = ["namespace", "app", "pod", "container", "node", "stream"];
/// Structured-metadata label names.
pub const METADATA_LABELS: [&str; 4] = ["level", "request_id", "user_id", "trace_id"];
/// Labels left out of metric series keys unless grouped on explicitly.
pub const HIGH_CARDINALITY: [&str; 3] = ["request_id", "user_id", "trace_id"];

/// Maps Grafana's aliases onto logmind's field names (`service_name` → `app`, `detected_level` → `level`).
pub fn canonical_label(name: &str) -> &str {
    match name {
        "service_name" | "service" => "app",
        "detected_level" => "level",
        "namespace_name" => "namespace",
        "pod_name" => "pod",
        "container_name" => "container",
        other => other,
    }
}

/// One log line moving through a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Event time, ns.
    pub ts: i64,
    /// The line (may be rewritten by `line_format`).
    pub line: String,
    /// Stream labels.
    pub stream: Labels,
    /// Structured metadata.
    pub metadata: Labels,
    /// Labels added by parsers and formatters.
    pub parsed: Labels,
    /// Bytes of label values `label_format` templates have made for this entry (see
    /// [`format::MAX_FORMATTED_LABEL_BYTES`]).
    pub formatted: usize,
}

impl Entry {
    /// Builds the entry of a record.
    pub fn from_record(r: &LogRecord) -> Entry {
        let mut stream = Labels::new();
        for (k, v) in [
            ("namespace", &r.namespace),
            ("app", &r.app),
            ("pod", &r.pod),
            ("container", &r.container),
            ("node", &r.node),
            ("stream", &r.stream),
        ] {
            if !v.is_empty() {
                stream.insert(k.to_string(), v.clone());
            }
        }
        let mut metadata = Labels::new();
        for (k, v) in [
            ("level", &r.level),
            ("request_id", &r.request_id),
            ("user_id", &r.user_id),
            ("trace_id", &r.trace_id),
        ] {
            if !v.is_empty() {
                metadata.insert(k.to_string(), v.clone());
            }
        }
        Entry {
            ts: r.ts,
            line: r.message.clone(),
            stream,
            metadata,
            parsed: Labels::new(),
            formatted: 0,
        }
    }

    /// A label's value by name (aliases understood): parsed labels first, then metadata, then stream labels.
    pub fn get(&self, name: &str) -> Option<&str> {
        if let Some(v) = self.parsed.get(name) {
            return Some(v);
        }
        let name = canonical_label(name);
        self.metadata
            .get(name)
            .or_else(|| self.stream.get(name))
            .map(String::as_str)
    }

    /// True when a label of that name exists anywhere.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets a parsed label; a name already used by a stream label gets the `_extracted` suffix, as in Loki.
    pub fn set_parsed(&mut self, name: String, value: String) {
        if self.stream.contains_key(&name) {
            self.parsed.insert(format!("{name}_extracted"), value);
        } else {
            self.parsed.insert(name, value);
        }
    }

    /// Removes a label wherever it is.
    pub fn remove(&mut self, name: &str) {
        self.parsed.remove(name);
        let c = canonical_label(name);
        self.metadata.remove(c);
        self.stream.remove(c);
    }

    /// All labels merged (stream, then metadata, then parsed overriding).
    pub fn all_labels(&self) -> Labels {
        let mut out = self.stream.clone();
        out.extend(self.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
        out.extend(self.parsed.iter().map(|(k, v)| (k.clone(), v.clone())));
        out
    }

    /// The series key for metric queries: everything but the high-cardinality ids not in `keep`.
    pub fn series_labels(&self, keep: &[String]) -> Labels {
        let mut out = self.all_labels();
        out.retain(|k, _| !HIGH_CARDINALITY.contains(&k.as_str()) || keep.iter().any(|g| g == k));
        out
    }
}

/// A query that parsed but cannot be evaluated (bad regex, template, limits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

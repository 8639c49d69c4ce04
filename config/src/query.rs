//! `[query]`: limits that protect the query layer from expensive requests.

use crate::check::{Checker, RawSize, Zero};
use logmind_protocol::units::{ByteSize, HumanDuration};
use serde::{Deserialize, Serialize};

/// `[query]` as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryBuilder {
    /// Longest accepted time range.
    pub max_range: String,
    /// Most lines one request may return.
    pub max_lines: u64,
    /// Lines returned when the request gives no limit.
    pub default_limit: u64,
    /// Per-request timeout.
    pub timeout: String,
    /// Longest accepted regular expression.
    pub max_regex_bytes: RawSize,
    /// Most live tails (`/loki/api/v1/tail`) at once.
    pub max_tails: u64,
}

impl Default for QueryBuilder {
    fn default() -> Self {
        QueryBuilder {
            max_range: "31d".into(),
            max_lines: 5000,
            default_limit: 100,
            timeout: "30s".into(),
            max_regex_bytes: "4KiB".into(),
            max_tails: 10,
        }
    }
}

/// Validated `[query]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueryConfig {
    /// Longest `end - start` a query may span; longer → 400.
    pub max_range: HumanDuration,
    /// Most lines (events) one request may return; a larger `limit` is refused.
    pub max_lines: u64,
    /// Lines returned when a request gives no `limit`.
    pub default_limit: u64,
    /// A query running longer than this is cancelled (504).
    pub timeout: HumanDuration,
    /// Longest accepted regular expression in a query (LogQL `|~` or `=~`).
    pub max_regex_bytes: ByteSize,
    /// Most live tails at once (Loki's `max_concurrent_tail_requests`); one more is refused with 429.
    pub max_tails: u64,
}

impl Default for QueryConfig {
    /// The built-in defaults (what an empty config file gives).
    fn default() -> Self {
        QueryBuilder::default()
            .validate(&mut Checker::default())
            .expect("built-in query defaults are valid (tested)")
    }
}

impl QueryBuilder {
    /// Parses and checks every value, recording each problem in `c`.
    pub fn validate(&self, c: &mut Checker) -> Option<QueryConfig> {
        let max_range = c.duration("query.max_range", &self.max_range, Zero::Refuse);
        let max_lines = c.at_least("query.max_lines", self.max_lines, 1);
        let default_limit = c.at_least("query.default_limit", self.default_limit, 1);
        let timeout = c.duration("query.timeout", &self.timeout, Zero::Refuse);
        let max_regex_bytes = c.size("query.max_regex_bytes", &self.max_regex_bytes, Zero::Refuse);
        let max_tails = c.at_least("query.max_tails", self.max_tails, 1);
        if let (Some(max), Some(def)) = (max_lines, default_limit) {
            if def > max {
                c.push(crate::ConfigError::invalid(
                    "query.default_limit",
                    def.to_string(),
                    format!(
                        "larger than query.max_lines {max} (lower it or raise query.max_lines)"
                    ),
                ));
                return None;
            }
        }
        Some(QueryConfig {
            max_range: max_range?,
            max_lines: max_lines?,
            default_limit: default_limit?,
            timeout: timeout?,
            max_regex_bytes: max_regex_bytes?,
            max_tails: max_tails?,
        })
    }
}

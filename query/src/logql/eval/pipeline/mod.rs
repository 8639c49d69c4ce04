//! Compiled log pipelines: line filters, parsers, label filters and formatters applied to one [`Entry`].
//!
//! This module holds the compiled forms ([`Pipeline`], [`CompiledUnwrap`]), the compile limits and regex
//! compilation; `filter` holds label matchers and label filter expressions, `steps` what each stage compiles to,
//! [`compile`] and the running of a pipeline over an entry.

mod filter;
mod steps;

pub use filter::{convert, CompiledFilter, CompiledMatcher};
pub use steps::compile;

use super::parsers::ERROR_LABEL;
use super::{Entry, EvalError};
use crate::logql::ast::UnwrapConv;
use regex::Regex;
use steps::Step;

/// Limits applied while compiling.
#[derive(Debug, Clone, Copy)]
pub struct CompileLimits {
    /// Maximum size of one regex source, in bytes.
    pub max_regex_bytes: usize,
}

impl Default for CompileLimits {
    fn default() -> Self {
        CompileLimits {
            max_regex_bytes: 4096,
        }
    }
}

/// Compiles a regex the way Loki does (RE2 syntax, label matchers fully anchored).
pub fn compile_regex(src: &str, anchored: bool, limits: CompileLimits) -> Result<Regex, EvalError> {
    if src.len() > limits.max_regex_bytes {
        return Err(EvalError(format!(
            "regex of {} bytes is over the limit of {} bytes",
            src.len(),
            limits.max_regex_bytes
        )));
    }
    let full = if anchored {
        format!("^(?s:{src})$")
    } else {
        src.to_string()
    };
    regex::RegexBuilder::new(&full)
        .size_limit(limits.max_regex_bytes * 256)
        .build()
        .map_err(|e| EvalError(format!("invalid regex {src:?}: {e}")))
}

/// A compiled pipeline (everything but `unwrap`, which [`compile`] returns separately).
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    steps: Vec<Step>,
}

/// A compiled `unwrap` stage.
#[derive(Debug, Clone)]
pub struct CompiledUnwrap {
    /// Label to take the value from.
    pub label: String,
    /// Conversion.
    pub conv: UnwrapConv,
    /// Post-unwrap filters.
    pub filters: Vec<CompiledFilter>,
}

impl CompiledUnwrap {
    /// The sample value of an entry, or None when it has no convertible value (the entry is then skipped and
    /// marked, as Loki does with `SampleExtractionErr`).
    pub fn value(&self, e: &mut Entry) -> Option<f64> {
        let v = e.get(&self.label).and_then(|v| convert(v, self.conv));
        if v.is_none() {
            e.parsed
                .insert(ERROR_LABEL.to_string(), "SampleExtractionErr".to_string());
        }
        for f in &self.filters {
            if !f.eval(e) {
                return None;
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::parse_log;
    use logmind_protocol::LogRecord;

    fn run(q: &str, r: &LogRecord) -> Option<Entry> {
        let l = parse_log(q).expect("parse");
        let (p, _) = compile(&l.pipeline, CompileLimits::default()).expect("compile");
        let mut e = Entry::from_record(r);
        p.process(&mut e).then_some(e)
    }

    fn rec(msg: &str) -> LogRecord {
        LogRecord {
            ts: 1,
            namespace: "shop".into(),
            app: "backend".into(),
            level: "error".into(),
            request_id: "req-1".into(),
            message: msg.into(),
            ..Default::default()
        }
    }

    #[test]
    fn line_filters_chain_and_or() {
        let r = rec("payment failed: timeout");
        assert!(run(r#"{app="backend"} |= "payment" != "ok""#, &r).is_some());
        assert!(run(r#"{app="backend"} |= "nope" or "timeout""#, &r).is_some());
        assert!(run(r#"{app="backend"} |= "nope""#, &r).is_none());
        assert!(run(r#"{app="backend"} |~ "fail(ed)?: \\w+""#, &r).is_some());
        assert!(run(r#"{app="backend"} !~ "time.ut""#, &r).is_none());
        assert!(run(r#"{app="backend"} |> "<_> failed: <_>""#, &r).is_some());
    }

    #[test]
    fn parsers_then_label_filters() {
        let r = rec(r#"{"msg":"slow","latency_ms":1500,"dur":"1.5s","size":"2KB","status":503}"#);
        assert!(run(
            r#"{app="backend"} | json | latency_ms > 1000 and status >= 500"#,
            &r
        )
        .is_some());
        assert!(run(r#"{app="backend"} | json | dur > 1s, size > 1KB"#, &r).is_some());
        assert!(run(
            r#"{app="backend"} | json | latency_ms < 1000 or status == 200"#,
            &r
        )
        .is_none());
        assert!(run(
            r#"{app="backend"} | json | request_id="req-1" | detected_level="error""#,
            &r
        )
        .is_some());
        assert!(run(
            r#"{service_name="backend"} | json | request_id="req-2""#,
            &r
        )
        .is_none());
        let e = run(
            r#"{app="backend"} | json | msg=~"sl.w" | line_format "{{.msg}} {{.status}}""#,
            &r,
        )
        .expect("kept");
        assert_eq!(e.line, "slow 503");
    }

    #[test]
    fn errors_are_labelled_and_filterable() {
        let r = rec("plain text");
        let e = run(r#"{app="backend"} | json"#, &r).expect("kept");
        assert_eq!(e.get("__error__"), Some("JSONParserErr"));
        assert!(run(r#"{app="backend"} | json | __error__="""#, &r).is_none());
        let e = run(r#"{app="backend"} | logfmt | x > 1"#, &rec("x=abc")).expect("kept with error");
        assert_eq!(e.get("__error__"), Some("LabelFilterErr"));
    }

    #[test]
    fn formatters_drop_keep() {
        let r = rec("level=warn user=alice code=7");
        let e = run(
            r#"{app="backend"} | logfmt | label_format who=user, tag="{{.code}}-x" | drop code"#,
            &r,
        )
        .expect("kept");
        assert_eq!(e.get("who"), Some("alice"));
        assert_eq!(e.get("user"), None);
        assert_eq!(e.get("tag"), Some("7-x"));
        assert_eq!(e.get("code"), None);
        let e = run(r#"{app="backend"} | logfmt | keep app, user"#, &r).expect("kept");
        assert_eq!(e.all_labels().len(), 2);
    }

    #[test]
    fn label_format_values_are_bounded_per_entry() {
        use crate::logql::eval::format::MAX_FORMATTED_LABEL_BYTES;
        let r = rec(&"x".repeat(100_000));
        let labels: Vec<String> = (0..100)
            .map(|i| format!(r#"a{i}="{{{{__line__}}}}""#))
            .collect();
        let q = format!(r#"{{app="backend"}} | label_format {}"#, labels.join(", "));
        let e = run(&q, &r).expect("kept");
        let total: usize = e.parsed.values().map(String::len).sum();
        assert_eq!(
            total, MAX_FORMATTED_LABEL_BYTES,
            "100 × 100 kB cut at the budget"
        );
        assert_eq!(e.get("a0").map(str::len), Some(100_000));
        assert_eq!(e.get("a99"), Some(""));
        // Labels a parser made do not count: a 300 kB JSON line still gets its small formatted label. Past 256 KiB
        // the budget is the line's length: a copy of the line gets what `lvl` left of it.
        let body = "y".repeat(290_000);
        let r = rec(&format!(r#"{{"level":"error","body":"{body}"}}"#));
        let q = r#"{app="backend"} | json | label_format lvl="{{.level}}", copy="{{__line__}}""#;
        let e = run(q, &r).expect("kept");
        assert_eq!(e.get("lvl"), Some("error"));
        assert_eq!(
            e.get("copy"),
            Some(&r.message[..r.message.len() - "error".len()])
        );
    }

    #[test]
    fn bad_regex_and_limits_are_errors() {
        let l = parse_log(r#"{app="x"} |~ "(""#).expect("parse");
        assert!(compile(&l.pipeline, CompileLimits::default()).is_err());
        let l = parse_log(r#"{app="x"} |~ "aaaaaaaaaa""#).expect("parse");
        let tight = CompileLimits { max_regex_bytes: 4 };
        let err = compile(&l.pipeline, tight).expect_err("limit");
        assert!(err.0.contains("over the limit"));
    }
}

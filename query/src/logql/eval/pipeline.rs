//! Compiled log pipelines: line filters, parsers, label filters and formatters applied to one [`Entry`].

use super::format::Template;
use super::parsers::{self, parse_json_path, PathStep, Pattern, ERROR_LABEL};
use super::{canonical_label, Entry, EvalError};
use crate::logql::ast::{
    CmpOp, DropKeep, LabelFilter, LabelFmt, LineOp, MatchOp, Matcher, Stage, Unwrap, UnwrapConv,
};
use crate::logql::lexer::parse_go_duration;
use regex::Regex;

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

/// A compiled label matcher.
#[derive(Debug, Clone)]
pub enum CompiledMatcher {
    /// `=`
    Eq(String, String),
    /// `!=`
    Neq(String, String),
    /// `=~`
    Re(String, Regex),
    /// `!~`
    Nre(String, Regex),
}

impl CompiledMatcher {
    /// Compiles a matcher.
    pub fn new(m: &Matcher, limits: CompileLimits) -> Result<Self, EvalError> {
        let name = m.name.clone();
        Ok(match m.op {
            MatchOp::Eq => CompiledMatcher::Eq(name, m.value.clone()),
            MatchOp::Neq => CompiledMatcher::Neq(name, m.value.clone()),
            MatchOp::Re => CompiledMatcher::Re(name, compile_regex(&m.value, true, limits)?),
            MatchOp::Nre => CompiledMatcher::Nre(name, compile_regex(&m.value, true, limits)?),
        })
    }

    /// The label name.
    pub fn name(&self) -> &str {
        match self {
            CompiledMatcher::Eq(n, _)
            | CompiledMatcher::Neq(n, _)
            | CompiledMatcher::Re(n, _)
            | CompiledMatcher::Nre(n, _) => n,
        }
    }

    /// Tests a value (a missing label is the empty string, as in Loki).
    pub fn matches_value(&self, v: &str) -> bool {
        match self {
            CompiledMatcher::Eq(_, x) => v == x,
            CompiledMatcher::Neq(_, x) => v != x,
            CompiledMatcher::Re(_, r) => r.is_match(v),
            CompiledMatcher::Nre(_, r) => !r.is_match(v),
        }
    }

    /// Tests an entry.
    pub fn matches(&self, e: &Entry) -> bool {
        self.matches_value(e.get(self.name()).unwrap_or(""))
    }
}

/// A compiled label filter expression.
#[derive(Debug, Clone)]
pub enum CompiledFilter {
    /// Both.
    And(Box<CompiledFilter>, Box<CompiledFilter>),
    /// Either.
    Or(Box<CompiledFilter>, Box<CompiledFilter>),
    /// String matcher.
    Str(CompiledMatcher),
    /// Numeric comparison (kind decides how the label is converted).
    Cmp {
        /// Label.
        name: String,
        /// Operator.
        op: CmpOp,
        /// Right-hand side (seconds for durations, bytes for sizes).
        value: f64,
        /// Conversion of the label value.
        conv: UnwrapConv,
    },
}

/// Converts a label value to a number: plain float, Go duration (→ seconds) or humanized bytes.
pub fn convert(v: &str, conv: UnwrapConv) -> Option<f64> {
    let v = v.trim();
    match conv {
        UnwrapConv::None => v.parse::<f64>().ok(),
        UnwrapConv::Duration => parse_go_duration(v)
            .map(|ns| ns as f64 / 1e9)
            .or_else(|| v.parse::<f64>().ok()),
        UnwrapConv::Bytes => {
            let at = v
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(v.len());
            let n: f64 = v[..at].parse().ok()?;
            let unit = v[at..].trim();
            let mult = match unit.to_ascii_lowercase().as_str() {
                "" | "b" => 1.0,
                "kb" | "k" => 1e3,
                "mb" | "m" => 1e6,
                "gb" | "g" => 1e9,
                "tb" | "t" => 1e12,
                "kib" | "ki" => 1024.0,
                "mib" | "mi" => 1048576.0,
                "gib" | "gi" => 1073741824.0,
                "tib" | "ti" => 1099511627776.0,
                _ => return None,
            };
            Some(n * mult)
        }
    }
}

impl CompiledFilter {
    /// Compiles a label filter.
    pub fn new(f: &LabelFilter, limits: CompileLimits) -> Result<Self, EvalError> {
        Ok(match f {
            LabelFilter::And(a, b) => CompiledFilter::And(
                Box::new(Self::new(a, limits)?),
                Box::new(Self::new(b, limits)?),
            ),
            LabelFilter::Or(a, b) => CompiledFilter::Or(
                Box::new(Self::new(a, limits)?),
                Box::new(Self::new(b, limits)?),
            ),
            LabelFilter::String(m) => CompiledFilter::Str(CompiledMatcher::new(m, limits)?),
            LabelFilter::Number { name, op, value } => CompiledFilter::Cmp {
                name: name.clone(),
                op: *op,
                value: *value,
                conv: UnwrapConv::None,
            },
            LabelFilter::Duration { name, op, value_ns } => CompiledFilter::Cmp {
                name: name.clone(),
                op: *op,
                value: *value_ns as f64 / 1e9,
                conv: UnwrapConv::Duration,
            },
            LabelFilter::Bytes { name, op, value } => CompiledFilter::Cmp {
                name: name.clone(),
                op: *op,
                value: *value,
                conv: UnwrapConv::Bytes,
            },
        })
    }

    /// Evaluates on an entry. A value that cannot be converted keeps the line and marks it with
    /// `__error__="LabelFilterErr"`, as Loki does; a missing label fails a numeric comparison.
    pub fn eval(&self, e: &mut Entry) -> bool {
        match self {
            CompiledFilter::And(a, b) => a.eval(e) && b.eval(e),
            CompiledFilter::Or(a, b) => a.eval(e) || b.eval(e),
            CompiledFilter::Str(m) => m.matches(e),
            CompiledFilter::Cmp {
                name,
                op,
                value,
                conv,
            } => match e.get(name) {
                None => false,
                Some(v) => match convert(v, *conv) {
                    Some(x) => op.apply(x, *value),
                    None => {
                        e.parsed
                            .insert(ERROR_LABEL.to_string(), "LabelFilterErr".to_string());
                        true
                    }
                },
            },
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    LineContains(Vec<String>, bool),
    LineRegex(Vec<Regex>, bool),
    LinePattern(Vec<Pattern>, bool),
    Json(Vec<(String, Vec<PathStep>)>),
    Logfmt {
        strict: bool,
        keep_empty: bool,
        params: Vec<(String, String)>,
    },
    Pattern(Pattern),
    Regexp(Regex),
    Unpack,
    Decolorize,
    Filter(CompiledFilter),
    LineFormat(Template),
    LabelFormat(Vec<(String, FmtSrc)>),
    Drop(Vec<(String, Option<CompiledMatcher>)>),
    Keep(Vec<(String, Option<CompiledMatcher>)>),
}

#[derive(Debug, Clone)]
enum FmtSrc {
    Label(String),
    Template(Template),
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

fn drop_keep(
    items: &[DropKeep],
    limits: CompileLimits,
) -> Result<Vec<(String, Option<CompiledMatcher>)>, EvalError> {
    items
        .iter()
        .map(|d| {
            Ok((
                d.name.clone(),
                d.matcher
                    .as_ref()
                    .map(|m| CompiledMatcher::new(m, limits))
                    .transpose()?,
            ))
        })
        .collect()
}

/// Compiles pipeline stages; returns the pipeline and the unwrap stage if there is one.
pub fn compile(
    stages: &[Stage],
    limits: CompileLimits,
) -> Result<(Pipeline, Option<CompiledUnwrap>), EvalError> {
    let mut steps = Vec::new();
    let mut unwrap = None;
    for s in stages {
        if unwrap.is_some() {
            return Err(EvalError(
                "unwrap must be the last stage of the pipeline".into(),
            ));
        }
        let step = match s {
            Stage::LineFilter { op, values } => match op {
                LineOp::Contains => Step::LineContains(values.clone(), true),
                LineOp::NotContains => Step::LineContains(values.clone(), false),
                LineOp::Regex | LineOp::NotRegex => Step::LineRegex(
                    values
                        .iter()
                        .map(|v| compile_regex(v, false, limits))
                        .collect::<Result<_, _>>()?,
                    *op == LineOp::Regex,
                ),
                LineOp::Pattern | LineOp::NotPattern => Step::LinePattern(
                    values
                        .iter()
                        .map(|v| Pattern::compile(v))
                        .collect::<Result<_, _>>()?,
                    *op == LineOp::Pattern,
                ),
            },
            Stage::Json(params) => Step::Json(
                params
                    .iter()
                    .map(|(l, p)| Ok((l.clone(), parse_json_path(p)?)))
                    .collect::<Result<_, EvalError>>()?,
            ),
            Stage::Logfmt {
                strict,
                keep_empty,
                params,
            } => Step::Logfmt {
                strict: *strict,
                keep_empty: *keep_empty,
                params: params.clone(),
            },
            Stage::Pattern(p) => Step::Pattern(Pattern::compile(p)?),
            Stage::Regexp(r) => {
                let re = compile_regex(r, false, limits)?;
                if re.capture_names().flatten().next().is_none() {
                    return Err(EvalError(format!(
                        "regexp {r:?} has no named capture group like (?P<name>…)"
                    )));
                }
                Step::Regexp(re)
            }
            Stage::Unpack => Step::Unpack,
            Stage::Decolorize => Step::Decolorize,
            Stage::LabelFilter(f) => Step::Filter(CompiledFilter::new(f, limits)?),
            Stage::LineFormat(t) => Step::LineFormat(Template::compile(t)?),
            Stage::LabelFormat(items) => Step::LabelFormat(
                items
                    .iter()
                    .map(|i| {
                        Ok(match i {
                            LabelFmt::Rename { dst, src } => {
                                (dst.clone(), FmtSrc::Label(src.clone()))
                            }
                            LabelFmt::Template { dst, template } => {
                                (dst.clone(), FmtSrc::Template(Template::compile(template)?))
                            }
                        })
                    })
                    .collect::<Result<_, EvalError>>()?,
            ),
            Stage::Drop(items) => Step::Drop(drop_keep(items, limits)?),
            Stage::Keep(items) => Step::Keep(drop_keep(items, limits)?),
            Stage::Unwrap(Unwrap {
                label,
                conv,
                filters,
            }) => {
                unwrap = Some(CompiledUnwrap {
                    label: label.clone(),
                    conv: *conv,
                    filters: filters
                        .iter()
                        .map(|f| CompiledFilter::new(f, limits))
                        .collect::<Result<_, _>>()?,
                });
                continue;
            }
        };
        steps.push(step);
    }
    Ok((Pipeline { steps }, unwrap))
}

impl Pipeline {
    /// Runs the pipeline; false means the entry is filtered out.
    pub fn process(&self, e: &mut Entry) -> bool {
        for step in &self.steps {
            match step {
                Step::LineContains(vals, want) => {
                    let any = vals.iter().any(|v| e.line.contains(v.as_str()));
                    if any != *want {
                        return false;
                    }
                }
                Step::LineRegex(res, want) => {
                    let any = res.iter().any(|r| r.is_match(&e.line));
                    if any != *want {
                        return false;
                    }
                }
                Step::LinePattern(ps, want) => {
                    let any = ps.iter().any(|p| p.matches(&e.line).is_some());
                    if any != *want {
                        return false;
                    }
                }
                Step::Json(params) => parsers::json(e, params),
                Step::Logfmt {
                    strict,
                    keep_empty,
                    params,
                } => parsers::logfmt(e, *strict, *keep_empty, params),
                Step::Pattern(p) => {
                    let caps: Vec<(String, String)> = p
                        .matches(&e.line)
                        .map(|c| {
                            c.into_iter()
                                .map(|(k, v)| (k.to_string(), v.to_string()))
                                .collect()
                        })
                        .unwrap_or_default();
                    for (k, v) in caps {
                        e.set_parsed(k, v);
                    }
                }
                Step::Regexp(re) => {
                    let caps: Vec<(String, String)> = match re.captures(&e.line) {
                        Some(c) => re
                            .capture_names()
                            .flatten()
                            .filter_map(|n| {
                                c.name(n).map(|m| (n.to_string(), m.as_str().to_string()))
                            })
                            .collect(),
                        None => Vec::new(),
                    };
                    for (k, v) in caps {
                        e.set_parsed(k, v);
                    }
                }
                Step::Unpack => parsers::unpack(e),
                Step::Decolorize => e.line = parsers::decolorize(&e.line),
                Step::Filter(f) => {
                    if !f.eval(e) {
                        return false;
                    }
                }
                Step::LineFormat(t) => e.line = t.render(e),
                Step::LabelFormat(items) => {
                    for (dst, src) in items {
                        match src {
                            FmtSrc::Label(s) => {
                                let v = e.get(s).map(str::to_string);
                                if let Some(v) = v {
                                    e.remove(s);
                                    e.parsed.insert(dst.clone(), v);
                                }
                            }
                            FmtSrc::Template(t) => {
                                let v = t.render(e);
                                e.parsed.insert(dst.clone(), v);
                            }
                        }
                    }
                }
                Step::Drop(items) => {
                    for (name, m) in items {
                        if m.as_ref().is_none_or(|m| m.matches(e)) {
                            e.remove(name);
                        }
                    }
                }
                Step::Keep(items) => {
                    let keep = |k: &String, v: &String| {
                        items.iter().any(|(name, m)| {
                            canonical_label(name) == canonical_label(k)
                                && m.as_ref().is_none_or(|m| m.matches_value(v))
                        })
                    };
                    e.stream.retain(|k, v| keep(k, v));
                    e.metadata.retain(|k, v| keep(k, v));
                    e.parsed.retain(|k, v| keep(k, v));
                }
            }
        }
        true
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
    fn bad_regex_and_limits_are_errors() {
        let l = parse_log(r#"{app="x"} |~ "(""#).expect("parse");
        assert!(compile(&l.pipeline, CompileLimits::default()).is_err());
        let l = parse_log(r#"{app="x"} |~ "aaaaaaaaaa""#).expect("parse");
        let tight = CompileLimits { max_regex_bytes: 4 };
        let err = compile(&l.pipeline, tight).expect_err("limit");
        assert!(err.0.contains("over the limit"));
    }
}

//! Label matchers (`name="v"`, `!=`, `=~`, `!~`) and label filter expressions (`status >= 500 and level="error"`),
//! with the conversion of label values to numbers (plain, Go durations, humanized bytes) that numeric
//! comparisons and `unwrap` use.

use super::{compile_regex, CompileLimits};
use crate::logql::ast::{CmpOp, LabelFilter, MatchOp, Matcher, UnwrapConv};
use crate::logql::eval::parsers::ERROR_LABEL;
use crate::logql::eval::{Entry, EvalError};
use crate::logql::lexer::parse_go_duration;
use regex::Regex;

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

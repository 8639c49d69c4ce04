//! What of a log query the index can answer: selector matchers and top-level label equality filters on
//! logmind's keyword fields become exact term lookups, so `| request_id="X"` after any parser is an index lookup,
//! not a scan. Everything stays evaluated on the entries too, so the plan only ever narrows what is read.

use super::pipeline::{CompileLimits, CompiledMatcher};
use super::{canonical_label, Entry, EvalError};
use crate::logql::ast::{LabelFilter, LogExpr, MatchOp, Stage};

/// logmind's indexed keyword fields: exactly the schema's keyword fields.
pub use logmind_indexer::schema::KEYWORD_FIELDS as INDEXED_FIELDS;

/// True for a label logmind indexes (aliases understood).
pub fn is_indexed(label: &str) -> bool {
    INDEXED_FIELDS.contains(&canonical_label(label))
}

/// The index part of a log query.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// `(field, value)` that must match exactly.
    pub terms: Vec<(String, String)>,
    /// `(field, value)` that must not match.
    pub not_terms: Vec<(String, String)>,
    /// `(field, anchored regex, negated)` on keyword fields: expanded over the term dictionary by the engine.
    pub regexes: Vec<(String, CompiledMatcher, bool)>,
    /// Fields that must be absent (`field=""`).
    pub absent: Vec<String>,
    /// The selector, evaluated on every fetched entry.
    pub selector: Vec<CompiledMatcher>,
    /// The selector can match nothing (a non-empty equality on a label logmind never sets).
    pub impossible: bool,
}

impl Plan {
    /// True when the entry satisfies the stream selector.
    pub fn selector_matches(&self, e: &Entry) -> bool {
        self.selector.iter().all(|m| m.matches(e))
    }
}

/// Builds the plan of a log query.
pub fn plan(log: &LogExpr, limits: CompileLimits) -> Result<Plan, EvalError> {
    let mut p = Plan::default();
    for m in &log.selector {
        let field = canonical_label(&m.name).to_string();
        let mut cm = m.clone();
        cm.name = field.clone();
        let compiled = CompiledMatcher::new(&cm, limits)?;
        if is_indexed(&field) {
            match m.op {
                MatchOp::Eq if m.value.is_empty() => p.absent.push(field.clone()),
                MatchOp::Eq => p.terms.push((field.clone(), m.value.clone())),
                MatchOp::Neq if !m.value.is_empty() => {
                    p.not_terms.push((field.clone(), m.value.clone()))
                }
                MatchOp::Neq => {}
                MatchOp::Re | MatchOp::Nre => {
                    // A regex that matches "" also matches records without the field: leave it to the residual.
                    if !compiled.matches_value("") || m.op == MatchOp::Nre {
                        p.regexes
                            .push((field.clone(), compiled.clone(), m.op == MatchOp::Nre));
                    }
                }
            }
        } else if matches!(m.op, MatchOp::Eq | MatchOp::Re) && !compiled.matches_value("") {
            // Labels logmind never sets are "" on every record.
            p.impossible = true;
        }
        p.selector.push(compiled);
    }
    // Label filters ANDed at the top of the pipeline, before anything that renames or drops labels.
    for stage in &log.pipeline {
        match stage {
            Stage::LabelFormat(_) | Stage::Drop(_) | Stage::Keep(_) => break,
            Stage::LabelFilter(f) => collect_and_terms(f, &mut p.terms),
            _ => {}
        }
    }
    p.terms.sort();
    p.terms.dedup();
    Ok(p)
}

fn collect_and_terms(f: &LabelFilter, out: &mut Vec<(String, String)>) {
    match f {
        LabelFilter::And(a, b) => {
            collect_and_terms(a, out);
            collect_and_terms(b, out);
        }
        LabelFilter::String(m)
            if m.op == MatchOp::Eq && !m.value.is_empty() && is_indexed(&m.name) =>
        {
            out.push((canonical_label(&m.name).to_string(), m.value.clone()));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::parse_log;

    fn p(q: &str) -> Plan {
        plan(&parse_log(q).expect("parse"), CompileLimits::default()).expect("plan")
    }

    #[test]
    fn ids_after_parsers_are_index_lookups() {
        let plan = p(
            r#"{namespace="shop", service_name="backend"} | json | request_id="r-1" and latency > 5 | user_id="u-9""#,
        );
        assert_eq!(
            plan.terms,
            vec![
                ("app".to_string(), "backend".to_string()),
                ("namespace".to_string(), "shop".to_string()),
                ("request_id".to_string(), "r-1".to_string()),
                ("user_id".to_string(), "u-9".to_string()),
            ]
        );
        assert!(!plan.impossible);
    }

    #[test]
    fn or_and_renames_are_not_pushed() {
        let plan = p(r#"{app="a"} | request_id="x" or user_id="y""#);
        assert_eq!(plan.terms, vec![("app".to_string(), "a".to_string())]);
        let plan = p(r#"{app="a"} | label_format request_id=other | request_id="x""#);
        assert_eq!(plan.terms.len(), 1);
    }

    #[test]
    fn unknown_labels_and_regexes() {
        assert!(p(r#"{job="varlogs"}"#).impossible);
        assert!(!p(r#"{job=~".*", app="x"}"#).impossible);
        let plan = p(r#"{app=~"back.*", level!="debug"}"#);
        assert_eq!(plan.regexes.len(), 1);
        assert_eq!(
            plan.not_terms,
            vec![("level".to_string(), "debug".to_string())]
        );
    }
}

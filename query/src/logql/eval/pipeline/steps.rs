//! Pipeline steps: what each AST stage compiles to, [`compile`] (stages → [`Pipeline`] plus the `unwrap`
//! stage) and [`Pipeline::process`], which runs the steps over one entry.

use super::{
    compile_regex, CompileLimits, CompiledFilter, CompiledMatcher, CompiledUnwrap, Pipeline,
};
use crate::logql::ast::{DropKeep, LabelFmt, LineOp, Stage, Unwrap};
use crate::logql::eval::format::{Template, MAX_FORMATTED_LABEL_BYTES};
use crate::logql::eval::parsers::{self, parse_json_path, PathStep, Pattern};
use crate::logql::eval::{canonical_label, Entry, EvalError};
use regex::Regex;

/// One compiled stage.
#[derive(Debug, Clone)]
pub(super) enum Step {
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

/// Where a `label_format` item takes its value from.
#[derive(Debug, Clone)]
pub(super) enum FmtSrc {
    Label(String),
    Template(Template),
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
                    let cap = MAX_FORMATTED_LABEL_BYTES.max(e.line.len());
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
                                let v = t.render_capped(e, cap.saturating_sub(e.formatted));
                                e.formatted += v.len();
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

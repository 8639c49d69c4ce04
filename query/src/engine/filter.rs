//! Keyword filters and the full-text `q`, combined into one tantivy query.

use crate::engine::text;
use crate::error::QueryError;
use logmind_indexer::schema::LogSchema;
use serde::{Deserialize, Serialize};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::Term;

/// Exact filters on keyword fields (absent = no filter). `level` accepts a comma-separated list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Filters {
    /// Kubernetes namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Application.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// Pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// `stdout` / `stderr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Level(s), e.g. `error` or `error,fatal`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// User id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Trace id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

impl Filters {
    /// `(field name, value)` pairs of the filters that are set and non-empty.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("namespace", &self.namespace),
            ("app", &self.app),
            ("pod", &self.pod),
            ("container", &self.container),
            ("node", &self.node),
            ("stream", &self.stream),
            ("level", &self.level),
            ("request_id", &self.request_id),
            ("user_id", &self.user_id),
            ("trace_id", &self.trace_id),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| (k, v)))
        .collect()
    }
}

fn term(schema: &LogSchema, field: &str, value: &str) -> Result<Box<dyn Query>, QueryError> {
    let f = schema
        .keyword(field)
        .ok_or_else(|| QueryError::BadRequest(format!("unknown field {field:?}")))?;
    Ok(Box::new(TermQuery::new(
        Term::from_field_text(f, value),
        IndexRecordOption::Basic,
    )))
}

/// Builds the query: every filter AND the full-text `q` AND the `extra` clauses.
pub fn build(
    schema: &LogSchema,
    filters: &Filters,
    q: Option<&str>,
    extra: Vec<Box<dyn Query>>,
) -> Result<Box<dyn Query>, QueryError> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for (field, value) in filters.pairs() {
        if field == "level" && value.contains(',') {
            let any = value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| Ok((Occur::Should, term(schema, field, v)?)))
                .collect::<Result<Vec<_>, QueryError>>()?;
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(any))));
        } else {
            clauses.push((Occur::Must, term(schema, field, value)?));
        }
    }
    if let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) {
        let ast = text::parse(q)?;
        clauses.push((Occur::Must, text::to_query(schema, &ast)?));
    }
    for e in extra {
        clauses.push((Occur::Must, e));
    }
    Ok(match clauses.len() {
        0 => Box::new(AllQuery),
        1 => clauses.remove(0).1,
        _ => Box::new(BooleanQuery::new(clauses)),
    })
}

/// `level` ∈ {error, fatal}.
pub fn error_levels(schema: &LogSchema) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(
        ["error", "fatal"]
            .into_iter()
            .map(|l| {
                (
                    Occur::Should,
                    Box::new(TermQuery::new(
                        Term::from_field_text(schema.level, l),
                        IndexRecordOption::Basic,
                    )) as Box<dyn Query>,
                )
            })
            .collect(),
    ))
}

/// Exact match of one keyword field.
pub fn keyword(schema: &LogSchema, field: &str, value: &str) -> Result<Box<dyn Query>, QueryError> {
    term(schema, field, value)
}

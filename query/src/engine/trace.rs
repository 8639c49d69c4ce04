//! A request across services (`trace`) and one user's activity (`user_events`).

use crate::engine::cursor::EventKey;
use crate::engine::filter;
use crate::engine::scan::{keyword_column, ord_str, scan, Visitor};
use crate::engine::search::{load, AllHits, SearchRequest, SearchResponse};
use crate::engine::{Ctx, Engine};
use crate::error::QueryError;
use logmind_protocol::{Level, LogRecord};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocId, SegmentReader};

/// Summary of a request's events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    /// Apps in order of first appearance.
    pub services: Vec<String>,
    /// Number of events.
    pub events: usize,
    /// First event ts, ns.
    pub first_ts: i64,
    /// Last event ts, ns.
    pub last_ts: i64,
    /// `last_ts - first_ts`, ns.
    pub duration_ns: i64,
    /// Events at level error or fatal.
    pub error_count: usize,
    /// The first of them.
    pub first_error: Option<LogRecord>,
    /// `request_id` (keyword field) or `message` (full-text fallback).
    pub matched_by: String,
    /// True when more events matched than `max_lines` (only the first ones are returned).
    pub truncated: bool,
}

/// Every event of one request, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceResponse {
    /// The request id asked for.
    pub request_id: String,
    /// Summary.
    pub summary: TraceSummary,
    /// The events, ascending by time.
    pub events: Vec<LogRecord>,
}

/// Counts of a user's events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserCounts {
    /// All events of the user in range.
    pub total: u64,
    /// Per app.
    pub by_app: BTreeMap<String, u64>,
    /// Per level (`""` when unknown).
    pub by_level: BTreeMap<String, u64>,
}

/// A page of one user's events with counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserEventsResponse {
    /// The user id asked for.
    pub user_id: String,
    /// Counts over the whole range.
    pub counts: UserCounts,
    /// This page of events.
    pub events: Vec<LogRecord>,
    /// Cursor of the next page, `null` at the end.
    pub next_cursor: Option<String>,
}

/// Counts matching documents by the values of keyword fields.
pub(crate) struct GroupCounts {
    fields: Vec<&'static str>,
    cols: Vec<Option<StrColumn>>,
    ords: Vec<Option<Column<u64>>>,
    seg: Vec<HashMap<u64, u64>>,
    pub(crate) out: Vec<BTreeMap<String, u64>>,
    pub(crate) total: u64,
}

impl GroupCounts {
    pub(crate) fn new(fields: Vec<&'static str>) -> GroupCounts {
        let n = fields.len();
        GroupCounts {
            fields,
            cols: vec![None; n],
            ords: vec![None; n],
            seg: vec![HashMap::new(); n],
            out: vec![BTreeMap::new(); n],
            total: 0,
        }
    }
}

impl Visitor for GroupCounts {
    fn segment(&mut self, _p: usize, _s: u32, reader: &SegmentReader) -> Result<(), QueryError> {
        for (i, f) in self.fields.iter().enumerate() {
            self.cols[i] = keyword_column(reader, f)?;
            self.ords[i] = self.cols[i].as_ref().map(|c| c.ords().clone());
        }
        Ok(())
    }
    fn doc(&mut self, doc: DocId, _ts: i64) {
        self.total += 1;
        for (i, o) in self.ords.iter().enumerate() {
            let ord = o.as_ref().and_then(|c| c.first(doc)).unwrap_or(u64::MAX);
            *self.seg[i].entry(ord).or_default() += 1;
        }
    }
    fn finish_segment(&mut self) -> Result<(), QueryError> {
        for i in 0..self.fields.len() {
            for (ord, n) in self.seg[i].drain() {
                let key = match &self.cols[i] {
                    Some(c) if ord != u64::MAX => ord_str(c, ord)?,
                    _ => String::new(),
                };
                *self.out[i].entry(key).or_default() += n;
            }
        }
        Ok(())
    }
}

fn is_error(r: &LogRecord) -> bool {
    Level::parse(&r.level).is_some_and(Level::is_error)
}

/// Builds the summary of events sorted ascending.
pub fn summarize(events: &[LogRecord], matched_by: &str, truncated: bool) -> TraceSummary {
    let mut services: Vec<String> = Vec::new();
    for e in events {
        if !e.app.is_empty() && !services.contains(&e.app) {
            services.push(e.app.clone());
        }
    }
    let first_ts = events.first().map(|e| e.ts).unwrap_or(0);
    let last_ts = events.last().map(|e| e.ts).unwrap_or(0);
    TraceSummary {
        services,
        events: events.len(),
        first_ts,
        last_ts,
        duration_ns: last_ts - first_ts,
        error_count: events.iter().filter(|e| is_error(e)).count(),
        first_error: events.iter().find(|e| is_error(e)).cloned(),
        matched_by: matched_by.to_string(),
        truncated,
    }
}

impl Engine {
    /// Every event of `request_id` in range, ascending (blocking). `NotFound` when there is none.
    pub fn trace_blocking(
        &self,
        request_id: &str,
        start: Option<&str>,
        end: Option<&str>,
        ctx: &Ctx,
    ) -> Result<TraceResponse, QueryError> {
        let range = self.resolve_range(start, end)?;
        let schema = self.catalog().schema();
        let parts = self.partitions(range);
        let max = self.options().max_lines;
        let mut matched_by = "request_id";
        let by_field = filter::keyword(schema, "request_id", request_id)?;
        let mut all = AllHits::new(max);
        scan(
            self.catalog().as_ref(),
            &parts,
            by_field.as_ref(),
            range,
            ctx,
            &mut all,
        )?;
        if all.hits.is_empty() {
            // The id may only be in the text: search it as a phrase of the message.
            matched_by = "message";
            let phrase = request_id.replace('"', " ");
            if phrase.trim().is_empty() {
                return Err(QueryError::NotFound(format!(
                    "no events for request id {request_id:?}"
                )));
            }
            let text = crate::engine::text::to_query(
                schema,
                &crate::engine::text::TextAst::Phrase {
                    text: phrase,
                    prefix: false,
                },
            )?;
            all = AllHits::new(max);
            scan(
                self.catalog().as_ref(),
                &parts,
                text.as_ref(),
                range,
                ctx,
                &mut all,
            )?;
        }
        if all.hits.is_empty() {
            return Err(QueryError::NotFound(format!(
                "no events for request id {request_id:?} between {} and {}",
                logmind_protocol::time::format_rfc3339_millis(range.start_ns),
                logmind_protocol::time::format_rfc3339_millis(range.end_ns)
            )));
        }
        let mut keyed: Vec<(EventKey, LogRecord)> = load(self, &parts, &all.hits, ctx)?;
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        let events: Vec<LogRecord> = keyed.into_iter().map(|(_, r)| r).collect();
        Ok(TraceResponse {
            request_id: request_id.to_string(),
            summary: summarize(&events, matched_by, all.overflowed()),
            events,
        })
    }

    /// One page of a user's events plus counts by app and level over the range (blocking).
    pub fn user_events_blocking(
        &self,
        user_id: &str,
        mut req: SearchRequest,
        ctx: &Ctx,
    ) -> Result<UserEventsResponse, QueryError> {
        req.filters.user_id = Some(user_id.to_string());
        let range = self.resolve_range(req.start.as_deref(), req.end.as_deref())?;
        let schema = self.catalog().schema();
        let query = filter::build(schema, &req.filters, req.q.as_deref(), Vec::new())?;
        let mut g = GroupCounts::new(vec!["app", "level"]);
        scan(
            self.catalog().as_ref(),
            &self.partitions(range),
            query.as_ref(),
            range,
            ctx,
            &mut g,
        )?;
        let SearchResponse {
            events,
            next_cursor,
            ..
        } = self.search_blocking(&req, ctx)?;
        let mut out = g.out.into_iter();
        Ok(UserEventsResponse {
            user_id: user_id.to_string(),
            counts: UserCounts {
                total: g.total,
                by_app: out.next().unwrap_or_default(),
                by_level: out.next().unwrap_or_default(),
            },
            events,
            next_cursor,
        })
    }

    /// A trace on a blocking thread.
    pub async fn trace(
        self: &Arc<Self>,
        request_id: String,
        start: Option<String>,
        end: Option<String>,
    ) -> Result<TraceResponse, QueryError> {
        self.run(move |e, ctx| e.trace_blocking(&request_id, start.as_deref(), end.as_deref(), ctx))
            .await
    }

    /// A user's events on a blocking thread.
    pub async fn user_events(
        self: &Arc<Self>,
        user_id: String,
        req: SearchRequest,
    ) -> Result<UserEventsResponse, QueryError> {
        self.run(move |e, ctx| e.user_events_blocking(&user_id, req, ctx))
            .await
    }
}

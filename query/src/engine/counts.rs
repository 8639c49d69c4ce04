//! Error counts over time and the top error templates, computed from fast fields only (ts, keyword ordinals,
//! template ids); the only documents loaded are the N examples of the top groups.

use crate::engine::filter::{self, Filters};
use crate::engine::scan::{keyword_column, ord_str, scan, Visitor};
use crate::engine::search::load;
use crate::engine::{dur_ns, Ctx, Engine, TimeRange};
use crate::error::QueryError;
use logmind_indexer::schema::TemplateColumn;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocId, SegmentReader};

/// `GET /api/v1/errors/count`.
#[derive(Debug, Clone, Default)]
pub struct ErrorCountRequest {
    /// Keyword filters; `level` replaces the default error+fatal (`any` counts every event).
    pub filters: Filters,
    /// Start as typed.
    pub start: Option<String>,
    /// End as typed.
    pub end: Option<String>,
    /// Bucket width (`5m`); `None` → about 60 buckets.
    pub step: Option<String>,
    /// Group by this keyword field.
    pub by: Option<String>,
}

/// One group of an error count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// `{field: value}` of the group (empty without `by`; value `""` when the field is absent).
    pub key: BTreeMap<String, String>,
    /// Errors in the group.
    pub total: u64,
    /// `[bucket start ns, count]`, every bucket of the range.
    pub buckets: Vec<(i64, u64)>,
}

/// Error counts per bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorCountResponse {
    /// Range start, ns.
    pub start: i64,
    /// Range end (exclusive), ns.
    pub end: i64,
    /// Bucket width, ns.
    pub step: i64,
    /// All errors in range.
    pub total: u64,
    /// Groups, largest first.
    pub series: Vec<Series>,
}

/// `GET /api/v1/errors/top`.
#[derive(Debug, Clone, Default)]
pub struct ErrorTopRequest {
    /// Keyword filters.
    pub filters: Filters,
    /// Start as typed.
    pub start: Option<String>,
    /// End as typed.
    pub end: Option<String>,
    /// How many groups (default 10).
    pub n: Option<usize>,
}

/// One error template group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopGroup {
    /// Template id.
    pub template_id: u64,
    /// Template text, variables as `<*>`.
    pub template: String,
    /// Errors of this template in range.
    pub count: u64,
    /// `count / total errors`.
    pub share: f64,
    /// The latest message of the group.
    pub example: String,
    /// First occurrence, ns.
    pub first_seen: i64,
    /// Last occurrence, ns.
    pub last_seen: i64,
    /// Apps involved, sorted.
    pub apps: Vec<String>,
    /// Pods involved, sorted (at most [`MAX_LISTED`]).
    pub pods: Vec<String>,
}

/// The top error groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorTopResponse {
    /// Range start, ns.
    pub start: i64,
    /// Range end (exclusive), ns.
    pub end: i64,
    /// All errors in range.
    pub total: u64,
    /// Number of distinct templates in range.
    pub templates: u64,
    /// The N largest groups, largest first.
    pub groups: Vec<TopGroup>,
}

/// Most apps/pods listed per group.
pub const MAX_LISTED: usize = 100;

struct CountVisitor {
    start: i64,
    step: i64,
    nb: usize,
    by: Option<String>,
    col: Option<StrColumn>,
    ords: Option<Column<u64>>,
    seg: Vec<Vec<u64>>,
    groups: BTreeMap<String, Vec<u64>>,
    max_groups: usize,
    /// Groups the current segment has allocated buckets for.
    seg_groups: usize,
    /// A segment had more groups than `max_groups` (counting stopped there).
    over: bool,
}

impl Visitor for CountVisitor {
    fn segment(&mut self, _p: usize, _s: u32, reader: &SegmentReader) -> Result<(), QueryError> {
        self.col = match &self.by {
            Some(f) => keyword_column(reader, f)?,
            None => None,
        };
        self.ords = self.col.as_ref().map(|c| c.ords().clone());
        self.seg_groups = 0;
        Ok(())
    }
    fn doc(&mut self, doc: DocId, ts: i64) {
        // Slot 0: field absent; slot ord + 1: that value.
        let slot = self
            .ords
            .as_ref()
            .and_then(|c| c.first(doc))
            .map_or(0, |o| o as usize + 1);
        let b = ((ts - self.start) / self.step) as usize;
        if slot >= self.seg.len() {
            self.seg.resize_with(slot + 1, Vec::new);
        }
        let v = &mut self.seg[slot];
        if v.is_empty() {
            // Checked before the buckets are allocated: a segment of a million request ids would otherwise
            // take a million arrays of every bucket before the limit below is seen.
            if self.over || self.seg_groups >= self.max_groups {
                self.over = true;
                return;
            }
            self.seg_groups += 1;
            v.resize(self.nb, 0);
        }
        if let Some(c) = v.get_mut(b) {
            *c += 1;
        }
    }
    fn finish_segment(&mut self) -> Result<(), QueryError> {
        for (slot, counts) in std::mem::take(&mut self.seg).into_iter().enumerate() {
            if counts.is_empty() {
                continue;
            }
            let key = match &self.col {
                Some(c) if slot > 0 => ord_str(c, slot as u64 - 1)?,
                _ => String::new(),
            };
            if self.groups.len() >= self.max_groups && !self.groups.contains_key(&key) {
                self.over = true;
                break;
            }
            let g = self
                .groups
                .entry(key)
                .or_insert_with(|| vec![0; counts.len()]);
            for (a, b) in g.iter_mut().zip(counts) {
                *a += b;
            }
        }
        if self.over || self.groups.len() > self.max_groups {
            return Err(QueryError::Limit(format!(
                "more than {} groups; group by a field with fewer values or add filters",
                self.max_groups
            )));
        }
        Ok(())
    }
}

#[derive(Default)]
struct Agg {
    count: u64,
    first: i64,
    last: i64,
    example: (i64, u32, u32, DocId),
    apps: BTreeSet<u64>,
    pods: BTreeSet<u64>,
}

#[derive(Default)]
struct GAgg {
    count: u64,
    first: i64,
    last: i64,
    example: (i64, u32, u32, DocId),
    apps: BTreeSet<String>,
    pods: BTreeSet<String>,
}

struct TopVisitor {
    part: u32,
    seg: u32,
    template: Option<TemplateColumn>,
    app: Option<StrColumn>,
    pod: Option<StrColumn>,
    app_ords: Option<Column<u64>>,
    pod_ords: Option<Column<u64>>,
    per_seg: HashMap<u64, Agg>,
    groups: HashMap<u64, GAgg>,
    total: u64,
}

fn add_ords(set: &mut BTreeSet<u64>, col: &Option<Column<u64>>, doc: DocId) {
    if set.len() < MAX_LISTED {
        if let Some(o) = col.as_ref().and_then(|c| c.first(doc)) {
            set.insert(o);
        }
    }
}

impl Visitor for TopVisitor {
    fn segment(&mut self, part: usize, seg: u32, reader: &SegmentReader) -> Result<(), QueryError> {
        self.part = part as u32;
        self.seg = seg;
        self.template = TemplateColumn::open(reader)?;
        self.app = keyword_column(reader, "app")?;
        self.pod = keyword_column(reader, "pod")?;
        self.app_ords = self.app.as_ref().map(|c| c.ords().clone());
        self.pod_ords = self.pod.as_ref().map(|c| c.ords().clone());
        Ok(())
    }
    fn doc(&mut self, doc: DocId, ts: i64) {
        let t = self
            .template
            .as_ref()
            .and_then(|c| c.first(doc))
            .unwrap_or(0);
        self.total += 1;
        let a = self.per_seg.entry(t).or_insert_with(|| Agg {
            first: i64::MAX,
            last: i64::MIN,
            ..Agg::default()
        });
        a.count += 1;
        a.first = a.first.min(ts);
        if ts >= a.last {
            a.last = ts;
            a.example = (ts, self.part, self.seg, doc);
        }
        add_ords(&mut a.apps, &self.app_ords, doc);
        add_ords(&mut a.pods, &self.pod_ords, doc);
    }
    fn finish_segment(&mut self) -> Result<(), QueryError> {
        for (t, a) in self.per_seg.drain() {
            let g = self.groups.entry(t).or_insert_with(|| GAgg {
                first: i64::MAX,
                last: i64::MIN,
                ..GAgg::default()
            });
            g.count += a.count;
            g.first = g.first.min(a.first);
            if a.last >= g.last {
                g.last = a.last;
                g.example = a.example;
            }
            for (set, col, ords) in [
                (&mut g.apps, &self.app, a.apps),
                (&mut g.pods, &self.pod, a.pods),
            ] {
                if let Some(c) = col {
                    for o in ords {
                        if set.len() >= MAX_LISTED {
                            break;
                        }
                        set.insert(ord_str(c, o)?);
                    }
                }
            }
        }
        Ok(())
    }
}

impl Engine {
    /// Error counts per bucket (blocking).
    pub fn error_count_blocking(
        &self,
        req: &ErrorCountRequest,
        ctx: &Ctx,
    ) -> Result<ErrorCountResponse, QueryError> {
        let range = self.resolve_range(req.start.as_deref(), req.end.as_deref())?;
        let span = range.end_ns - range.start_ns;
        let step = match req.step.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => parse_step(s)?,
            None => ceil_div(ceil_div(span, 60).max(1_000_000_000), 1_000_000_000) * 1_000_000_000,
        };
        let nb = usize::try_from(ceil_div(span, step)).unwrap_or(usize::MAX);
        if nb > self.options().max_buckets {
            return Err(QueryError::Limit(format!(
                "{nb} buckets exceed the maximum of {}; use a larger step",
                self.options().max_buckets
            )));
        }
        if let Some(by) = &req.by {
            if self.catalog().schema().keyword(by).is_none() {
                return Err(QueryError::BadRequest(format!(
                    "by={by:?} is not a keyword field (use one of {})",
                    logmind_indexer::schema::KEYWORD_FIELDS.join(", ")
                )));
            }
        }
        let schema = self.catalog().schema();
        // `level` narrows or widens what is counted: default error+fatal, `any` counts every event.
        let mut filters = req.filters.clone();
        let levels = match filters.level.as_deref().map(str::trim) {
            None | Some("") => vec![filter::error_levels(schema)],
            Some("any" | "all" | "*") => {
                filters.level = None;
                Vec::new()
            }
            Some(_) => Vec::new(),
        };
        let query = filter::build(schema, &filters, None, levels)?;
        let mut v = CountVisitor {
            start: range.start_ns,
            step,
            nb,
            by: req.by.clone(),
            col: None,
            ords: None,
            seg: Vec::new(),
            groups: BTreeMap::new(),
            max_groups: (self.options().max_memory_bytes / 8 / nb.max(1)).max(1),
            seg_groups: 0,
            over: false,
        };
        scan(
            self.catalog().as_ref(),
            &self.partitions(range),
            query.as_ref(),
            range,
            ctx,
            &mut v,
        )?;
        let mut series: Vec<Series> = v
            .groups
            .into_iter()
            .map(|(k, counts)| {
                let key = match &req.by {
                    Some(f) => BTreeMap::from([(f.clone(), k)]),
                    None => BTreeMap::new(),
                };
                let total = counts.iter().sum();
                let buckets = counts
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| (range.start_ns + i as i64 * step, c))
                    .collect();
                Series {
                    key,
                    total,
                    buckets,
                }
            })
            .collect();
        series.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.key.cmp(&b.key)));
        Ok(ErrorCountResponse {
            start: range.start_ns,
            end: range.end_ns,
            step,
            total: series.iter().map(|s| s.total).sum(),
            series,
        })
    }

    /// The N most frequent error templates (blocking).
    pub fn error_top_blocking(
        &self,
        req: &ErrorTopRequest,
        ctx: &Ctx,
    ) -> Result<ErrorTopResponse, QueryError> {
        let range: TimeRange = self.resolve_range(req.start.as_deref(), req.end.as_deref())?;
        let n = self.check_limit(Some(req.n.unwrap_or(10)))?;
        let schema = self.catalog().schema();
        let query = filter::build(
            schema,
            &req.filters,
            None,
            vec![filter::error_levels(schema)],
        )?;
        let parts = self.partitions(range);
        let mut v = TopVisitor {
            part: 0,
            seg: 0,
            template: None,
            app: None,
            pod: None,
            app_ords: None,
            pod_ords: None,
            per_seg: HashMap::new(),
            groups: HashMap::new(),
            total: 0,
        };
        scan(
            self.catalog().as_ref(),
            &parts,
            query.as_ref(),
            range,
            ctx,
            &mut v,
        )?;
        let templates = v.groups.len() as u64;
        let mut groups: Vec<(u64, GAgg)> = v.groups.into_iter().collect();
        groups.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
        groups.truncate(n);
        let total = v.total;
        let mut out = Vec::with_capacity(groups.len());
        for (id, g) in groups {
            let example = load(self, &parts, &[g.example], ctx)?
                .pop()
                .map(|(_, r)| r.message)
                .unwrap_or_default();
            out.push(TopGroup {
                template_id: id,
                template: self
                    .catalog()
                    .template_text(id)
                    .unwrap_or_else(|| example.clone()),
                count: g.count,
                share: if total == 0 {
                    0.0
                } else {
                    g.count as f64 / total as f64
                },
                example,
                first_seen: g.first,
                last_seen: g.last,
                apps: g.apps.into_iter().collect(),
                pods: g.pods.into_iter().collect(),
            });
        }
        Ok(ErrorTopResponse {
            start: range.start_ns,
            end: range.end_ns,
            total,
            templates,
            groups: out,
        })
    }

    /// Error counts on a blocking thread.
    pub async fn error_count(
        self: &Arc<Self>,
        req: ErrorCountRequest,
    ) -> Result<ErrorCountResponse, QueryError> {
        self.run(move |e, ctx| e.error_count_blocking(&req, ctx))
            .await
    }

    /// Top error templates on a blocking thread.
    pub async fn error_top(
        self: &Arc<Self>,
        req: ErrorTopRequest,
    ) -> Result<ErrorTopResponse, QueryError> {
        self.run(move |e, ctx| e.error_top_blocking(&req, ctx))
            .await
    }
}

fn parse_step(s: &str) -> Result<i64, QueryError> {
    let d = if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<u64>()
            .map(std::time::Duration::from_secs)
            .map_err(|e| e.to_string())
    } else {
        logmind_protocol::units::parse_duration(s).map_err(|e| e.to_string())
    }
    .map_err(|e| QueryError::BadRequest(format!("step {s:?}: {e}")))?;
    let ns = dur_ns(d);
    if ns <= 0 {
        return Err(QueryError::BadRequest(format!(
            "step {s:?} must be positive"
        )));
    }
    Ok(ns)
}

/// `ceil(a / b)` for positive `a`, `b`.
fn ceil_div(a: i64, b: i64) -> i64 {
    a / b + i64::from(a % b != 0)
}

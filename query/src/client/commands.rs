//! The CLI commands. Each `run_*` prints to stdout and returns the exit code; each `*_to` does the same into
//! any [`Output`] (tests).

use crate::client::output::{human_ns, level_style, Output, OutputFormat};
use crate::client::{path_segment, Client, ClientError, CommonArgs, EXIT_NOT_FOUND, EXIT_OK};
use crate::engine::{
    ErrorCountResponse, ErrorTopResponse, SearchResponse, TraceResponse, UserEventsResponse,
};
use logmind_protocol::time::format_rfc3339_millis;

pub use crate::client::logql::{query_to, run_query, QueryArgs};
use std::time::Duration;

/// `logmind search` options.
#[derive(Debug, Clone, Default)]
pub struct SearchArgs {
    /// Full-text query.
    pub text: Option<String>,
    /// Page size.
    pub limit: Option<usize>,
    /// Oldest first instead of newest first.
    pub forward: bool,
    /// `--request-id`.
    pub request_id: Option<String>,
    /// `--user-id`.
    pub user_id: Option<String>,
}

/// `logmind count` options.
#[derive(Debug, Clone, Default)]
pub struct CountArgs {
    /// Group by this keyword field (`app`, `namespace`, `pod`…).
    pub by: Option<String>,
    /// Bucket width (`5m`).
    pub step: Option<String>,
}

/// `logmind tail` options.
#[derive(Debug, Clone)]
pub struct TailArgs {
    /// Full-text query.
    pub text: Option<String>,
    /// Time between polls.
    pub interval: Duration,
    /// Stop after this many requests, failed ones included (`None`: until interrupted).
    pub max_polls: Option<usize>,
}

impl Default for TailArgs {
    fn default() -> Self {
        TailArgs {
            text: None,
            interval: Duration::from_secs(1),
            max_polls: None,
        }
    }
}

fn not_found(e: &ClientError) -> bool {
    matches!(e, ClientError::Server { status: 404, .. })
}

/// `logmind trace REQUEST_ID`.
pub async fn run_trace(common: &CommonArgs, id: &str) -> Result<i32, ClientError> {
    trace_to(common, id, &mut Output::stdout()).await
}

/// [`run_trace`] into `out`.
pub async fn trace_to(common: &CommonArgs, id: &str, out: &mut Output) -> Result<i32, ClientError> {
    let client = Client::new(common)?;
    let path = format!("/api/v1/trace/{}", path_segment(id));
    let t: TraceResponse = match client.get(&path, &common.params()).await {
        Ok(t) => t,
        Err(e) if not_found(&e) => {
            eprintln!("{e}");
            return Ok(EXIT_NOT_FOUND);
        }
        Err(e) => return Err(e),
    };
    match common.output {
        OutputFormat::Json => out.json_pretty(&t)?,
        OutputFormat::Ndjson => {
            for e in &t.events {
                out.json_line(e)?;
            }
        }
        OutputFormat::Table => {
            let s = &t.summary;
            out.line(&format!(
                "request {}: {} events across {} in {}, {} errors{}",
                out.paint(&t.request_id, "1"),
                s.events,
                s.services.join(" → "),
                human_ns(s.duration_ns),
                out.paint(
                    &s.error_count.to_string(),
                    if s.error_count > 0 { "31" } else { "" }
                ),
                if s.matched_by == "message" {
                    " (matched in message text)"
                } else {
                    ""
                }
            ))?;
            if let Some(e) = &s.first_error {
                out.line(&format!(
                    "first error: [{}] {}",
                    e.app,
                    e.message.lines().next().unwrap_or("")
                ))?;
            }
            out.line("")?;
            out.events(&t.events)?;
        }
    }
    out.flush()?;
    Ok(EXIT_OK)
}

/// `logmind user USER_ID`.
pub async fn run_user(
    common: &CommonArgs,
    id: &str,
    limit: Option<usize>,
) -> Result<i32, ClientError> {
    user_to(common, id, limit, &mut Output::stdout()).await
}

/// [`run_user`] into `out`.
pub async fn user_to(
    common: &CommonArgs,
    id: &str,
    limit: Option<usize>,
    out: &mut Output,
) -> Result<i32, ClientError> {
    let client = Client::new(common)?;
    let mut params = common.params();
    if let Some(l) = limit {
        params.push(("limit".into(), l.to_string()));
    }
    let u: UserEventsResponse = client
        .get(
            &format!("/api/v1/users/{}/events", path_segment(id)),
            &params,
        )
        .await?;
    if u.counts.total == 0 {
        eprintln!("no events for user {id:?} in the time range");
        return Ok(EXIT_NOT_FOUND);
    }
    match common.output {
        OutputFormat::Json => out.json_pretty(&u)?,
        OutputFormat::Ndjson => {
            for e in &u.events {
                out.json_line(e)?;
            }
        }
        OutputFormat::Table => {
            out.line(&format!(
                "user {}: {} events",
                out.paint(&u.user_id, "1"),
                u.counts.total
            ))?;
            let join = |m: &std::collections::BTreeMap<String, u64>| {
                m.iter()
                    .map(|(k, v)| format!("{}={v}", if k.is_empty() { "-" } else { k }))
                    .collect::<Vec<_>>()
                    .join("  ")
            };
            out.line(&format!("by app:   {}", join(&u.counts.by_app)))?;
            out.line(&format!("by level: {}", join(&u.counts.by_level)))?;
            out.line("")?;
            out.events(&u.events)?;
        }
    }
    out.flush()?;
    Ok(EXIT_OK)
}

/// `logmind errors [--top N]`.
pub async fn run_errors(common: &CommonArgs, top: usize) -> Result<i32, ClientError> {
    errors_to(common, top, &mut Output::stdout()).await
}

/// [`run_errors`] into `out`.
pub async fn errors_to(
    common: &CommonArgs,
    top: usize,
    out: &mut Output,
) -> Result<i32, ClientError> {
    let client = Client::new(common)?;
    let mut params = common.params();
    params.push(("n".into(), top.to_string()));
    let r: ErrorTopResponse = client.get("/api/v1/errors/top", &params).await?;
    match common.output {
        OutputFormat::Json => out.json_pretty(&r)?,
        OutputFormat::Ndjson => {
            for g in &r.groups {
                out.json_line(g)?;
            }
        }
        OutputFormat::Table => {
            out.line(&format!("{} errors in {} templates", r.total, r.templates))?;
            let rows: Vec<Vec<String>> = r
                .groups
                .iter()
                .map(|g| {
                    vec![
                        g.count.to_string(),
                        format!("{:.1}%", g.share * 100.0),
                        format_rfc3339_millis(g.last_seen),
                        g.apps.join(","),
                        g.template.clone(),
                    ]
                })
                .collect();
            out.table(
                &["COUNT", "SHARE", "LAST SEEN", "APPS", "TEMPLATE"],
                &rows,
                &|i, _| match i {
                    0 => "31".into(),
                    3 => "36".into(),
                    _ => String::new(),
                },
            )?;
        }
    }
    out.flush()?;
    Ok(EXIT_OK)
}

/// `logmind count`.
pub async fn run_count(common: &CommonArgs, args: &CountArgs) -> Result<i32, ClientError> {
    count_to(common, args, &mut Output::stdout()).await
}

const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A sparkline of counts.
pub fn sparkline(counts: &[u64]) -> String {
    let max = counts.iter().copied().max().unwrap_or(0);
    counts
        .iter()
        .map(|&c| {
            if c == 0 || max == 0 {
                ' '
            } else {
                SPARKS[((c * 7).div_ceil(max)) as usize % 8]
            }
        })
        .collect()
}

/// [`run_count`] into `out`.
pub async fn count_to(
    common: &CommonArgs,
    args: &CountArgs,
    out: &mut Output,
) -> Result<i32, ClientError> {
    let client = Client::new(common)?;
    let mut params = common.params();
    if let Some(by) = &args.by {
        params.push(("by".into(), by.clone()));
    }
    if let Some(step) = &args.step {
        params.push(("step".into(), step.clone()));
    }
    let r: ErrorCountResponse = client.get("/api/v1/errors/count", &params).await?;
    match common.output {
        OutputFormat::Json => out.json_pretty(&r)?,
        OutputFormat::Ndjson => {
            for s in &r.series {
                out.json_line(s)?;
            }
        }
        OutputFormat::Table => {
            out.line(&format!(
                "{} errors from {} to {} (step {})",
                out.paint(&r.total.to_string(), "1"),
                format_rfc3339_millis(r.start),
                format_rfc3339_millis(r.end),
                human_ns(r.step)
            ))?;
            let by = args.by.clone().unwrap_or_default();
            let rows: Vec<Vec<String>> = r
                .series
                .iter()
                .map(|s| {
                    let key = s.key.get(&by).cloned().unwrap_or_else(|| "all".into());
                    let counts: Vec<u64> = s.buckets.iter().map(|b| b.1).collect();
                    vec![
                        if key.is_empty() { "-".into() } else { key },
                        s.total.to_string(),
                        sparkline(&counts),
                    ]
                })
                .collect();
            let head = if by.is_empty() {
                "SERIES".to_string()
            } else {
                by.to_uppercase()
            };
            out.table(&[&head, "ERRORS", "OVER TIME"], &rows, &|i, _| {
                if i == 1 {
                    "31".into()
                } else {
                    String::new()
                }
            })?;
        }
    }
    out.flush()?;
    Ok(EXIT_OK)
}

fn search_params(common: &CommonArgs, args: &SearchArgs) -> Vec<(String, String)> {
    let mut p = common.params();
    if let Some(t) = args.text.as_deref().filter(|t| !t.is_empty()) {
        p.push(("q".into(), t.to_string()));
    }
    if let Some(l) = args.limit {
        p.push(("limit".into(), l.to_string()));
    }
    if args.forward {
        p.push(("direction".into(), "forward".into()));
    }
    for (k, v) in [("request_id", &args.request_id), ("user_id", &args.user_id)] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            p.push((k.into(), v.into()));
        }
    }
    p
}

/// `logmind search [TEXT]`.
pub async fn run_search(common: &CommonArgs, args: &SearchArgs) -> Result<i32, ClientError> {
    search_to(common, args, &mut Output::stdout()).await
}

/// [`run_search`] into `out`.
pub async fn search_to(
    common: &CommonArgs,
    args: &SearchArgs,
    out: &mut Output,
) -> Result<i32, ClientError> {
    let client = Client::new(common)?;
    let r: SearchResponse = client
        .get("/api/v1/search", &search_params(common, args))
        .await?;
    match common.output {
        OutputFormat::Json => out.json_pretty(&r)?,
        OutputFormat::Ndjson => {
            for e in &r.events {
                out.json_line(e)?;
            }
        }
        OutputFormat::Table => out.events(&r.events)?,
    }
    out.flush()?;
    Ok(EXIT_OK)
}

/// `logmind tail`: follows new events by polling `/api/v1/search` forward with a cursor; reconnects with
/// exponential backoff (up to 30 s) while the server is unreachable or failing.
pub async fn run_tail(common: &CommonArgs, args: &TailArgs) -> Result<i32, ClientError> {
    tail_to(common, args, &mut Output::stdout()).await
}

/// [`run_tail`] into `out`.
pub async fn tail_to(
    common: &CommonArgs,
    args: &TailArgs,
    out: &mut Output,
) -> Result<i32, ClientError> {
    let client = Client::new(common)?;
    let mut base = common.clone();
    if base.from.is_none() && base.since.is_none() {
        base.since = Some("1m".into());
    }
    let search = SearchArgs {
        text: args.text.clone(),
        limit: Some(1000),
        forward: true,
        ..SearchArgs::default()
    };
    let mut cursor: Option<String> = None;
    let mut last_ts: Option<i64> = None;
    let mut backoff = Duration::from_millis(500);
    let mut polls = 0usize;
    loop {
        polls += 1;
        let mut params = search_params(&base, &search);
        if let Some(ts) = last_ts {
            params.retain(|(k, _)| k != "since" && k != "start");
            params.push(("start".into(), ts.to_string()));
        }
        if let Some(c) = &cursor {
            params.push(("cursor".into(), c.clone()));
        }
        let full: bool;
        match client
            .get::<SearchResponse>("/api/v1/search", &params)
            .await
        {
            Ok(r) => {
                backoff = Duration::from_millis(500);
                full = r.next_cursor.is_some();
                for e in &r.events {
                    match common.output {
                        OutputFormat::Table => {
                            let row = crate::client::output::event_row(e);
                            let line = format!(
                                "{} {} {} {}",
                                out.paint(&row[0], "2"),
                                out.paint(&row[1], "36"),
                                out.paint(&row[3], level_style(&row[3])),
                                row[4]
                            );
                            out.line(&line)?;
                        }
                        _ => out.json_line(e)?,
                    }
                }
                out.flush()?;
                if let Some(e) = r.events.last() {
                    last_ts = Some(e.ts);
                }
                if r.tail_cursor.is_some() {
                    cursor = r.tail_cursor;
                }
            }
            Err(
                e @ ClientError::Server {
                    status: 400..=499, ..
                },
            ) => return Err(e),
            Err(e) => {
                if args.max_polls.is_some_and(|m| polls >= m) {
                    return Err(e);
                }
                eprintln!("tail: {e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        }
        if args.max_polls.is_some_and(|m| polls >= m) {
            return Ok(EXIT_OK);
        }
        if !full {
            tokio::time::sleep(args.interval).await;
        }
    }
}

//! End to end: `logmind generate` writes Kubernetes CRI and Docker json-file logs with a ground-truth
//! manifest; a real `logmind agent` process ships them to a real `logmind indexer` process; every answer of the
//! HTTP API is checked against the manifest, exactly.

use crate::common;

use common::*;
use logmind_workload::Manifest;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

type Counts = BTreeMap<String, u64>;

/// The manifest's breakdowns minus what keep-N rotation deleted (batch mode lists the deleted events).
struct Expected {
    total: u64,
    by_namespace: Counts,
    by_app: Counts,
    by_level: Counts,
    errors_by_app: Counts,
    errors: u64,
}

fn sub(map: &mut Counts, key: &str) {
    if let Some(v) = map.get_mut(key) {
        *v -= 1;
        if *v == 0 {
            map.remove(key);
        }
    }
}

fn expected(m: &Manifest) -> Expected {
    assert_eq!(
        m.deleted.list.len() as u64,
        m.deleted.events,
        "batch manifest lists every deleted event"
    );
    let mut e = Expected {
        total: m.totals.events - m.deleted.events,
        by_namespace: m.by_namespace.clone(),
        by_app: m.by_app.clone(),
        by_level: m.by_level.clone(),
        errors_by_app: Counts::new(),
        errors: 0,
    };
    for apps in m.by_namespace_app_level.values() {
        for (app, levels) in apps {
            let n: u64 = ["error", "fatal"]
                .iter()
                .filter_map(|l| levels.get(*l))
                .sum();
            if n > 0 {
                *e.errors_by_app.entry(app.clone()).or_default() += n;
            }
        }
    }
    for d in &m.deleted.list {
        sub(&mut e.by_namespace, &d.namespace);
        sub(&mut e.by_app, &d.app);
        sub(&mut e.by_level, &d.level);
        if d.level == "error" || d.level == "fatal" {
            sub(&mut e.errors_by_app, &d.app);
        }
    }
    e.errors = e.errors_by_app.values().sum();
    e
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

/// Generates, ships, waits for every event; returns the pieces the checks need.
struct Run {
    _agent: Proc,
    indexer: Indexer,
    http: Http,
    manifest: Manifest,
    // Last: dropped after the processes, so their logs can still be printed.
    _scratch: Scratch,
}

fn ship(extra: &[&str]) -> Run {
    let scratch = Scratch::new();
    let manifest = generate(&scratch.host(), extra);
    let http = Http::new();
    let indexer = Indexer::start(&http, &scratch.index(), 0, &scratch.logs());
    let mut agent = start_agent(
        &indexer.base,
        &scratch.agent(),
        &scratch.host(),
        &scratch.logs(),
    );
    let want = manifest.totals.events - manifest.deleted.events;
    agent.assert_running();
    let took = wait_docs(&http, &indexer.base, want, Duration::from_secs(60));
    eprintln!(
        "shipped {want} events ({:.1} MB) in {:.2}s",
        manifest.totals.bytes as f64 / 1e6,
        took.as_secs_f64()
    );
    Run {
        _scratch: scratch,
        _agent: agent,
        indexer,
        http,
        manifest,
    }
}

/// Pages through every event (small pages), checks no gap, no repeat, newest first; tallies the breakdowns.
fn check_all_events(r: &Run, e: &Expected) -> Vec<Value> {
    let q = range_params(&r.manifest);
    let (events, pages) = search_all(&r.http, &r.indexer.base, &q, 1000);
    let mut seen = HashSet::new();
    let mut repeats = Vec::new();
    for ev in &events {
        let s = &ev["source"];
        let key = format!("{}|{}|{}", s["agent"], s["file"], s["offset"]);
        if !seen.insert(key.clone()) {
            repeats.push(key);
        }
    }
    assert!(
        repeats.is_empty(),
        "search pagination repeated {} events, e.g. {:?}",
        repeats.len(),
        &repeats[..repeats.len().min(5)]
    );
    assert_eq!(
        events.len() as u64,
        e.total,
        "search pagination over {pages} pages returned {} events, the manifest has {}",
        events.len(),
        e.total
    );
    let ts: Vec<i64> = events
        .iter()
        .map(|v| v["ts"].as_i64().unwrap_or(0))
        .collect();
    assert!(
        ts.windows(2).all(|w| w[0] >= w[1]),
        "default search order is newest first"
    );
    let (mut ns, mut app, mut lvl) = (Counts::new(), Counts::new(), Counts::new());
    for ev in &events {
        *ns.entry(str_of(ev, "namespace").to_string()).or_default() += 1;
        *app.entry(str_of(ev, "app").to_string()).or_default() += 1;
        *lvl.entry(str_of(ev, "level").to_string()).or_default() += 1;
    }
    assert_eq!(ns, e.by_namespace, "events by namespace");
    assert_eq!(app, e.by_app, "events by app");
    assert_eq!(lvl, e.by_level, "events by level");
    events
}

fn check_error_counts(r: &Run, e: &Expected) {
    let url = format!(
        "{}/api/v1/errors/count?{}&by=app&step=1h",
        r.indexer.base,
        range_params(&r.manifest)
    );
    let v = r.http.get_json(&url);
    assert_eq!(v["total"].as_u64(), Some(e.errors), "errors/count total");
    let got: Counts = v["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|s| {
            (
                s["key"]["app"].as_str().unwrap_or("").to_string(),
                s["total"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(got, e.errors_by_app, "errors/count by app");
    let sum: u64 = v["series"]
        .as_array()
        .expect("series")
        .iter()
        .flat_map(|s| s["buckets"].as_array().cloned().unwrap_or_default())
        .map(|b| b[1].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(sum, e.errors, "errors/count buckets add up to the total");
}

/// A template's text with every token holding a variable reduced to `<*>` (so `<*>:<*>` and `"<*>"` compare
/// equal to `<*>`): used only to label groups in the assertion message.
fn norm(t: &str) -> String {
    t.split_whitespace()
        .map(|w| if w.contains("<*>") { "<*>" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

const TOP: usize = 10;

fn check_top_errors(r: &Run) {
    let m = &r.manifest;
    let url = format!(
        "{}/api/v1/errors/top?{}&n={TOP}",
        r.indexer.base,
        range_params(m)
    );
    let v = r.http.get_json(&url);
    let groups = v["groups"].as_array().expect("groups");
    let got: Vec<(String, u64)> = groups
        .iter()
        .map(|g| {
            (
                g["template"].as_str().unwrap_or("").to_string(),
                g["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let want: Vec<(String, u64)> = m
        .error_templates
        .iter()
        .take(TOP)
        .map(|t| (t.template.clone(), t.count))
        .collect();
    let mut got_counts: Vec<u64> = got.iter().map(|g| g.1).collect();
    let mut want_counts: Vec<u64> = want.iter().map(|g| g.1).collect();
    got_counts.sort_unstable_by(|a, b| b.cmp(a));
    want_counts.sort_unstable_by(|a, b| b.cmp(a));
    let mut report = String::new();
    for (t, c) in &want {
        let matched: Vec<&(String, u64)> = got.iter().filter(|g| norm(&g.0) == norm(t)).collect();
        match matched.first() {
            Some((gt, gc)) if gc == c => report.push_str(&format!("  ok    {c:>5}  {t}\n")),
            Some((gt, gc)) => report.push_str(&format!(
                "  DIFF  manifest {c:>5}  server {gc:>5}  {t}   (server: {gt})\n"
            )),
            None => report.push_str(&format!(
                "  MISS  manifest {c:>5}  not among the server's top {TOP}: {t}\n"
            )),
        }
    }
    for (gt, gc) in &got {
        if !want.iter().any(|(t, _)| norm(t) == norm(gt)) {
            report.push_str(&format!(
                "  EXTRA server {gc:>5} not among the manifest's top {TOP}: {gt}\n"
            ));
        }
    }
    assert_eq!(
        got_counts, want_counts,
        "top {TOP} error group counts differ from the manifest's:\n{report}"
    );
    let total: u64 = m.error_templates.iter().map(|t| t.count).sum();
    assert_eq!(
        v["total"].as_u64(),
        Some(total),
        "errors/top total vs the manifest's templates"
    );
}

fn check_traces(r: &Run) {
    let m = &r.manifest;
    // A spread of requests plus every one with an error among the first 2000 (bounded: ~100 requests).
    let mut sample: Vec<usize> = (0..m.requests.len()).step_by(97).collect();
    sample.extend(
        m.requests
            .iter()
            .enumerate()
            .take(2000)
            .filter(|(_, q)| q.has_error)
            .map(|(i, _)| i)
            .step_by(7),
    );
    sample.sort_unstable();
    sample.dedup();
    assert!(sample.len() >= 20, "sample of {} requests", sample.len());
    for i in sample {
        let q = &m.requests[i];
        let url = format!(
            "{}/api/v1/trace/{}?{}",
            r.indexer.base,
            q.request_id,
            range_params(m)
        );
        let v = r.http.get_json(&url);
        let got: Vec<(i64, String, String, String, String, String)> = v["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| {
                (
                    e["ts"].as_i64().unwrap_or(0),
                    str_of(e, "app").to_string(),
                    str_of(e, "container").to_string(),
                    str_of(e, "level").to_string(),
                    str_of(e, "user_id").to_string(),
                    str_of(e, "message")
                        .split('\n')
                        .next()
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect();
        let want: Vec<(i64, String, String, String, String, String)> = q
            .events
            .iter()
            .map(|e| {
                (
                    e.ts,
                    e.app.clone(),
                    e.container.clone(),
                    e.level.clone(),
                    e.user_id.clone(),
                    e.first_line.clone(),
                )
            })
            .collect();
        assert_eq!(
            got, want,
            "trace of request #{i} {} (ts, app, container, level, user_id, first line)",
            q.request_id
        );
        let services: Vec<String> =
            serde_json::from_value(v["summary"]["services"].clone()).unwrap_or_default();
        assert_eq!(
            services, q.apps,
            "trace summary services of {} (in order of first appearance)",
            q.request_id
        );
        // Kubernetes events carry their pod name (the manifest leaves it empty for Docker containers).
        for (e, w) in v["events"]
            .as_array()
            .expect("events")
            .iter()
            .zip(&q.events)
        {
            if !w.pod.is_empty() {
                assert_eq!(
                    str_of(e, "pod"),
                    w.pod,
                    "pod of an event of {}",
                    q.request_id
                );
            }
        }
        assert_eq!(
            v["summary"]["events"].as_u64(),
            Some(q.events.len() as u64),
            "trace summary count of {}",
            q.request_id
        );
    }
}

fn check_users(r: &Run) {
    let m = &r.manifest;
    assert!(!m.users.is_empty(), "the manifest lists users");
    let mut bad = Vec::new();
    for (uid, truth) in &m.users {
        let url = format!(
            "{}/api/v1/users/{uid}/events?{}&limit=1",
            r.indexer.base,
            range_params(m)
        );
        let v = r.http.get_json(&url);
        let c = &v["counts"];
        let by_app: Counts = serde_json::from_value(c["by_app"].clone()).unwrap_or_default();
        let by_level: Counts = serde_json::from_value(c["by_level"].clone()).unwrap_or_default();
        if c["total"].as_u64() != Some(truth.events)
            || by_app != truth.by_app
            || by_level != truth.by_level
        {
            bad.push(format!(
                "{uid}: server total {} by_app {by_app:?} by_level {by_level:?}; manifest {} {:?} {:?}",
                c["total"], truth.events, truth.by_app, truth.by_level
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} users differ, e.g.:\n{}",
        bad.len(),
        m.users.len(),
        bad[..bad.len().min(5)].join("\n")
    );
}

/// Error-level pagination forward (oldest first) with a small page: no gap, no repeat, ordered.
fn check_error_pagination(r: &Run, e: &Expected) {
    let q = format!(
        "{}&level=error,fatal&direction=forward",
        range_params(&r.manifest)
    );
    let (events, pages) = search_all(&r.http, &r.indexer.base, &q, 97);
    let keys: HashSet<String> = events
        .iter()
        .map(|v| {
            let s = &v["source"];
            format!("{}|{}|{}", s["agent"], s["file"], s["offset"])
        })
        .collect();
    assert_eq!(
        keys.len(),
        events.len(),
        "forward pagination repeated events"
    );
    assert_eq!(
        events.len() as u64,
        e.errors,
        "forward pagination of errors over {pages} pages"
    );
    let ts: Vec<i64> = events
        .iter()
        .map(|v| v["ts"].as_i64().unwrap_or(0))
        .collect();
    assert!(
        ts.windows(2).all(|w| w[0] <= w[1]),
        "forward is oldest first"
    );
}

/// `sum by (F) (count_over_time({namespace=~".+"}[1h]))` through the Loki API, as a map F value → count.
fn loki_counts(r: &Run, by: &str) -> Counts {
    let logql = format!(r#"sum by ({by}) (count_over_time({{namespace=~".+"}}[1h]))"#);
    let url = format!(
        "{}/loki/api/v1/query?query={}&time={}",
        r.indexer.base,
        enc(&logql),
        r.manifest.end_ns + 1_000_000_000
    );
    let v = r.http.get_json(&url);
    assert_eq!(v["status"], "success", "{url}: {v}");
    v["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{url}: no result vector: {v}"))
        .iter()
        .map(|s| {
            let key = s["metric"][by].as_str().unwrap_or("").to_string();
            let n = s["value"][1]
                .as_str()
                .and_then(|n| n.parse::<f64>().ok())
                .unwrap_or(-1.0);
            (key, n as u64)
        })
        .collect()
}

fn check_loki_counts(r: &Run, e: &Expected) {
    assert_eq!(
        loki_counts(r, "namespace"),
        e.by_namespace,
        "LogQL counts by namespace"
    );
    assert_eq!(loki_counts(r, "app"), e.by_app, "LogQL counts by app");
    let mut levels = e.by_level.clone();
    // A series without the label has no `level` key: it reads as "", like the manifest's unknown level.
    levels.retain(|_, n| *n > 0);
    assert_eq!(loki_counts(r, "level"), levels, "LogQL counts by level");
}

#[test]
fn pipeline_answers_match_the_manifest_exactly() {
    let r = ship(&["--events", "20000", "--start", "now-30m"]);
    let e = expected(&r.manifest);
    assert_eq!(e.total, 20_000);
    check_all_events(&r, &e);
    check_error_counts(&r, &e);
    check_loki_counts(&r, &e);
    check_error_pagination(&r, &e);
    check_top_errors(&r);
    check_traces(&r);
    check_users(&r);
}

#[test]
fn pipeline_with_rotation_and_gzip_is_exact() {
    let r = ship(&[
        "--events",
        "20000",
        "--start",
        "now-30m",
        "--seed",
        "7",
        "--rotate-bytes",
        "256KiB",
        "--gzip",
    ]);
    let m = &r.manifest;
    assert!(m.totals.rotations > 0, "the workload rotated files");
    assert!(
        m.files.iter().any(|f| f.compressed),
        "the workload left gzipped rotated files"
    );
    let e = expected(m);
    check_all_events(&r, &e);
    check_error_counts(&r, &e);
}

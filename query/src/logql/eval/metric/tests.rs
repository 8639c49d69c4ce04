use super::*;
use crate::logql::eval::plan::plan;
use crate::logql::{parse, Expr};

const S: i64 = 1_000_000_000;

struct VecSource(Vec<LogRecord>);

impl Source for VecSource {
    fn fetch(
        &self,
        log: &LogExpr,
        start_ns: i64,
        end_ns: i64,
        visit: &mut dyn FnMut(&LogRecord) -> bool,
    ) -> Result<(), EvalError> {
        let pl = plan(log, CompileLimits::default())?;
        for r in &self.0 {
            if r.ts >= start_ns
                && r.ts < end_ns
                && pl.selector_matches(&Entry::from_record(r))
                && !visit(r)
            {
                break;
            }
        }
        Ok(())
    }
}

fn rec(ts_s: i64, app: &str, level: &str, msg: &str) -> LogRecord {
    LogRecord {
        ts: ts_s * S,
        namespace: "shop".into(),
        app: app.into(),
        level: level.into(),
        message: msg.into(),
        ..Default::default()
    }
}

fn data() -> VecSource {
    let mut v = Vec::new();
    for i in 0..120 {
        let app = if i % 3 == 0 { "gateway" } else { "backend" };
        let level = if i % 4 == 0 { "error" } else { "info" };
        v.push(rec(
            1000 + i,
            app,
            level,
            &format!(r#"{{"latency_ms":{},"msg":"m{i}"}}"#, i % 10),
        ));
    }
    VecSource(v)
}

fn run(q: &str, start: i64, end: i64, step: i64) -> Val {
    eval_on(&data(), q, start, end, step).expect("eval")
}

fn series(v: Val) -> Vec<Series> {
    match v {
        Val::Vector(s) => s,
        Val::Scalar(x) => panic!("vector expected, got scalar {x}"),
    }
}

#[test]
fn vector_plus_vector_is_two() {
    let s = series(run("vector(1)+vector(1)", 1000, 1000, 1));
    assert_eq!(s.len(), 1);
    assert!(s[0].labels.is_empty());
    assert_eq!(s[0].points, vec![(1000 * S, 2.0)]);
    assert_eq!(run("1 + 1", 0, 0, 1), Val::Scalar(2.0));
}

#[test]
fn count_over_time_uses_left_open_windows() {
    // Window at t=1060 with [60s] is (1000, 1060]: events 1001..=1060 → 60 events across both apps.
    let s = series(run(
        r#"sum(count_over_time({namespace="shop"}[60s]))"#,
        1060,
        1060,
        1,
    ));
    assert_eq!(s[0].points, vec![(1060 * S, 60.0)]);
    // Independent count of errors by app at t=1119 over (1059, 1119].
    let s = series(run(
        r#"sum by (app) (count_over_time({namespace="shop", level="error"}[60s]))"#,
        1119,
        1119,
        1,
    ));
    let expected = |app: &str| {
        (1060..=1119)
            .filter(|t| {
                let i = t - 1000;
                i % 4 == 0 && ((i % 3 == 0) == (app == "gateway"))
            })
            .count() as f64
    };
    for s in &s {
        let app = s.labels.get("app").expect("app label");
        assert_eq!(s.points[0].1, expected(app), "app {app}");
    }
    assert_eq!(s.len(), 2);
}

#[test]
fn rate_has_no_extrapolation() {
    let s = series(run(r#"sum(rate({namespace="shop"}[60s]))"#, 1060, 1060, 1));
    assert_eq!(s[0].points[0].1, 1.0);
}

#[test]
fn unwrap_and_topk() {
    let s = series(run(
        r#"max_over_time({namespace="shop"} | json | unwrap latency_ms [200s]) by (app)"#,
        1119,
        1119,
        1,
    ));
    assert_eq!(s.len(), 2);
    assert!(s.iter().all(|x| x.points[0].1 == 9.0));
    let s = series(run(
        r#"topk(1, sum by (app) (count_over_time({namespace="shop"}[200s])))"#,
        1119,
        1119,
        1,
    ));
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].labels.get("app").map(String::as_str), Some("backend"));
    assert_eq!(s[0].points[0].1, 80.0);
}

#[test]
fn range_steps_offset_and_binary() {
    let s = series(run(
        r#"sum(count_over_time({namespace="shop"}[10s]))"#,
        1010,
        1030,
        10,
    ));
    assert_eq!(
        s[0].points,
        vec![(1010 * S, 10.0), (1020 * S, 10.0), (1030 * S, 10.0)]
    );
    let s = series(run(
        r#"sum(count_over_time({namespace="shop"}[10s] offset 200s))"#,
        1300,
        1300,
        10,
    ));
    assert_eq!(s[0].points, vec![(1300 * S, 10.0)]);
    let s = series(run(
        r#"sum(count_over_time({namespace="shop", level="error"}[120s])) / sum(count_over_time({namespace="shop"}[120s]))"#,
        1119,
        1119,
        1,
    ));
    assert_eq!(s[0].points[0].1, 0.25);
    let s = series(run(
        r#"sum by (app) (count_over_time({namespace="shop"}[200s])) > 50"#,
        1119,
        1119,
        1,
    ));
    assert_eq!(s.len(), 1);
}

#[test]
fn absent_over_time_reports_gaps() {
    let s = series(run(
        r#"absent_over_time({namespace="shop", app="nope"}[10s])"#,
        1010,
        1010,
        1,
    ));
    assert_eq!(s[0].points, vec![(1010 * S, 1.0)]);
    assert_eq!(s[0].labels.get("app").map(String::as_str), Some("nope"));
    assert!(series(run(
        r#"absent_over_time({namespace="shop"}[10s])"#,
        1010,
        1010,
        1
    ))
    .is_empty());
}

#[test]
fn too_many_points_is_refused() {
    let Expr::Metric(m) = parse(r#"count_over_time({app="x"}[1s])"#).expect("parse") else {
        panic!()
    };
    let p = Params {
        start_ns: 0,
        end_ns: 20_000 * S,
        step_ns: S,
        limits: CompileLimits::default(),
        max_samples: 10,
        points: Default::default(),
    };
    let e = eval(&m, &p, &data()).expect_err("resolution");
    assert!(e.0.contains("maximum resolution"));
}

fn eval_on(src: &VecSource, q: &str, start: i64, end: i64, step: i64) -> Result<Val, EvalError> {
    let Expr::Metric(m) = parse(q).expect("parse") else {
        panic!("metric query expected")
    };
    let p = Params {
        start_ns: start * S,
        end_ns: end * S,
        step_ns: step * S,
        limits: CompileLimits::default(),
        max_samples: 1_000_000,
        points: Default::default(),
    };
    eval(&m, &p, src)
}

#[test]
fn result_points_are_bounded_over_all_series() {
    // 2,000 series (one line each, a distinct app) over 10,001 steps: just over 20M points.
    let many = |n: usize| {
        VecSource(
            (0..n)
                .map(|i| rec(1, &format!("app{i}"), "info", "x"))
                .collect(),
        )
    };
    let q = r#"count_over_time({namespace="shop"}[30000s])"#;
    let e = eval_on(&many(2_000), q, 2, 10_002, 1).expect_err("over the budget");
    assert!(e.0.contains("points"), "{e:?}");
    // So does an aggregation that needs every series (`max`).
    let e = eval_on(&many(2_000), &format!("max({q})"), 2, 10_002, 1).expect_err("max");
    assert!(e.0.contains("points"), "{e:?}");
    // Summed, the same 20M points are counted per group as they are read: one series out, or one per app.
    let s = series(eval_on(&many(2_000), &format!("sum({q})"), 2, 10_002, 1).expect("sum"));
    assert_eq!(s.len(), 1);
    assert!(s[0].labels.is_empty());
    assert_eq!(s[0].points.len(), 10_001);
    assert!(s[0].points.iter().all(|&(_, v)| v == 2_000.0));
    let q5 = r#"sum by (app) (rate({namespace="shop"}[30000s]))"#;
    let s = series(eval_on(&many(5), q5, 2, 1_001, 1).expect("sum by"));
    assert_eq!(s.len(), 5);
    assert_eq!(s[0].labels.get("app").map(String::as_str), Some("app0"));
    assert!(s
        .iter()
        .all(|x| x.points.len() == 1_000 && x.points[0].1 == 1.0 / 30_000.0));
    let src = many(1);
    // The budget is the query's, not each aggregation's: two halves of it are fine, three are not.
    let third = r#"count_over_time({namespace="shop"}[30000s])"#;
    let e = eval_on(
        &many(700),
        &format!("{third} + {third} + {third}"),
        2,
        10_001,
        1,
    )
    .expect_err("21M points in three aggregations");
    assert!(e.0.contains("points"), "{e:?}");
    eval_on(&many(900), &format!("{third} + {third}"), 2, 10_001, 1).expect("18M points");
    // A huge offset and range saturate instead of overflowing.
    let q = r#"count_over_time({namespace="shop"}[100000d] offset 100000d)"#;
    assert!(series(eval_on(&src, q, 2, 2, 1).expect("saturating")).is_empty());
}

#[test]
fn label_replace_expansion_is_bounded() {
    let big = "a".repeat(20_000);
    let q = format!(
        r#"label_replace(vector(1), "x", "{}", "y", "(.*)")"#,
        "$1".repeat(5_000)
    );
    // The source label is empty here: 10 kB of literal `$1`s is within the bound.
    eval_on(&data(), &q, 1, 1, 1).expect("small value");
    let q = format!(
        r#"label_replace(label_replace(vector(1), "y", "{big}", "", ""), "x", "{}", "y", "(.*)")"#,
        "$1".repeat(5_000)
    );
    let e = eval_on(&data(), &q, 1, 1, 1).expect_err("100 MB value");
    assert!(e.0.contains("label_replace could make"), "{e:?}");
}

/// A source whose deadline passes after its first check.
struct Expiring(VecSource, std::cell::Cell<usize>);

impl Source for Expiring {
    fn fetch(
        &self,
        log: &LogExpr,
        start_ns: i64,
        end_ns: i64,
        visit: &mut dyn FnMut(&LogRecord) -> bool,
    ) -> Result<(), EvalError> {
        self.0.fetch(log, start_ns, end_ns, visit)
    }

    fn check(&self) -> Result<(), EvalError> {
        self.1.set(self.1.get() + 1);
        if self.1.get() > 1 {
            return Err(EvalError("deadline".into()));
        }
        Ok(())
    }
}

#[test]
fn heavy_windows_check_the_deadline_by_work_not_only_by_steps() {
    // 100 steps over one series whose every window holds 100,000 samples: 10M samples visited, no 1,024th step.
    let src = Expiring(
        VecSource(
            (0..100_000)
                .map(|i| rec(1 + i / 1_000, "a", "info", &format!("v={i}")))
                .collect(),
        ),
        std::cell::Cell::new(0),
    );
    let Expr::Metric(m) = parse(
        r#"quantile_over_time(0.9, {namespace="shop"} | logfmt | unwrap v [1000s]) by (app)"#,
    )
    .expect("parse") else {
        panic!("metric query expected")
    };
    let p = Params {
        start_ns: 101 * S,
        end_ns: 200 * S,
        step_ns: S,
        limits: CompileLimits::default(),
        max_samples: 1_000_000,
        points: Default::default(),
    };
    let e = eval(&m, &p, &src).expect_err("the deadline is noticed");
    assert_eq!(e.0, "deadline");
}

//! Tests of [`extract`]: one per rule, the Loghub level regression and property tests.

use super::*;
use proptest::prelude::*;

fn x(s: &str) -> Extracted {
    extract(s, &ExtractOptions::default())
}

fn fields(p: &[(&str, &str)]) -> BTreeMap<String, String> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn json_body_level_ids_and_flattened_fields() {
    let e = x(
        r#"{"ts":"2024-01-01T00:00:00Z","level":"ERROR","msg":"db down","request_id":"r-1","user":{"id":7,"name":"ann"},"userId":"u-7","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tags":["a","b"]}"#,
    );
    assert_eq!(e.level, Some(Level::Error));
    assert_eq!(e.request_id, "r-1");
    assert_eq!(e.user_id, "u-7");
    assert_eq!(e.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(
        e.fields,
        fields(&[
            ("user.id", "7"),
            ("user.name", "ann"),
            ("tags", r#"["a","b"]"#)
        ])
    );
}

#[test]
fn json_level_key_variants() {
    for (line, want) in [
        (r#"{"lvl":"warn","msg":"x"}"#, Level::Warn),
        (r#"{"severity":"CRITICAL"}"#, Level::Fatal),
        (r#"{"log.level":"debug"}"#, Level::Debug),
        (r#"{"log":{"level":"info"}}"#, Level::Info),
        (r#"{"levelname":"WARNING","name":"app"}"#, Level::Warn),
        (r#"{"level":50,"msg":"bunyan"}"#, Level::Error),
    ] {
        assert_eq!(x(line).level, Some(want), "{line}");
    }
    // A level key with a non-level value stays a field.
    let e = x(r#"{"level":"high","msg":"ERROR in text"}"#);
    assert_eq!(e.fields.get("level").map(String::as_str), Some("high"));
    assert_eq!(e.level, Some(Level::Error));
}

#[test]
fn logfmt_body() {
    let e = x(
        r#"ts=2024-01-01T00:00:00Z level=warn msg="slow query" req_id=abc uid=42 trace_id=t1 dur=1.2s"#,
    );
    assert_eq!(e.level, Some(Level::Warn));
    assert_eq!(
        (
            e.request_id.as_str(),
            e.user_id.as_str(),
            e.trace_id.as_str()
        ),
        ("abc", "42", "t1")
    );
    assert_eq!(e.fields, fields(&[("dur", "1.2s")]));
    // One pair is not logfmt: no fields, but the free-text id form still applies.
    let e = x("handled request_id=abc in 5ms");
    assert!(e.fields.is_empty());
    assert_eq!(e.request_id, "abc");
}

#[test]
fn free_text_ids_all_forms_and_aliases() {
    let e = x(
        r#"INFO checkout done requestId: R1 user_id="U1" {"x_request_id": "ignored", "traceId": "T1"}"#,
    );
    assert_eq!(e.level, Some(Level::Info));
    assert_eq!(e.request_id, "R1");
    assert_eq!(e.user_id, "U1");
    assert_eq!(e.trace_id, "T1");
    let e = x("GET /api traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    assert_eq!(e.trace_id, "0af7651916cd43dd8448eb211c80319c");
}

#[test]
fn configured_patterns_fill_missing_ids() {
    let opts = ExtractOptions {
        patterns: vec![Regex::new(r"rid#(?P<request_id>\w+) by (?P<user_id>\w+)").unwrap()],
        ..ExtractOptions::default()
    };
    let e = extract("order placed rid#A9 by bob", &opts);
    assert_eq!((e.request_id.as_str(), e.user_id.as_str()), ("A9", "bob"));
    // Keys win over patterns.
    let e = extract("rid#A9 by bob user_id=carol", &opts);
    assert_eq!((e.request_id.as_str(), e.user_id.as_str()), ("A9", "carol"));
}

#[test]
fn fields_are_bounded_in_count_and_size() {
    let opts = ExtractOptions {
        max_fields: 3,
        max_field_bytes: 8,
        ..ExtractOptions::default()
    };
    let e = extract("a=1 b=2 c=3 d=4 e=5 longvalue=0123456789abc", &opts);
    assert_eq!(e.fields, fields(&[("a", "1"), ("b", "2"), ("c", "3")]));
    let e = extract(r#"{"k":"0123456789é","request_id":"0123456789"}"#, &opts);
    assert_eq!(e.fields, fields(&[("k", "01234567")]));
    assert_eq!(e.request_id, "01234567");
}

#[test]
fn multiline_events_get_their_level() {
    let tb =
        "Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nValueError: bad";
    assert_eq!(x(tb).level, Some(Level::Error));
    assert_eq!(
        x("panic: nil map\n\ngoroutine 1 [running]:\nmain.main()").level,
        Some(Level::Fatal)
    );
    let j = "Exception in thread \"main\" java.lang.IllegalStateException: x\n\tat a.B.c(B.java:1)";
    assert_eq!(x(j).level, Some(Level::Error));
    // A known level wins over the Java marker.
    let j = "2024-01-01 10:00:00 WARN retrying\njava.io.IOException: Exception in thread pool\n\tat a.B.c(B.java:1)";
    assert_eq!(x(j).level, Some(Level::Warn));
}

/// Every line of the four Loghub 2k samples (`/work/shared/datasets/loghub`, copied into `testdata/` with the
/// `Level` column of `<X>_2k.log_structured.csv`) must get that level. Apache `notice` maps to `info`.
#[test]
fn loghub_levels_match_ground_truth() {
    let data = include_str!("testdata/loghub_levels.tsv");
    let opts = ExtractOptions::default();
    let mut checked = std::collections::BTreeMap::<&str, usize>::new();
    let mut wrong = Vec::new();
    for row in data.lines().filter(|l| !l.starts_with('#')) {
        let mut parts = row.splitn(3, '\t');
        let (Some(ds), Some(want), Some(line)) = (parts.next(), parts.next(), parts.next()) else {
            panic!("bad fixture row {row:?}");
        };
        let want = Level::parse(want);
        assert!(want.is_some(), "unknown ground-truth level in {row:?}");
        *checked.entry(ds).or_default() += 1;
        let got = extract(line, &opts).level;
        if got != want {
            wrong.push(format!("{ds}: want {want:?} got {got:?}: {line}"));
        }
    }
    assert_eq!(
        checked.into_iter().collect::<Vec<_>>(),
        vec![
            ("Apache", 2000),
            ("HDFS", 2000),
            ("Hadoop", 2000),
            ("Zookeeper", 2000)
        ]
    );
    assert!(
        wrong.is_empty(),
        "{} wrong, first: {:#?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
}

proptest! {
    #[test]
    fn extract_never_panics_on_arbitrary_text(s in "\\PC{0,300}") {
        let _ = x(&s);
    }

    #[test]
    fn extract_never_panics_on_structured_looking_text(
        s in r#"[{}\[\]":=, a-z0-9\\_.-]{0,200}"#
    ) {
        let e = x(&s);
        prop_assert!(e.fields.len() <= ExtractOptions::default().max_fields);
    }

    #[test]
    fn extract_never_panics_on_lossy_bytes(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        let s = String::from_utf8_lossy(&b);
        let _ = x(&s);
        let _ = x(&format!("{{\"level\":\"{s}\"}}"));
    }

    #[test]
    fn logfmt_roundtrip(pairs in proptest::collection::btree_map("[a-z][a-z0-9_]{0,8}", "[ -~]{0,12}", 2..6)) {
        let line: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        let mut out = Vec::new();
        let line = line.join(" ");
        prop_assert!(logfmt::parse_logfmt(&line, 100, &mut out));
        let got: BTreeMap<String, String> = out.into_iter().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        prop_assert_eq!(got, pairs);
    }
}

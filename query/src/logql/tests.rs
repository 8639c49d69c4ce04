//! LogQL corpus: queries from Loki's documentation that must parse, and malformed ones that must be refused with
//! a position.

use super::*;

const ACCEPTED: &[&str] = &[
    r#"{container="query-frontend",namespace="loki-dev"} |= "metrics.go" | logfmt | duration > 10s and throughput_mb < 500"#,
    r#"{job="varlogs"} |= "error" != "timeout""#,
    r#"{name=~"mysql.+"}"#,
    r#"{name=~"mysql.+", env!="dev"} |= "error""#,
    r#"{app="foo"} |~ "(?i)error""#,
    r#"{job="mysql"} |= "error" or "fail""#,
    r#"{job="varlogs"} | json | line_format "{{.message}}""#,
    r#"{cluster="ops-tools1", namespace="loki-dev", job="loki-dev/query-frontend"} |= "metrics.go" !="out of order" | logfmt | duration > 30s or status_code!="200""#,
    r#"{job="loki"} | logfmt | level="error" or (level="warn" and duration > 10s)"#,
    r#"{app="foo"} | json first_server="servers[0]", ua="request.headers[\"User-Agent\"]""#,
    r#"{job="nginx"} | pattern "<ip> - - <_> \"<method> <uri> <_>\" <status> <size> <_> \"<agent>\" <_>""#,
    r#"{job="x"} | regexp "(?P<method>\\w+) (?P<path>[\\w|/]+) \\((?P<status>\\d+?)\\) (?P<duration>.*)""#,
    r#"{app="x"} | label_format foo=bar, baz="{{.qux}}""#,
    r#"{app="x"} | drop level, method="GET""#,
    r#"{app="x"} | keep level, status"#,
    r#"{app="x"} | logfmt --strict"#,
    r#"{app="x"} | logfmt --keep-empty --strict host, status="response.status""#,
    r#"{app="x"} | unpack"#,
    r#"{app="x"} | decolorize"#,
    r#"{app="x"} | json | status >= 400 and status < 500"#,
    r#"{app="x"} | logfmt | size > 20KB"#,
    r#"{app="x"} | json | level=~"err.*|fatal""#,
    r#"{job="varlogs"} |> "<_> error <_>""#,
    r#"{namespace="samplemind-production", app="backend"}"#,
    r#"{service_name="backend", detected_level="error"} | request_id="abc-123""#,
    r#"{app="x"} | json | __error__="""#,
    r#"{app="x"} | json | latency_ms > -1 , status != 200"#,
    r#"count_over_time({job="mysql"}[5m])"#,
    r#"sum by (host) (rate({job="mysql"} |= "error" != "timeout" | json | duration > 10s [1m]))"#,
    r#"topk(10,sum(rate({region="us-east1"}[5m])) by (name))"#,
    r#"avg(rate(({job="nginx"} |= "GET")[10s])) by (region)"#,
    r#"sum by (org_id) (sum_over_time({cluster="ops-tools1",container="loki-dev"} |= "metrics.go" | logfmt | unwrap bytes_processed [1m]))"#,
    r#"quantile_over_time(0.99, {cluster="ops-tools1",container="ingress-nginx"} | json | __error__ = "" | unwrap request_time [1m]) by (path)"#,
    r#"sum(count_over_time({foo="bar"}[5m])) by (level)"#,
    r#"sum(rate({app="foo"}[1m])) / sum(rate({app="bar"}[1m]))"#,
    r#"count_over_time({app="foo"}[1m]) > 10"#,
    r#"sum(rate({app="foo"}[1m])) > bool 1"#,
    r#"vector(1)+vector(1)"#,
    r#"1 + 1 * 2 ^ 3 ^ 2"#,
    r#"rate({app="x"}[5m] offset 1h)"#,
    r#"count_over_time({app="x"}[5m] |= "err")"#,
    r#"sum without (instance) (rate({app="x"}[5m]))"#,
    r#"bytes_over_time({app="x"}[1m]) + bytes_rate({app="x"}[1m])"#,
    r#"sum_over_time({app="x"} | logfmt | unwrap duration(latency) [5m])"#,
    r#"max_over_time({app="x"} | json | unwrap bytes(size) | __error__="" [5m]) by (pod)"#,
    r#"label_replace(rate({job="api-server",service="a:c"} |= "err" [5m]), "foo", "$1", "service", "(.*):.*")"#,
    r#"sort_desc(sum by (app) (count_over_time({namespace="a"}[1h])))"#,
    r#"sum by (app) (count_over_time({namespace="a"}[1h])) / on (app) sum by (app) (count_over_time({namespace="a"}[1h]))"#,
    r#"-sum(rate({app="x"}[1m]))"#,
    "{app=\"x\"} # a comment\n |= \"y\"",
    // From Loki's "Log queries", "Metric queries" and "Template functions" documentation pages.
    r#"{job="mysql"} |= "error" | json | line_format "{{.err}}""#,
    r#"{app="x"} | line_format "{{ .path | replace \" \" \"_\" | trunc 5 | upper }}""#,
    r#"{app="x"} | line_format "{{ __line__ | lower }}""#,
    r#"{app="x"} | line_format `{{ __timestamp__ | date "2006-01-02T15:04:05.00Z-07:00" }}`"#,
    r#"{app="x"} | line_format `{{ __timestamp__ | unixEpoch }}`"#,
    r#"{app="x"} | line_format `{{ if and (contains "he" "hello") (contains "llo" "hello") }} yes {{end}}`"#,
    r#"{app="x"} | line_format `{{ if contains .err "ErrTimeout" }} timeout {{else if contains "he" "hello"}} yes {{else}} no {{end}}`"#,
    r#"{app="x"} | label_format dst="{{ .src | ToUpper }}""#,
    r#"{app="x"} | line_format "{{.request_method | ToLower}}""#,
    r#"{app="x"} | line_format `{{ regexReplaceAll "(a*)bc" .some_label "${1}a" }}`"#,
    r#"{app="x"} | line_format `{{ printf "The IP address was %s" "10.0.0.1" }}`"#,
    r#"{app="x"} | line_format `{{ .path | trimPrefix "/" | default "root" }}`"#,
    r#"{cluster="ops-tools1", name="querier", namespace="loki-dev"} |= "metrics.go" != "loki-canary" | logfmt | query != "" | label_format query="{{ Replace .query \"\\n\" \"\" -1 }}" | line_format "{{ .ts}}\t{{.duration}}\ttraceID = {{.traceID}}\t{{ printf \"%-100.100s\" .query }} ""#,
    r#"{job="varlogs"} | json | line_format "{{.message}}" | logfmt"#,
    r#"{app="x"} | logfmt | duration >= 20ms or size == 20kb and method!~"2..""#,
    r#"{app="x"} | logfmt | duration >= 20ms or (method="GET" and size <= 20KB)"#,
    r#"{app="x"} | regexp `(?P<ip>\d+\.\d+\.\d+\.\d+)`"#,
    r#"{app="x"} |~ `\d+` != `debug`"#,
    r#"{job="mysql"} |= "error" |= "timeout" | logfmt | level != "debug""#,
    r#"{job="x"} | json | __error__ != "JSONParserErr""#,
    r#"{job="x"} | logfmt | __error__="" | line_format "{{.msg}}""#,
    r#"sum(count_over_time({job="x"}[1m] offset 5m))"#,
    r#"topk(5, sum by (name) (rate({region="us-east1"}[5m])))"#,
    r#"bottomk(3, sum by (app) (bytes_rate({namespace="a"}[5m])))"#,
    r#"avg_over_time({container="ingress-nginx",service="hosted-grafana"} | json | unwrap response_latency_seconds | __error__="" [1m]) by (cluster)"#,
    r#"min_over_time({app="x"} | logfmt | unwrap duration(took) [5m]) by (pod)"#,
    r#"stddev_over_time({app="x"} | logfmt | unwrap latency [5m])"#,
    r#"stdvar_over_time({app="x"} | logfmt | unwrap latency [5m])"#,
    r#"first_over_time({app="x"} | logfmt | unwrap latency [5m]) by (pod)"#,
    r#"last_over_time({app="x"} | logfmt | unwrap latency [5m]) by (pod)"#,
    r#"rate({app="x"} | logfmt | unwrap bytes(size) [1m])"#,
    r#"sum(rate({app="foo", level="warn"}[1m])) / sum(rate({app="foo", level="error"}[1m]))"#,
    r#"sum by (app) (rate({app="a"}[1m])) and sum by (app) (rate({app="a"}[1m])) > 1"#,
    r#"sum by (app) (rate({app="a"}[1m])) or vector(0)"#,
    r#"sum by (app) (rate({app="a"}[1m])) unless on (app) sum by (app) (rate({app="b"}[1m]))"#,
    r#"count(sum by (cluster) (rate({a="b"}[1m])))"#,
    r#"max by (app) (count_over_time({a="b"}[1m])) * 2"#,
    r#"sum by (level) (count_over_time({job="x"} | logfmt | detected_level="error" [1m]))"#,
    r#"sum(count_over_time({job="x"} |= "error" [5m])) by (job) / sum(count_over_time({job="x"}[5m])) by (job) * 100"#,
];

const REJECTED: &[(&str, &str)] = &[
    (r#"{}"#, "at least one matcher"),
    (r#"{app=""}"#, "empty-compatible"),
    (r#"{app!="x"}"#, "empty-compatible"),
    (r#"{app="x""#, "expected ',' or '}'"),
    (r#"{app="x} "#, "unterminated string"),
    (r#"{app="x"} |= "#, "expected a quoted string"),
    (r#"{app="x"} | unknownstage"#, "unknown pipeline stage"),
    (
        r#"count_over_time({app="x"})"#,
        "expected a range like [5m]",
    ),
    (
        r#"rate({app="x"}[5x])"#,
        "invalid number, duration or bytes literal",
    ),
    (
        r#"sum_over_time({app="x"}[5m])"#,
        "needs an unwrapped label",
    ),
    (
        r#"count_over_time({app="x"} | unwrap foo [5m])"#,
        "unwrap is only valid",
    ),
    (
        r#"{app="x"} + 1"#,
        "log query cannot be used in a binary operation",
    ),
    (
        r#"sum(rate({app="x"}[5m])) by"#,
        "'(' starting a label list",
    ),
    (r#"topk(rate({app="x"}[5m]))"#, "k (a number)"),
    (
        r#"{app="x"} | json | status >"#,
        "a quoted string (with = or !=), a number",
    ),
    (r#"{app="x"} | logfmt --foo"#, "unknown logfmt flag"),
    (r#"vector("a")"#, "expected a number"),
    (r#"1 +"#, "a stream selector"),
    (r#"{app="x"} {app="y"}"#, "end of query"),
    (r#"foo({app="x"}[5m])"#, "unknown function"),
    (r#"{app="x"} | json | status =~ 5"#, "a quoted regex"),
    (r#"{app "x"}"#, "one of = != =~ !~"),
    (r#"sum by (app) count_over_time({a="b"}[1m])"#, "'('"),
    (r#"{app="x"} | line_format"#, "a quoted template"),
    (r#"{app="x"} | json | unwrap"#, "unwrap"),
    (r#"rate({app="x"}[5m]"#, "')'"),
    (r#"sum(rate({app="x"}[5m])) by (app"#, "')'"),
    (
        r#"{app="x"} |= "a" |"#,
        "a parser, formatter or label filter",
    ),
    (r#"{app="x"} | label_format"#, "label"),
    (r#"quantile_over_time({app="x"} | unwrap v [5m])"#, "number"),
];

#[test]
fn documented_queries_parse() {
    for q in ACCEPTED {
        if let Err(e) = parse(q) {
            panic!("query should parse: {q}\n  {e}");
        }
    }
}

#[test]
fn malformed_queries_are_refused_with_position_and_expectation() {
    for (q, expected) in REJECTED {
        match parse(q) {
            Ok(e) => panic!("query should be refused: {q}\n  parsed as {e:?}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(expected),
                    "query {q}: error {msg:?} should mention {expected:?}"
                );
                assert!(msg.starts_with("parse error at line 1, col "), "{msg}");
                assert!(e.pos <= q.len());
            }
        }
    }
}

#[test]
fn non_ascii_after_a_number_is_an_error_not_a_panic() {
    // Found by proptest: a multi-byte char after digits used to be sliced mid-char.
    for q in [
        "0\u{80}",
        "1\u{b5}",
        "rate({a=\"b\"}[5\u{80}])",
        "{a=\"b\"} | x > 1\u{c2}",
    ] {
        assert!(parse(q).is_err(), "{q:?}");
    }
    assert!(parse(r#"rate({a="b"}[500µs])"#).is_ok());
}

#[test]
fn error_position_points_at_the_problem() {
    let q = r#"{app="x"} | json | status >"#;
    let e = parse(q).expect_err("incomplete");
    assert_eq!(e.col, q.len() + 1);
    let e = parse("{app=\"x\"}\n | bogus").expect_err("bad stage");
    assert_eq!((e.line, e.col), (2, 4));
}

#[test]
fn precedence_follows_prometheus() {
    // 1 + 2 * 3 ^ 2 = 1 + (2 * (3 ^ 2))
    let Expr::Metric(MetricExpr::Binary { op, rhs, .. }) = parse("1 + 2 * 3 ^ 2").expect("parse")
    else {
        panic!("binary expected");
    };
    assert_eq!(op, BinOp::Add);
    let MetricExpr::Binary { op, rhs, .. } = *rhs else {
        panic!("nested binary expected");
    };
    assert_eq!(op, BinOp::Mul);
    assert!(matches!(*rhs, MetricExpr::Binary { op: BinOp::Pow, .. }));
}

#[test]
fn selector_and_pipeline_shapes() {
    let l = parse_log(r#"{namespace="a", app=~"b|c"} |= "x" or "y" | json | level="error" | line_format "{{.msg}}""#)
        .expect("parse");
    assert_eq!(l.selector.len(), 2);
    assert_eq!(l.selector[1].op, MatchOp::Re);
    assert_eq!(
        l.pipeline[0],
        Stage::LineFilter {
            op: LineOp::Contains,
            values: vec!["x".into(), "y".into()]
        }
    );
    assert_eq!(l.pipeline[1], Stage::Json(vec![]));
    assert!(
        matches!(&l.pipeline[2], Stage::LabelFilter(LabelFilter::String(m)) if m.name == "level")
    );
    assert_eq!(l.pipeline[3], Stage::LineFormat("{{.msg}}".into()));
}

#[test]
fn range_forms() {
    let Expr::Metric(MetricExpr::Range {
        range_ns,
        offset_ns,
        log,
        ..
    }) = parse(r#"count_over_time({app="x"}[5m] |= "err" offset 1h)"#)
        .or_else(|_| parse(r#"count_over_time({app="x"} |= "err" [5m] offset 1h)"#))
        .expect("parse")
    else {
        panic!("range expected");
    };
    assert_eq!(range_ns, 300_000_000_000);
    assert_eq!(offset_ns, 3_600_000_000_000);
    assert_eq!(log.pipeline.len(), 1);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // Each of these recursed once per character before the depth limit; 200,000 levels overflowed the stack.
    let n = 200_000;
    for q in [
        format!("{}1", "-".repeat(n)),
        format!("{}1", "+".repeat(n)),
        "(".repeat(n),
        format!("1{}", "^1".repeat(n)),
        format!(r#"{{a="b"}} | {}x="1""#, "(".repeat(n)),
    ] {
        let e = parse(&q).expect_err("refused");
        assert!(e.message.contains("nested too deeply"), "{e}");
    }
    // Reasonable nesting still parses (and evaluates the same as without it).
    let q = format!("{}1{}", "(".repeat(60), ")".repeat(60));
    assert!(matches!(
        parse(&q).expect("60 levels"),
        Expr::Metric(MetricExpr::Literal(v)) if v == 1.0
    ));
    let q = format!(r#"{{a="b"}} | {}x="1"{}"#, "(".repeat(100), ")".repeat(100));
    parse(&q).expect("100 levels of label filter");
}

#[test]
fn operator_chains_are_bounded() {
    use crate::logql::parser::MAX_OPERATORS;
    // Each operator of a chain is one more level of the tree that evaluation and drop walk recursively.
    let chain = |n: usize| format!("1{}", "*1".repeat(n));
    parse(&chain(MAX_OPERATORS)).expect("at the limit");
    let e = parse(&chain(MAX_OPERATORS + 1)).expect_err("over the limit");
    assert!(e.message.contains("operators"), "{e}");
    let e = parse(&chain(100_000)).expect_err("far over the limit");
    assert!(e.message.contains("operators"), "{e}");
    // The pipeline stage counts too: 1 + n (an equality matcher of the selector does not).
    let filters =
        |n: usize, sep: &str| format!(r#"{{a="b"}} | x="1"{}"#, format!(r#"{sep}x="1""#).repeat(n));
    for sep in [", ", " and ", " or "] {
        parse(&filters(MAX_OPERATORS - 1, sep)).expect("at the limit");
        let e = parse(&filters(MAX_OPERATORS, sep)).expect_err("over");
        assert!(e.message.contains("pipeline stages"), "{sep}: {e}");
    }
    // So does every line filter and alternative, each of which may compile a regex.
    let regexes = |n: usize| format!(r#"{{a="b"}}{}"#, r#" |~ "a""#.repeat(n));
    parse(&regexes(MAX_OPERATORS)).expect("at the limit");
    assert!(parse(&regexes(MAX_OPERATORS + 1)).is_err());
    let alternatives = |n: usize| format!(r#"{{a="b"}} |~ "a"{}"#, r#" or "a""#.repeat(n));
    parse(&alternatives(MAX_OPERATORS - 1)).expect("at the limit");
    assert!(parse(&alternatives(MAX_OPERATORS)).is_err());
    let matchers = |n: usize| format!("{{{}}}", vec![r#"a=~"b""#; n].join(","));
    parse(&matchers(MAX_OPERATORS)).expect("at the limit");
    assert!(parse(&matchers(MAX_OPERATORS + 1)).is_err());
    // Equality matchers compile nothing: a pushed stream's 1,000 labels parse.
    let labels: Vec<String> = (0..1000).map(|i| format!(r#"l{i}="v""#)).collect();
    parse(&format!("{{{}}}", labels.join(","))).expect("equalities");
    let drops = |n: usize| format!(r#"{{a="b"}} | drop {}"#, vec![r#"a=~"a""#; n].join(","));
    parse(&drops(MAX_OPERATORS - 1)).expect("at the limit");
    assert!(parse(&drops(MAX_OPERATORS)).is_err());
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in ".{0,80}") {
            let _ = parse(&s);
        }

        #[test]
        fn arbitrary_logql_shaped_input_never_panics(s in r#"[{}()\[\]|=~!<>"a-z0-9 ,.+*/^-]{0,60}"#) {
            let _ = parse(&s);
        }
    }
}

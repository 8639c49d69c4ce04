//! The `logmind` CLI as a user runs it, against a real indexer fed by a real agent: exit codes (0 found,
//! 1 not found, 2 usage/server error), table and JSON output, `config check`, and every `--help`.

use crate::common;

use common::*;
use serde_json::Value;
use std::process::Output;
use std::time::Duration;

/// One indexer + agent + generated workload shared by the server checks below.
struct Fixture {
    base: String,
    manifest: logmind_workload::Manifest,
    _procs: Vec<Proc>,
    _scratch: Scratch,
}

fn fixture() -> Fixture {
    let s = Scratch::new();
    let manifest = generate(&s.host(), &["--events", "3000", "--start", "now-30m"]);
    let http = Http::new();
    let indexer = Indexer::start(&http, &s.index(), 0, &s.logs());
    let agent = start_agent(&indexer.base, &s.agent(), &s.host(), &s.logs());
    wait_docs(
        &http,
        &indexer.base,
        manifest.totals.events - manifest.deleted.events,
        Duration::from_secs(60),
    );
    Fixture {
        base: indexer.base.clone(),
        manifest,
        _procs: vec![indexer.proc, agent],
        _scratch: s,
    }
}

impl Fixture {
    fn cli(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--server", self.base.as_str()]);
        run(&all)
    }
}

/// A named check against the shared fixture.
type Check = (&'static str, fn(&Fixture));

/// The checks that need a server share one indexer (started once): each runs, and every failure is reported.
#[test]
fn cli_against_a_running_indexer() {
    let f = fixture();
    let checks: &[Check] = &[
        (
            "trace_of_an_existing_request_prints_its_events",
            trace_of_an_existing_request_prints_its_events,
        ),
        (
            "trace_of_a_missing_request_exits_1",
            trace_of_a_missing_request_exits_1,
        ),
        (
            "server_error_exits_2_with_the_servers_message",
            server_error_exits_2_with_the_servers_message,
        ),
        ("json_and_ndjson_output_parse", json_and_ndjson_output_parse),
        ("errors_top_5_prints_a_table", errors_top_5_prints_a_table),
        ("other_query_commands_exit_0", other_query_commands_exit_0),
    ];
    let mut failed = Vec::new();
    for (name, check) in checks {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&f))).is_err() {
            failed.push(*name);
        }
    }
    assert!(
        failed.is_empty(),
        "failed CLI checks (messages above): {failed:?}"
    );
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn trace_of_an_existing_request_prints_its_events(f: &Fixture) {
    let q = f
        .manifest
        .requests
        .iter()
        .find(|r| r.events.len() >= 3)
        .expect("a request with 3+ events");
    let o = f.cli(&["trace", &q.request_id, "--since", "2h"]);
    let out = text(&o.stdout);
    assert_eq!(code(&o), 0, "stdout:\n{out}\nstderr:\n{}", text(&o.stderr));
    assert!(out.contains(&q.request_id), "names the request:\n{out}");
    for e in &q.events {
        let head: String = e.first_line.chars().take(60).collect();
        assert!(out.contains(&head), "prints the event {head:?}:\n{out}");
    }
}

fn trace_of_a_missing_request_exits_1(f: &Fixture) {
    let o = f.cli(&["trace", "no-such-request-0000", "--since", "2h"]);
    assert_eq!(code(&o), 1, "stderr: {}", text(&o.stderr));
}

fn server_error_exits_2_with_the_servers_message(f: &Fixture) {
    let o = f.cli(&["trace", "whatever", "--from", "not-a-time"]);
    let err = text(&o.stderr);
    assert_eq!(code(&o), 2, "stderr: {err}");
    assert!(err.contains("400"), "reports the status: {err}");
    assert!(
        err.contains("not-a-time"),
        "carries the server's message naming the bad value: {err}"
    );
}

fn json_and_ndjson_output_parse(f: &Fixture) {
    let q = &f.manifest.requests[0];
    let o = f.cli(&["trace", &q.request_id, "--since", "2h", "--output", "json"]);
    assert_eq!(code(&o), 0, "stderr: {}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).expect("trace --output json is JSON");
    assert_eq!(
        v["events"].as_array().map(Vec::len),
        Some(q.events.len()),
        "trace JSON carries every event"
    );

    let o = f.cli(&["errors", "--top", "5", "--since", "2h", "--output", "json"]);
    assert_eq!(code(&o), 0, "stderr: {}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).expect("errors --output json is JSON");
    assert_eq!(v["groups"].as_array().map(Vec::len), Some(5));

    let o = f.cli(&[
        "search", "--since", "2h", "--limit", "7", "--output", "ndjson",
    ]);
    assert_eq!(code(&o), 0, "stderr: {}", text(&o.stderr));
    let lines: Vec<Value> = text(&o.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("each ndjson line is JSON"))
        .collect();
    assert_eq!(lines.len(), 7, "search --limit 7 --output ndjson");
}

fn errors_top_5_prints_a_table(f: &Fixture) {
    let o = f.cli(&["errors", "--top", "5", "--since", "2h"]);
    let out = text(&o.stdout);
    assert_eq!(code(&o), 0, "stderr: {}", text(&o.stderr));
    let lines: Vec<&str> = out.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.contains("COUNT") && l.contains("TEMPLATE"))
        .unwrap_or_else(|| panic!("a table header:\n{out}"));
    let rows: Vec<&&str> = lines[header + 1..]
        .iter()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(rows.len(), 5, "five rows:\n{out}");
    // The largest group's count leads the first row (the manifest's most frequent template).
    let top = f.manifest.error_templates[0].count.to_string();
    assert!(
        rows[0].split_whitespace().next() == Some(top.as_str()),
        "first row starts with the top count {top}:\n{out}"
    );
}

fn other_query_commands_exit_0(f: &Fixture) {
    let user = f.manifest.users.keys().next().expect("a user").clone();
    for args in [
        vec!["user", user.as_str(), "--since", "2h"],
        vec!["count", "--by", "app", "--since", "2h"],
        vec!["search", "timeout", "--since", "2h", "--limit", "5"],
    ] {
        let o = f.cli(&args);
        assert_eq!(
            code(&o),
            0,
            "logmind {args:?}: stdout {} stderr {}",
            text(&o.stdout),
            text(&o.stderr)
        );
        assert!(!o.stdout.is_empty(), "logmind {args:?} printed something");
    }
}

#[test]
fn config_check_rejects_a_bad_file_naming_the_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[indexer.retention]\nperiod = \"7x\"\nno_such_key = 1\n",
    )
    .expect("write");
    let o = run(["config", "check", &file.display().to_string()]);
    let err = text(&o.stderr);
    assert_eq!(code(&o), 2, "stderr: {err}");
    assert!(err.contains("no_such_key"), "names the unknown key: {err}");
    assert!(
        err.contains("indexer.retention.period") && err.contains("7x"),
        "names the bad period: {err}"
    );
}

#[test]
fn config_check_of_the_example_never_prints_a_token() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/logmind.example.toml");
    let secret = "tok-e2e-Zq81xW9sVv3";
    let o = logmind()
        .args(["config", "check", example])
        .env("LOGMIND_AUTH_INGEST_TOKENS", secret)
        .output()
        .expect("run");
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(code(&o), 0, "stderr: {err}");
    assert!(
        out.contains("ingest_tokens"),
        "prints the effective config:\n{out}"
    );
    assert!(
        !out.contains(secret) && !err.contains(secret),
        "the token value leaked:\n{out}\n{err}"
    );
}

#[test]
fn every_help_exits_0() {
    let commands: &[&[&str]] = &[
        &[],
        &["demo"],
        &["up"],
        &["indexer"],
        &["agent"],
        &["generate"],
        &["trace"],
        &["user"],
        &["errors"],
        &["count"],
        &["search"],
        &["tail"],
        &["query"],
        &["config"],
        &["config", "check"],
        &["retention"],
        &["retention", "run"],
        &["snapshot"],
        &["snapshot", "create"],
        &["snapshot", "restore"],
    ];
    for c in commands {
        let mut args: Vec<&str> = c.to_vec();
        args.push("--help");
        let o = run(&args);
        assert_eq!(
            code(&o),
            0,
            "logmind {args:?} exited {:?}: {}",
            o.status,
            text(&o.stderr)
        );
        assert!(
            text(&o.stdout).contains("Usage"),
            "logmind {args:?} prints usage"
        );
    }
}

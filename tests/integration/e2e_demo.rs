//! `logmind demo` end to end: it starts, serves `/health` and the Loki labels API with the workload's labels,
//! prints what to try next, and exits 0 by itself after `--duration`.

use crate::common;

use common::*;
use std::time::{Duration, Instant};

#[test]
fn demo_serves_health_and_loki_labels_then_exits_0_by_itself() {
    let s = Scratch::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = Http::new();
    let mut demo = Proc::spawn(
        "demo",
        &[
            "demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--duration",
            "8s",
            "--data-dir",
            &s.dir.path().join("demo").display().to_string(),
        ],
        &s.logs(),
    );
    let t0 = Instant::now();
    wait_healthy(&http, &base, &mut demo, Duration::from_secs(30));

    // The labels appear once the agent has shipped the first lines (bounded wait).
    let mut labels = serde_json::Value::Null;
    while t0.elapsed() < Duration::from_secs(30) {
        if let Ok((200, body)) = http.get_text(&format!("{base}/loki/api/v1/labels")) {
            labels = serde_json::from_str(&body).unwrap_or_default();
            let names: Vec<&str> = labels["data"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            if names.contains(&"app") && names.contains(&"namespace") {
                break;
            }
        }
        demo.assert_running();
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(labels["status"], "success", "labels answer: {labels}");
    let names: Vec<&str> = labels["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    assert!(
        names.contains(&"app") && names.contains(&"namespace"),
        "/loki/api/v1/labels lists app and namespace: {labels}"
    );

    let status = demo
        .wait_exit(Duration::from_secs(40))
        .unwrap_or_else(|| panic!("demo still running 40s after start:\n{}", demo.output()));
    let out = demo.output();
    assert!(status.success(), "demo exited with {status}:\n{out}");
    assert!(
        out.contains("logmind demo is running"),
        "demo prints what to try next:\n{out}"
    );
}

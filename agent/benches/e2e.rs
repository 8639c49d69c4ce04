//! End-to-end benchmark: a real agent process (`logmind-agent-test`) tails CRI and Docker files and ships to an
//! in-process receiver (lz4 + dedup by sequence, counts lines). Reports bytes/s of wall time, bytes per
//! CPU-second of the agent process (= per core), and the agent's peak RSS (VmHWM) — also while tailing 1,000
//! files. Sizes: `LOGMIND_BENCH_MB` (default 128) and `LOGMIND_BENCH_FILES` (the many-files case, default 1,000
//! files of 32 KiB).

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use parking_lot::Mutex;

#[derive(Default)]
struct Recv {
    seen: Mutex<HashSet<(String, u64)>>,
    lines: AtomicU64,
    /// NDJSON bytes received (decompressed) and their lz4 frames' bytes.
    ndjson: AtomicU64,
    lz4: AtomicU64,
}

async fn ingest(State(s): State<Arc<Recv>>, h: HeaderMap, body: Bytes) -> String {
    let seq: u64 = h
        .get("x-logmind-batch")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let agent = h
        .get("x-logmind-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let raw = logmind_protocol::lz4_decompress(&body, 256 << 20).unwrap();
    let n = memchr::memchr_iter(b'\n', &raw).count() as u64;
    if s.seen.lock().insert((agent, seq)) {
        s.lines.fetch_add(n, Ordering::Relaxed);
        s.ndjson.fetch_add(raw.len() as u64, Ordering::Relaxed);
        s.lz4.fetch_add(body.len() as u64, Ordering::Relaxed);
        format!(r#"{{"accepted":{n},"duplicate":false}}"#)
    } else {
        r#"{"accepted":0,"duplicate":true}"#.to_string()
    }
}

fn line(docker: bool, i: u64) -> String {
    let msg = match i % 4 {
        0 => format!("level=info msg=\"request served\" request_id=req-{i} user_id=u{} path=/api/v1/items status=200 duration_ms={}", i % 977, i % 300),
        1 => format!("{{\"level\":\"error\",\"msg\":\"payment failed\",\"request_id\":\"req-{i}\",\"user_id\":\"u{}\",\"code\":502}}", i % 977),
        2 => format!("2024-05-01 10:00:00,123 INFO [worker-{}] processed batch {i} in 12ms", i % 8),
        _ => format!("GET /api/v1/items/{i} HTTP/1.1 200 512 \"-\" \"curl/8.0\" request_id=req-{i}"),
    };
    let ts = format!(
        "2024-05-01T10:{:02}:{:02}.{:09}Z",
        i / 60_000_000 % 60,
        i / 1_000_000 % 60,
        i % 1_000_000_000
    );
    if docker {
        let esc = msg.replace('\\', "\\\\").replace('"', "\\\"");
        format!("{{\"log\":\"{esc}\\n\",\"stream\":\"stdout\",\"time\":\"{ts}\"}}\n")
    } else {
        format!("{ts} stdout F {msg}\n")
    }
}

/// Writes `files` files of about `bytes_each`; returns (bytes, lines).
fn generate(root: &Path, docker: bool, files: usize, bytes_each: usize) -> (u64, u64) {
    let (mut bytes, mut lines) = (0u64, 0u64);
    let mut i = 0u64;
    for f in 0..files {
        let path = if docker {
            let id = format!("{f:064x}");
            let d = root.join(format!("var/lib/docker/containers/{id}"));
            fs::create_dir_all(&d).unwrap();
            d.join(format!("{id}-json.log"))
        } else {
            let d = root.join(format!("var/log/pods/bench_app-{f}-x1y2z_00{f}/app"));
            fs::create_dir_all(&d).unwrap();
            d.join("0.log")
        };
        let mut w = std::io::BufWriter::new(fs::File::create(path).unwrap());
        let mut written = 0;
        while written < bytes_each {
            let l = line(docker, i);
            i += 1;
            w.write_all(l.as_bytes()).unwrap();
            written += l.len();
            lines += 1;
        }
        bytes += written as u64;
        w.flush().unwrap();
    }
    (bytes, lines)
}

fn spawn(server: &str, data: &Path, root: &Path, agent: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_logmind-agent-test"))
        .args(["--server", server, "--agent-id", agent])
        .arg("--data-dir")
        .arg(data)
        .arg("--host-root")
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// (user, system) cpu seconds and peak RSS KiB of a process.
fn proc_usage(pid: u32) -> (f64, f64, u64) {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> f64 {
        f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) as f64 / 100.0
    };
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    (ticks(11), ticks(12), hwm)
}

/// Wall seconds of `grep -rc ERROR` over the generated tree, the best of three (the files are in the page cache
/// after the first): a same-run baseline, since absolute speeds drift between machines and runs.
fn grep_baseline(root: &Path) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            let out = Command::new("grep")
                .args(["-rc", "ERROR"])
                .arg(root)
                .stdout(Stdio::null())
                .status();
            assert!(out.is_ok(), "grep: {out:?}");
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

async fn run_case(
    name: &str,
    recv: &Arc<Recv>,
    url: &str,
    docker: bool,
    files: usize,
    bytes_each: usize,
) {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (bytes, lines) = generate(root.path(), docker, files, bytes_each);
    let grep = grep_baseline(root.path());
    let base = recv.lines.load(Ordering::Relaxed);
    let (ndjson0, lz40) = (
        recv.ndjson.load(Ordering::Relaxed),
        recv.lz4.load(Ordering::Relaxed),
    );
    let started = Instant::now();
    let mut child = spawn(url, data.path(), root.path(), name);
    let deadline = started + Duration::from_secs(600);
    while recv.lines.load(Ordering::Relaxed) - base < lines && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = started.elapsed().as_secs_f64();
    let (user, sys, hwm) = proc_usage(child.id());
    let cpu = user + sys;
    let got = recv.lines.load(Ordering::Relaxed) - base;
    let ndjson = (recv.ndjson.load(Ordering::Relaxed) - ndjson0) as f64;
    let lz4 = (recv.lz4.load(Ordering::Relaxed) - lz40) as f64;
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "{name}: {files} files, {:.1} MB, {lines} lines (received {got}) in {wall:.2}s wall: {:.1} MB/s wall, \
         agent cpu {cpu:.2}s (user {user:.2}, system {sys:.2}) => {:.1} MB/s per core; peak RSS {:.1} MiB; \
         baseline grep -rc ERROR {:.0} MB/s (agent per core = {:.3}x grep); shipped {:.1} MB of NDJSON ({:.2}x the \
         input) as {:.1} MB of lz4 ({:.2}x the input)",
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / wall,
        bytes as f64 / 1e6 / cpu.max(0.01),
        hwm as f64 / 1024.0,
        bytes as f64 / 1e6 / grep,
        grep / cpu.max(0.01),
        ndjson / 1e6,
        ndjson / (bytes as f64).max(1.0),
        lz4 / 1e6,
        lz4 / (bytes as f64).max(1.0),
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("e2e: bench");
        return;
    }
    let mb: usize = std::env::var("LOGMIND_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let recv = Arc::new(Recv::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/api/v1/ingest", post(ingest))
            .with_state(recv.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        run_case("cri", &recv, &url, false, 4, mb << 18).await;
        run_case("docker", &recv, &url, true, 4, mb << 18).await;
        let files: usize = std::env::var("LOGMIND_BENCH_FILES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        let name = format!("cri-{files}-files");
        run_case(&name, &recv, &url, false, files, 32 << 10).await;
    });
}

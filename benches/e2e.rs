//! End-to-end throughput: `logmind generate` writes N MB of Kubernetes CRI and Docker json-file logs once;
//! each iteration starts a fresh `logmind indexer` and `logmind agent` as real processes and measures the wall
//! time from the agent's start until the indexer has every event searchable. Reports MB/s (criterion
//! throughput) and, at the end, MB/s per core of the machine and MB per CPU-second actually spent by the two
//! processes. Baseline in the same run: `rg -c ERROR` over the same files (skipped when `rg` is missing).
//!
//! `LOGMIND_BENCH_MB` (default 16) sets the workload size. Run: `cargo bench --bench e2e`.

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_logmind");

/// A child killed on drop.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Kill {
    /// CPU seconds (user + system) the process used so far (Linux `/proc`, 100 ticks/s), 0 elsewhere.
    fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.0.id())).unwrap_or_default();
        // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let tick = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
        (tick(11) + tick(12)) / 100.0
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn spawn(args: &[&str], log: &Path) -> Kill {
    let out = std::fs::File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    Kill(
        Command::new(BIN)
            .args(args)
            .env("LOGMIND_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn logmind"),
    )
}

struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    fn get(&self, url: &str) -> Option<serde_json::Value> {
        self.rt.block_on(async {
            let r = self.client.get(url).send().await.ok()?;
            if !r.status().is_success() {
                return None;
            }
            r.json().await.ok()
        })
    }
}

/// The generated workload.
struct Workload {
    _dir: tempfile::TempDir,
    root: PathBuf,
    events: u64,
    bytes: u64,
}

fn workload() -> Workload {
    let mb: u64 = std::env::var("LOGMIND_BENCH_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("host");
    // ~200 bytes per event in the generated mix.
    let events = (mb * 5_000).to_string();
    let status = Command::new(BIN)
        .args(["generate", "--root"])
        .arg(&root)
        .args(["--events", &events, "--start", "now-30m", "-q"])
        .stderr(Stdio::null())
        .status()
        .expect("run generate");
    assert!(status.success(), "generate failed");
    let m: logmind_workload::Manifest =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).expect("manifest"))
            .expect("parse manifest");
    Workload {
        _dir: dir,
        root,
        events: m.totals.events - m.deleted.events,
        bytes: m.totals.bytes,
    }
}

/// What one run measured.
#[derive(Clone, Copy)]
struct Run {
    /// From the agent's start until every event is searchable.
    wall: Duration,
    /// CPU seconds of the agent process.
    agent_cpu: f64,
    /// CPU seconds of the indexer process over the same span.
    indexer_cpu: f64,
    /// Bytes of the index partitions once every event is searchable (the WAL excluded: it is dropped as
    /// partitions commit past it).
    index_bytes: u64,
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// One full run: fresh indexer, then the agent.
fn one_run(w: &Workload, http: &Http) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let base = format!("http://{listen}");
    let index = dir.path().join("index");
    let indexer = spawn(
        &[
            "indexer",
            "--listen",
            &listen,
            "--data-dir",
            &index.display().to_string(),
        ],
        &dir.path().join("indexer.log"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(&format!("{base}/health")).is_none() {
        assert!(Instant::now() < deadline, "indexer not healthy within 30s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let cpu0 = indexer.cpu_seconds();
    let t0 = Instant::now();
    let agent_listen = format!("127.0.0.1:{}", free_port());
    let agent = spawn(
        &[
            "agent",
            "--server",
            &base,
            "--data-dir",
            &dir.path().join("agent").display().to_string(),
            "--host-root",
            &w.root.display().to_string(),
            "--listen",
            &agent_listen,
            "--node-name",
            "bench",
        ],
        &dir.path().join("agent.log"),
    );
    let deadline = t0 + Duration::from_secs(600);
    loop {
        let docs = http
            .get(&format!("{base}/api/v1/stats"))
            .and_then(|v| v["docs"].as_u64())
            .unwrap_or(0);
        if docs >= w.events {
            assert_eq!(docs, w.events, "indexed more events than written");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {docs}/{} events indexed after 600s",
            w.events
        );
        // /api/v1/stats walks the data directory: poll gently so the probe does not load the indexer.
        std::thread::sleep(Duration::from_millis(50));
    }
    let wall = t0.elapsed();
    let run = Run {
        wall,
        agent_cpu: agent.cpu_seconds(),
        indexer_cpu: indexer.cpu_seconds() - cpu0,
        index_bytes: dir_bytes(&index.join("partitions")),
    };
    drop(agent);
    drop(indexer);
    run
}

fn e2e(c: &mut Criterion) {
    let w = workload();
    let http = Http {
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime"),
        client: reqwest::Client::new(),
    };
    let mb = w.bytes as f64 / 1e6;
    eprintln!(
        "workload: {} events, {mb:.1} MB of CRI + Docker logs",
        w.events
    );
    let runs: Mutex<Vec<Run>> = Mutex::new(Vec::new());

    let mut g = c.benchmark_group("e2e");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(30))
        .throughput(Throughput::Bytes(w.bytes));
    g.bench_function("agent_to_indexer", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let r = one_run(&w, &http);
                total += r.wall;
                runs.lock().expect("lock").push(r);
            }
            total
        })
    });

    let rg_ok = Command::new("rg")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok();
    if rg_ok {
        g.bench_function("rg_count_error_baseline", |b| {
            b.iter(|| {
                let out = Command::new("rg")
                    .args(["-c", "ERROR"])
                    .arg(&w.root)
                    .output()
                    .expect("run rg");
                // rg exits 1 when nothing matches; the workload has ERROR lines.
                assert!(out.status.success(), "rg -c ERROR found nothing");
                out.stdout.len()
            })
        });
    } else {
        eprintln!("rg not found: skipping the `rg -c ERROR` baseline");
    }
    g.finish();

    let runs = runs.into_inner().expect("lock");
    if !runs.is_empty() {
        let n = runs.len() as f64;
        let wall = runs.iter().map(|r| r.wall.as_secs_f64()).sum::<f64>() / n;
        let agent_cpu = runs.iter().map(|r| r.agent_cpu).sum::<f64>() / n;
        let indexer_cpu = runs.iter().map(|r| r.indexer_cpu).sum::<f64>() / n;
        let index_bytes = runs.iter().map(|r| r.index_bytes as f64).sum::<f64>() / n;
        let cpu = agent_cpu + indexer_cpu;
        let cores = std::thread::available_parallelism()
            .map(|c| c.get())
            .unwrap_or(1) as f64;
        eprintln!(
            "e2e summary over {} runs: {mb:.1} MB ({} events) in {wall:.2}s mean = {:.1} MB/s, {:.0} events/s; \
             {cores} cores -> {:.1} MB/s per core; agent+indexer used {cpu:.2} CPU-s = {:.1} MB per CPU-second",
            runs.len(),
            w.events,
            mb / wall,
            w.events as f64 / wall,
            mb / wall / cores,
            if cpu > 0.0 { mb / cpu } else { 0.0 },
        );
        eprintln!(
            "e2e per process: agent {agent_cpu:.2} CPU-s = {:.1} MB of raw log files per CPU-second; indexer \
             {indexer_cpu:.2} CPU-s = {:.1} MB per CPU-second; index {:.1} MB = {:.3}x the raw log files \
             ({:.0} bytes per event)",
            mb / agent_cpu.max(0.001),
            mb / indexer_cpu.max(0.001),
            index_bytes / 1e6,
            index_bytes / w.bytes as f64,
            index_bytes / w.events as f64,
        );
    }
}

criterion_group!(benches, e2e);
criterion_main!(benches);

//! Shared helpers of the end-to-end tests: real `logmind` processes (killed on drop, logs printed when a test
//! fails), free loopback ports, a small blocking HTTP client, bounded polling and manifest loading.
#![allow(dead_code)]

use logmind_workload::Manifest;
use serde_json::Value;
use std::ffi::OsStr;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_logmind");

/// A free port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A `logmind` command with the CLI-related environment cleared so the host cannot leak into the test.
pub fn logmind() -> Command {
    let mut c = Command::new(BIN);
    for k in [
        "LOGMIND_SERVER",
        "LOGMIND_CONFIG",
        "LOGMIND_TOKEN",
        "LOGMIND_DATA_DIR",
        "LOGMIND_AUTH_INGEST_TOKENS",
        "LOGMIND_AUTH_QUERY_TOKENS",
        "LOGMIND_AUTH_ADMIN_TOKENS",
        "NODE_NAME",
        "RUST_LOG",
    ] {
        c.env_remove(k);
    }
    c.env("LOGMIND_LOG", "info").env("NO_COLOR", "1");
    c
}

/// Runs `logmind ARGS` to completion (bounded by the caller's patience: these commands are short).
pub fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    logmind()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run logmind")
}

/// A child process killed (SIGKILL) and reaped on drop; its output goes to a log file whose tail is printed
/// when the test is failing.
pub struct Proc {
    /// Name used in messages.
    pub name: String,
    child: Option<Child>,
    /// Where stdout and stderr go.
    pub log: PathBuf,
}

impl Proc {
    /// Spawns `logmind ARGS`, output appended to `<log_dir>/<name>.log`.
    pub fn spawn<S: AsRef<OsStr>>(name: &str, args: &[S], log_dir: &Path) -> Proc {
        let log = log_dir.join(format!("{name}.log"));
        let out = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open log file");
        let err = out.try_clone().expect("clone log file");
        let child = logmind()
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn logmind");
        Proc {
            name: name.to_string(),
            child: Some(child),
            log,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// `kill -9` and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The exit status if it has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(s) = self.try_status() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Panics with the log tail when the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(s) = self.try_status() {
            panic!(
                "{} exited unexpectedly with {s}; log tail:\n{}",
                self.name,
                tail(&self.log, 40)
            );
        }
    }

    /// The whole log so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!(
                "---- {} log tail ({}) ----\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 30)
            );
        }
    }
}

/// The last `n` lines of a file.
pub fn tail(path: &Path, n: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A blocking HTTP client over reqwest (its own small runtime).
pub struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    /// A client with a 30 s request timeout.
    pub fn new() -> Http {
        Http {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        }
    }

    /// `GET url` → (status, body text), or the transport error.
    pub fn get_text(&self, url: &str) -> Result<(u16, String), String> {
        self.rt.block_on(async {
            let r = self
                .client
                .get(url)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = r.status().as_u16();
            let body = r.text().await.map_err(|e| e.to_string())?;
            Ok((status, body))
        })
    }

    /// `GET url` expecting 200 and JSON.
    pub fn get_json(&self, url: &str) -> Value {
        let (status, body) = self
            .get_text(url)
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(status, 200, "GET {url} answered {status}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {body}"))
    }
}

/// Polls `GET base/health` until 200, failing early when `proc` has exited.
pub fn wait_healthy(http: &Http, base: &str, proc: &mut Proc, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        proc.assert_running();
        if let Ok((200, _)) = http.get_text(&format!("{base}/health")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not become healthy at {base} within {timeout:?}; log tail:\n{}",
            proc.name,
            tail(&proc.log, 40)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Searchable documents of the indexer (`/api/v1/stats` `docs`), None while it does not answer.
pub fn indexed_docs(http: &Http, base: &str) -> Option<u64> {
    let (status, body) = http.get_text(&format!("{base}/api/v1/stats")).ok()?;
    if status != 200 {
        return None;
    }
    serde_json::from_str::<Value>(&body).ok()?["docs"].as_u64()
}

/// Polls until the indexer holds exactly `expected` documents; fails at once when it holds more (a duplicate)
/// or when `timeout` passes. Returns the time it took.
pub fn wait_docs(http: &Http, base: &str, expected: u64, timeout: Duration) -> Duration {
    let t0 = Instant::now();
    let mut last = None;
    loop {
        let docs = indexed_docs(http, base);
        if let Some(d) = docs {
            assert!(
                d <= expected,
                "indexer holds {d} documents, more than the {expected} written: duplicates"
            );
            if d == expected {
                return t0.elapsed();
            }
        }
        last = docs.or(last);
        assert!(
            t0.elapsed() < timeout,
            "indexer holds {last:?} documents after {timeout:?}, expected {expected}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Reads `<root>/manifest.json`.
pub fn read_manifest(path: &Path) -> Manifest {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Runs `logmind generate --root ROOT -q EXTRA…` (batch mode) and returns the manifest.
pub fn generate(root: &Path, extra: &[&str]) -> Manifest {
    let mut args: Vec<String> = vec![
        "generate".into(),
        "--root".into(),
        root.display().to_string(),
        "-q".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = run(&args);
    assert!(
        out.status.success(),
        "generate {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    read_manifest(&root.join("manifest.json"))
}

/// An indexer process on a free port.
pub struct Indexer {
    /// The process.
    pub proc: Proc,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The port.
    pub port: u16,
    /// Its data directory.
    pub data_dir: PathBuf,
}

impl Indexer {
    /// Starts an indexer on `port` (0 = pick a free one) and waits until healthy.
    pub fn start(http: &Http, data_dir: &Path, port: u16, log_dir: &Path) -> Indexer {
        let port = if port == 0 { free_port() } else { port };
        let listen = format!("127.0.0.1:{port}");
        let mut proc = Proc::spawn(
            "indexer",
            &[
                "indexer",
                "--listen",
                &listen,
                "--data-dir",
                &data_dir.display().to_string(),
            ],
            log_dir,
        );
        let base = format!("http://{listen}");
        wait_healthy(http, &base, &mut proc, Duration::from_secs(30));
        Indexer {
            proc,
            base,
            port,
            data_dir: data_dir.to_path_buf(),
        }
    }
}

/// Starts an agent shipping `host_root` to `server` (no Kubernetes API: pod metadata from the file layout).
pub fn start_agent(server: &str, data_dir: &Path, host_root: &Path, log_dir: &Path) -> Proc {
    let listen = format!("127.0.0.1:{}", free_port());
    Proc::spawn(
        "agent",
        &[
            "agent",
            "--server",
            server,
            "--data-dir",
            &data_dir.display().to_string(),
            "--host-root",
            &host_root.display().to_string(),
            "--listen",
            &listen,
            "--node-name",
            "node-1",
        ],
        log_dir,
    )
}

/// `start=…&end=…` covering every event of the manifest (Unix ns, one second of margin each side).
pub fn range_params(m: &Manifest) -> String {
    format!(
        "start={}&end={}",
        m.start_ns - 1_000_000_000,
        m.end_ns + 1_000_000_000
    )
}

/// Percent-encodes a query-string value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Pages through `/api/v1/search?QUERY` with the cursor; returns every event in page order and the page count.
pub fn search_all(http: &Http, base: &str, query: &str, page: usize) -> (Vec<Value>, usize) {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut url = format!("{base}/api/v1/search?{query}&limit={page}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={}", enc(c)));
        }
        let v = http.get_json(&url);
        pages += 1;
        let batch = v["events"].as_array().cloned().unwrap_or_default();
        assert!(
            batch.len() <= page,
            "page of {} > limit {page}",
            batch.len()
        );
        let n = batch.len();
        events.extend(batch);
        cursor = v["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() || n == 0 {
            break;
        }
        assert!(pages < 10_000, "search pagination does not end");
    }
    (events, pages)
}

/// A test's scratch directory with `host/`, `agent/`, `index/` and `logs/` inside.
pub struct Scratch {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
}

impl Scratch {
    /// A new scratch directory.
    pub fn new() -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("logmind-e2e-")
            .tempdir()
            .expect("tempdir");
        for d in ["host", "agent", "index", "logs"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        Scratch { dir }
    }
    /// The generated host root.
    pub fn host(&self) -> PathBuf {
        self.dir.path().join("host")
    }
    /// The agent's data directory.
    pub fn agent(&self) -> PathBuf {
        self.dir.path().join("agent")
    }
    /// The indexer's data directory.
    pub fn index(&self) -> PathBuf {
        self.dir.path().join("index")
    }
    /// Where process logs go.
    pub fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

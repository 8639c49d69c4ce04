//! Shared test support: a receiver implementing the ingest protocol exactly (lz4, NDJSON, dedup by
//! (agent, sequence)), CRI/Docker line writers, and an in-process agent handle.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use logmind_agent::{AgentError, AgentOptions, KubeMode};
use logmind_protocol::{
    decode_ndjson, lz4_decompress, LogRecord, HEADER_AGENT, HEADER_BATCH, INGEST_PATH,
};
use parking_lot::Mutex;
use tokio::sync::oneshot;

/// Receiver behaviour.
pub const MODE_OK: u8 = 0;
/// Answer 503 with Retry-After: 1.
pub const MODE_503: u8 = 1;
/// Answer 429 with Retry-After: 1.
pub const MODE_429: u8 = 2;
/// Answer 500.
pub const MODE_500: u8 = 3;
/// Answer 400 (bad batch).
pub const MODE_400: u8 = 4;

#[derive(Default)]
pub struct RecvState {
    pub seen: Mutex<HashSet<(String, u64)>>,
    pub records: Mutex<Vec<LogRecord>>,
    pub mode: AtomicU8,
    pub batches: AtomicU64,
    pub duplicates: AtomicU64,
    pub refused: AtomicU64,
}

/// A test ingest endpoint on 127.0.0.1.
pub struct Receiver {
    pub addr: SocketAddr,
    pub state: Arc<RecvState>,
    stop: Option<oneshot::Sender<()>>,
}

async fn ingest(State(s): State<Arc<RecvState>>, headers: HeaderMap, body: Bytes) -> Response {
    match s.mode.load(Ordering::Relaxed) {
        MODE_503 => {
            s.refused.fetch_add(1, Ordering::Relaxed);
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [("retry-after", "1")],
                "busy",
            )
                .into_response();
        }
        MODE_429 => {
            s.refused.fetch_add(1, Ordering::Relaxed);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                "slow down",
            )
                .into_response();
        }
        MODE_400 => {
            s.refused.fetch_add(1, Ordering::Relaxed);
            return (
                StatusCode::BAD_REQUEST,
                r#"{"error":"line 1: refused by test"}"#,
            )
                .into_response();
        }
        MODE_500 => {
            s.refused.fetch_add(1, Ordering::Relaxed);
            return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
        }
        _ => {}
    }
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (Some(agent), Some(seq)) = (
        h(HEADER_AGENT),
        h(HEADER_BATCH).and_then(|s| s.parse::<u64>().ok()),
    ) else {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"error":"missing agent or batch header"}"#,
        )
            .into_response();
    };
    let raw = if h("content-encoding").as_deref() == Some("lz4") {
        match lz4_decompress(&body, 64 << 20) {
            Ok(b) => b,
            Err(e) => {
                return (StatusCode::BAD_REQUEST, format!(r#"{{"error":"{e}"}}"#)).into_response()
            }
        }
    } else {
        body.to_vec()
    };
    let recs = match decode_ndjson(&raw) {
        Ok(r) => r,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, format!(r#"{{"error":"{e}"}}"#)).into_response()
        }
    };
    s.batches.fetch_add(1, Ordering::Relaxed);
    let fresh = s.seen.lock().insert((agent, seq));
    if !fresh {
        s.duplicates.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::OK, r#"{"accepted":0,"duplicate":true}"#).into_response();
    }
    let n = recs.len();
    s.records.lock().extend(recs);
    (
        StatusCode::OK,
        format!(r#"{{"accepted":{n},"duplicate":false}}"#),
    )
        .into_response()
}

impl Receiver {
    /// Starts on an ephemeral port.
    pub async fn start() -> Receiver {
        Self::start_on(
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(RecvState::default()),
        )
        .await
    }

    /// Starts on `addr` with existing state (to come back after an outage).
    pub async fn start_on(addr: SocketAddr, state: Arc<RecvState>) -> Receiver {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route(INGEST_PATH, post(ingest))
            .with_state(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Receiver {
            addr,
            state,
            stop: Some(tx),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Messages received (after dedup), counted.
    pub fn messages(&self) -> HashMap<String, usize> {
        count(self.state.records.lock().iter().map(|r| r.message.clone()))
    }

    pub fn records(&self) -> Vec<LogRecord> {
        self.state.records.lock().clone()
    }

    /// Waits until every expected message was received at least once, or the timeout.
    pub async fn wait_for(&self, expected: &HashMap<String, usize>, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.messages();
            if expected.keys().all(|k| got.contains_key(k)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub fn count(it: impl Iterator<Item = String>) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for s in it {
        *m.entry(s).or_insert(0) += 1;
    }
    m
}

/// Asserts received == expected as multisets, with a readable diff.
pub fn assert_exactly_once(got: &HashMap<String, usize>, expected: &HashMap<String, usize>) {
    let mut missing: Vec<&String> = expected.keys().filter(|k| !got.contains_key(*k)).collect();
    let mut dups: Vec<(&String, usize)> = got
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, n)| (k, *n))
        .collect();
    let mut extra: Vec<&String> = got.keys().filter(|k| !expected.contains_key(*k)).collect();
    missing.sort();
    dups.sort();
    extra.sort();
    assert!(
        missing.is_empty() && dups.is_empty() && extra.is_empty(),
        "lost {} (first {:?}), duplicated {} (first {:?}), unexpected {} (first {:?})",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        dups.len(),
        dups.iter().take(5).collect::<Vec<_>>(),
        extra.len(),
        extra.iter().take(5).collect::<Vec<_>>()
    );
}

/// Logs to stderr when `LOGMIND_TEST_LOG` is set (e.g. `debug`).
pub fn init_tracing() {
    if let Ok(filter) = std::env::var("LOGMIND_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// A CRI line.
pub fn cri(msg: &str, n: u64) -> String {
    format!(
        "2024-05-01T10:00:{:02}.{:09}Z stdout F {msg}\n",
        n / 1_000_000_000 % 60,
        n % 1_000_000_000
    )
}

/// CRI lines `"{prefix} {i}"` for `i` in `range`, each also pushed to `want`.
pub fn cri_lines(prefix: &str, range: std::ops::Range<u64>, want: &mut Vec<String>) -> String {
    let mut text = String::new();
    for i in range {
        let m = format!("{prefix} {i}");
        text.push_str(&cri(&m, i));
        want.push(m);
    }
    text
}

/// Truncates `path` to 0 bytes in place (as logrotate's `copytruncate` does after its copy).
pub fn truncate(path: &Path) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(0)
        .unwrap();
}

/// logrotate's `copytruncate`: copies `log` to `to`, then truncates `log` in place.
pub fn copytruncate(log: &Path, to: &Path) {
    fs::copy(log, to).unwrap();
    truncate(log);
}

/// A CRI line with tag `P` (a piece) or `F` (the last piece).
pub fn cri_piece(piece: &str, last: bool, n: u64) -> String {
    let tag = if last { "F" } else { "P" };
    format!("2024-05-01T10:00:00.{n:09}Z stdout {tag} {piece}\n")
}

/// A Docker json-file line.
/// A Docker json-file line holding one piece (`\n` only on the last piece of a line).
pub fn docker_piece(piece: &str, last: bool, n: u64) -> String {
    let nl = if last { "\\n" } else { "" };
    format!(
        "{{\"log\":\"{piece}{nl}\",\"stream\":\"stdout\",\"time\":\"2024-05-01T10:00:00.{n:09}Z\"}}\n"
    )
}

pub fn docker(msg: &str, n: u64) -> String {
    format!(
        "{{\"log\":\"{msg}\\n\",\"stream\":\"stdout\",\"time\":\"2024-05-01T10:00:{:02}.{:09}Z\"}}\n",
        n / 1_000_000_000 % 60,
        n % 1_000_000_000
    )
}

pub fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// gzips `src` the way kubelet does (write `<dst>.tmp`, rename to `dst`, remove `src`).
pub fn gzip_like_kubelet(src: &Path, dst: &Path) {
    let tmp = PathBuf::from(format!("{}.tmp", dst.display()));
    let data = fs::read(src).unwrap();
    let mut enc =
        flate2::write::GzEncoder::new(fs::File::create(&tmp).unwrap(), flate2::Compression::fast());
    enc.write_all(&data).unwrap();
    enc.finish().unwrap();
    fs::rename(&tmp, dst).unwrap();
    fs::remove_file(src).unwrap();
}

/// Creates `<root>/var/log/pods/<ns>_<pod>_<uid>/<container>` and returns it.
pub fn pod_dir(root: &Path, ns: &str, pod: &str, container: &str) -> PathBuf {
    let d = root.join(format!("var/log/pods/{ns}_{pod}_0000-1111/{container}"));
    fs::create_dir_all(&d).unwrap();
    d
}

/// Creates `<root>/var/lib/docker/containers/<id>` and returns it.
pub fn docker_dir(root: &Path, id: &str) -> PathBuf {
    let d = root.join(format!("var/lib/docker/containers/{id}"));
    fs::create_dir_all(&d).unwrap();
    d
}

/// A deterministic pseudo-random source (xorshift64): each call gives a number below its argument.
pub fn xorshift(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut rng = seed;
    move |m| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % m
    }
}

/// A free port on 127.0.0.1 (bound then released).
pub fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Fetches `http://addr/path` and returns (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The value of an unlabelled metric in Prometheus text.
pub fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

/// Options suited to tests (fast timers, no Kubernetes, no listener).
pub fn test_options(server: &str, data_dir: &Path, host_root: &Path) -> AgentOptions {
    AgentOptions {
        server: server.to_string(),
        data_dir: data_dir.to_owned(),
        host_root: Some(host_root.to_owned()),
        node_name: "node-1".into(),
        agent_id: "agent-test".into(),
        listen: None,
        poll_interval: Duration::from_millis(200),
        batch_max_wait: Duration::from_millis(50),
        multiline_timeout: Duration::from_millis(200),
        deleted_file_grace: Duration::from_secs(10),
        kubernetes: KubeMode::Off,
        pod_wait: Duration::from_millis(0),
        retry_max_backoff: Duration::from_millis(500),
        ..AgentOptions::default()
    }
}

/// An agent running in-process.
pub struct Agent {
    stop: Option<oneshot::Sender<()>>,
    join: tokio::task::JoinHandle<Result<(), AgentError>>,
}

impl Agent {
    pub fn start(opts: AgentOptions) -> Agent {
        let (tx, rx) = oneshot::channel::<()>();
        let join = tokio::spawn(logmind_agent::run(opts, async move {
            let _ = rx.await;
        }));
        Agent {
            stop: Some(tx),
            join,
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.join.await.unwrap().unwrap();
    }
}

/// Waits up to `timeout` for every message of `want`, lets late duplicates arrive for `settle`, stops the agent,
/// and asserts that each arrived exactly once.
pub async fn stop_and_check(
    recv: &Receiver,
    agent: Agent,
    want: &[String],
    timeout: Duration,
    settle: Duration,
) {
    let expected = count(want.iter().cloned());
    let ok = recv.wait_for(&expected, timeout).await;
    tokio::time::sleep(settle).await;
    agent.stop().await;
    let got = recv.messages();
    assert_exactly_once(&got, &expected);
    assert!(ok, "{} of {} messages arrived", got.len(), expected.len());
}

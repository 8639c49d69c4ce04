//! Shared test fixtures: a deterministic realistic dataset, real tantivy partitions in a temp dir, and the
//! query router served on 127.0.0.1.
#![allow(dead_code)]

use logmind_indexer::AuthTokens;
use logmind_protocol::{LogRecord, Source};
use logmind_query::catalog::DirCatalog;
use logmind_query::{Engine, QueryOptions};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const NS: i64 = 1_000_000_000;
pub const DAY: i64 = 86_400 * NS;
/// 2024-01-15T00:00:00Z
pub const T0: i64 = 1_705_276_800 * NS;

/// xorshift64*: deterministic, dependency-free.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub const APPS: [&str; 4] = ["frontend", "backend", "payments", "worker"];
pub const NAMESPACES: [&str; 2] = ["shop", "batch"];

/// Masks digit-bearing words to `<*>`: the test's template function (the real one is the indexer's miner).
pub fn template(message: &str) -> (u64, String) {
    let text: Vec<String> = message
        .split(' ')
        .map(|w| {
            if w.chars().any(|c| c.is_ascii_digit()) {
                "<*>".to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    let text = text.join(" ");
    (
        logmind_query::engine::cursor::fnv1a(text.as_bytes()) >> 12,
        text,
    )
}

/// `n` records over `days` days from T0, with requests spanning apps, users, errors of a few templates, and
/// bursts of events sharing one timestamp.
pub fn dataset(n: usize, days: i64, seed: u64) -> Vec<LogRecord> {
    let mut rng = Rng(seed | 1);
    let mut out = Vec::with_capacity(n);
    let span = days * DAY;
    let mut i = 0usize;
    while out.len() < n {
        let mut ts = T0 + (rng.below(span as u64) as i64);
        if rng.below(10) == 0 {
            ts = T0 + (ts - T0) / NS * NS; // many events land on whole seconds
        }
        let req = format!("req-{:06x}", rng.below(4000));
        let user = format!("u{}", rng.below(300));
        let hops = 1 + rng.below(4) as usize;
        for h in 0..hops {
            if out.len() >= n {
                break;
            }
            let app = APPS[(h + rng.below(2) as usize) % APPS.len()];
            let ns = if app == "worker" { "batch" } else { "shop" };
            let (level, message) = match rng.below(20) {
                0 => ("error", format!("user {} not found", rng.below(1000))),
                1 => (
                    "error",
                    format!(
                        "payment failed for order {} code=E{}",
                        rng.below(9999),
                        rng.below(5)
                    ),
                ),
                2 => ("fatal", "connection reset by peer".to_string()),
                3 => (
                    "error",
                    format!("db timeout after {}ms", 100 + rng.below(900)),
                ),
                4 | 5 => ("warn", format!("slow request took {}ms", rng.below(5000))),
                6 => ("debug", format!("cache miss key=item:{}", rng.below(100))),
                _ => (
                    "info",
                    format!("GET /api/v1/items/{} 200 request_id={req}", rng.below(500)),
                ),
            };
            let with_req = rng.below(8) != 0;
            i += 1;
            out.push(LogRecord {
                ts: ts + h as i64 * 1_000_000,
                namespace: ns.into(),
                app: app.into(),
                pod: format!("{app}-{}", rng.below(3)),
                container: app.into(),
                node: format!("node-{}", rng.below(2)),
                stream: if level == "info" {
                    "stdout".into()
                } else {
                    "stderr".into()
                },
                level: level.into(),
                request_id: if with_req { req.clone() } else { String::new() },
                user_id: if rng.below(3) == 0 {
                    user.clone()
                } else {
                    String::new()
                },
                message,
                source: Source {
                    agent: "a1".into(),
                    file: format!("f{}", i % 7),
                    offset: i as u64 * 100,
                },
                ..LogRecord::default()
            });
        }
    }
    out
}

/// A catalog over `records` in daily partitions (3 segments each) with "now" fixed at `now`.
pub fn catalog(dir: &std::path::Path, records: &[LogRecord], now: i64) -> DirCatalog {
    let mut c = DirCatalog::build(dir, DAY, records, 3, &template).expect("build partitions");
    c.now_ns = Some(now);
    c
}

pub fn options() -> QueryOptions {
    QueryOptions {
        default_range: std::time::Duration::from_secs(30 * 86_400),
        ..QueryOptions::default()
    }
}

/// Serves the query router on 127.0.0.1:0; returns the base URL.
pub async fn serve(engine: Arc<Engine>, auth: AuthTokens) -> String {
    let app = logmind_query::router(engine, auth);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// Events in the total order (ts, agent, file, offset).
pub fn sorted(mut v: Vec<LogRecord>) -> Vec<LogRecord> {
    v.sort_by(|a, b| {
        (a.ts, &a.source.agent, &a.source.file, a.source.offset).cmp(&(
            b.ts,
            &b.source.agent,
            &b.source.file,
            b.source.offset,
        ))
    });
    v
}

pub fn is_error(r: &LogRecord) -> bool {
    r.level == "error" || r.level == "fatal"
}

pub fn count_by<F: Fn(&LogRecord) -> String>(v: &[&LogRecord], f: F) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in v {
        *m.entry(f(r)).or_default() += 1;
    }
    m
}

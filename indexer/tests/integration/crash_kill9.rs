//! Crash safety with real processes: an indexer process is `kill -9`ed at random moments while agents send
//! batches concurrently; unacknowledged batches are resent with the same sequence after each restart. At the
//! end the index must hold every batch's records exactly once (counted by `source.offset`).

use crate::common;

use std::collections::{BTreeMap, VecDeque};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use logmind_indexer::{Indexer, IndexerOptions};
use logmind_protocol::encode_ndjson;
use logmind_protocol::time::now_nanos;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Mutex;

const AGENTS: u64 = 4;
const RECORDS: u64 = 40;

struct Agent {
    name: String,
    next_seq: u64,
    /// Batches sent but not acknowledged, oldest first: (seq, body).
    outstanding: VecDeque<(u64, Vec<u8>)>,
    acked: u64,
}

async fn start(dir: &std::path::Path) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_logmind-indexer-test"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--commit-ms",
            "150",
            "--wal-segment-bytes",
            "65536",
        ])
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn indexer");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("indexer did not start in time")
        .expect("read stdout")
        .expect("indexer exited before listening");
    let addr = line
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_string();
    (child, format!("http://{addr}"))
}

fn batch(agent: u64, seq: u64, now: i64) -> Vec<u8> {
    let recs: Vec<_> = (0..RECORDS)
        .map(|i| {
            let off = agent * 100_000_000 + seq * 1000 + i;
            let mut r = record(now - (off % 3) as i64 * DAY, "shop", off);
            r.source.agent = format!("agent-{agent}");
            r.message = match off % 5 {
                0 => format!("user {} logged in from 10.0.{}.{}", off % 97, off % 256, off % 13),
                1 => format!("cache miss key=item:{off} ttl={}s", off % 3600),
                2 => format!("connection to db-{} refused after {} retries", off % 4, off % 5),
                3 => format!("GET /api/v1/items/{off} 200 {}ms", off % 900),
                _ => format!("java.lang.IllegalStateException: order {off} already shipped\n\tat com.shop.Orders.ship(Orders.java:{})", off % 300),
            };
            r
        })
        .collect();
    encode_ndjson(&recs)
}

/// Sends one agent's outstanding batches, then new ones, until a request fails (the process died).
async fn drive(
    client: reqwest::Client,
    base: String,
    agent: Arc<Mutex<Agent>>,
    id: u64,
    now: i64,
    max_new: u64,
) {
    let mut new = 0;
    loop {
        let (seq, body) = {
            let mut a = agent.lock().await;
            if a.outstanding.is_empty() {
                if new >= max_new {
                    return;
                }
                new += 1;
                let seq = a.next_seq;
                a.next_seq += 1;
                a.outstanding.push_back((seq, batch(id, seq, now)));
            }
            a.outstanding.front().cloned().expect("outstanding batch")
        };
        let name = agent.lock().await.name.clone();
        let resp = client
            .post(format!("{base}/api/v1/ingest"))
            .header("X-Logmind-Agent", &name)
            .header("X-Logmind-Batch", seq.to_string())
            .body(body)
            .send()
            .await;
        let Ok(resp) = resp else { return };
        if resp.status().as_u16() != 200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let Ok(j) = resp.json::<serde_json::Value>().await else {
            return;
        };
        let mut a = agent.lock().await;
        assert!(
            j["accepted"] == RECORDS || j["duplicate"] == true,
            "unexpected answer {j}"
        );
        a.outstanding.pop_front();
        a.acked += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = now_nanos();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let agents: Vec<Arc<Mutex<Agent>>> = (0..AGENTS)
        .map(|i| {
            Arc::new(Mutex::new(Agent {
                name: format!("agent-{i}"),
                next_seq: 1,
                outstanding: VecDeque::new(),
                acked: 0,
            }))
        })
        .collect();
    let mut rng = (now as u64) | 1;
    let rounds = 6;
    for round in 0..rounds {
        let (mut child, base) = start(dir.path()).await;
        let tasks: Vec<_> = agents
            .iter()
            .enumerate()
            .map(|(i, a)| {
                tokio::spawn(drive(
                    client.clone(),
                    base.clone(),
                    a.clone(),
                    i as u64,
                    now,
                    u64::MAX,
                ))
            })
            .collect();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let delay = 100 + rng % 900;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        child.start_kill().expect("kill -9");
        let _ = child.wait().await;
        for t in tasks {
            t.await.expect("driver");
        }
        let acked: u64 = futures_sum(&agents).await;
        eprintln!("round {round}: killed after {delay} ms, {acked} batches acknowledged so far");
    }
    // Last run: resend everything unacknowledged, then one more kill -9 before the final check.
    let (mut child, base) = start(dir.path()).await;
    let tasks: Vec<_> = agents
        .iter()
        .enumerate()
        .map(|(i, a)| {
            tokio::spawn(drive(
                client.clone(),
                base.clone(),
                a.clone(),
                i as u64,
                now,
                3,
            ))
        })
        .collect();
    for t in tasks {
        t.await.expect("driver");
    }
    child.start_kill().expect("kill -9");
    let _ = child.wait().await;

    let mut expected = BTreeMap::new();
    for (i, a) in agents.iter().enumerate() {
        let a = a.lock().await;
        assert!(
            a.outstanding.is_empty(),
            "agent {i} still has unacknowledged batches"
        );
        for seq in 1..a.next_seq {
            for r in 0..RECORDS {
                expected.insert(i as u64 * 100_000_000 + seq * 1000 + r, 1u32);
            }
        }
    }
    let mut opts = IndexerOptions::new(dir.path());
    opts.retention.period = Duration::from_secs(3650 * 86_400);
    let idx = Indexer::open(opts).await.expect("reopen");
    let mut seen: BTreeMap<u64, u32> = BTreeMap::new();
    for r in all_records(&idx.store()) {
        *seen.entry(r.source.offset).or_default() += 1;
    }
    let dups = seen.values().filter(|&&c| c > 1).count();
    let missing = expected.keys().filter(|k| !seen.contains_key(k)).count();
    eprintln!(
        "final: {} records expected, {} distinct stored, {dups} duplicated, {missing} missing",
        expected.len(),
        seen.len()
    );
    assert_eq!(dups, 0, "duplicated records");
    assert_eq!(missing, 0, "lost acknowledged records");
    assert_eq!(seen, expected);
    // template ids survived the crashes: every stored id is what the persisted miner gives the message now
    let templates = all_templates(&idx.store());
    let distinct: std::collections::BTreeSet<u64> = templates.iter().map(|(t, _)| *t).collect();
    for (t, msg) in &templates {
        assert_eq!(
            idx.store().templates().assign(msg),
            *t,
            "template of {msg:?} changed"
        );
    }
    eprintln!(
        "{} distinct template ids over {} records",
        distinct.len(),
        templates.len()
    );
    assert!(
        distinct.len() >= 5,
        "the five message shapes should not share one template"
    );
    idx.shutdown().await.expect("shutdown");
}

async fn futures_sum(agents: &[Arc<Mutex<Agent>>]) -> u64 {
    let mut n = 0;
    for a in agents {
        n += a.lock().await.acked;
    }
    n
}

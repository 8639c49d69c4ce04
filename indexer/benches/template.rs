//! Template assignment throughput: `TemplateMiner::assign` on already-known templates (the steady state at
//! ingest), `mask` alone, and first sight of new lines. Lines: the Loghub 2k samples when present
//! (`LOGMIND_LOGHUB_DIR` or `shared/datasets/loghub` above this crate), plus generated application lines.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logmind_indexer::template::{mask, MinerOptions, TemplateMiner};

fn generated_lines(n: usize) -> Vec<String> {
    let apps = ["checkout", "payments", "auth", "search", "inventory"];
    (0..n)
        .map(|i| {
            let app = apps[i % apps.len()];
            match i % 10 {
                0 => format!("user {} not found in {app}", 1000 + i * 7),
                1 => format!(
                    "GET /api/v1/orders/{} 200 {}ms request_id=req-{:08x}",
                    i,
                    i % 97,
                    i * 2654435761usize
                ),
                2 => format!(
                    "ERROR request_id: req-{:08x} user_id: u-{} payment {} failed: card declined (code {})",
                    i * 31,
                    i % 300,
                    i,
                    51 + i % 3
                ),
                3 => format!("connected to 10.0.{}.{}:5432 after {}ms", i % 256, (i * 7) % 256, i % 40),
                4 => format!("cache miss key=\"session:{:x}\" ttl=300s shard={}", i * 31, i % 16),
                5 => format!(
                    "{app} worker {} processed {} events in {:.2}s",
                    i % 8,
                    i * 13,
                    (i % 100) as f64 / 7.0
                ),
                6 => format!(
                    "retrying request 550e8400-e29b-41d4-a716-{:012x} attempt {} of 5",
                    i,
                    i % 5
                ),
                7 => format!(
                    r#"{{"ts":"2024-01-15T10:00:{:02}.123Z","level":"error","request_id":"req-{:08x}","msg":"user {} not found","latency_ms":{}}}"#,
                    i % 60,
                    i * 7919,
                    i,
                    i % 900
                ),
                8 => format!(
                    r#"time=2024-01-15T10:00:{:02}.123Z level=info msg="cache refreshed count={}" duration={}ms"#,
                    i % 60,
                    i,
                    i % 900
                ),
                _ => format!("email sent to user{}@example.com template=welcome_v{}", i, i % 3),
            }
        })
        .collect()
}

fn loghub_lines() -> Vec<String> {
    let dir = std::env::var("LOGMIND_LOGHUB_DIR")
        .map(PathBuf::from)
        .ok()
        .or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .map(|d| d.join("shared/datasets/loghub"))
                .find(|d| d.is_dir())
        });
    let Some(dir) = dir else { return Vec::new() };
    let mut lines = Vec::new();
    for name in ["Apache", "HDFS", "Hadoop", "Zookeeper"] {
        // The raw `.log` lines; the header (timestamp, level, …) is masked or constant per dataset.
        if let Ok(text) = std::fs::read_to_string(dir.join(name).join(format!("{name}_2k.log"))) {
            lines.extend(text.lines().map(str::to_owned));
        }
    }
    lines
}

fn bench_templates(c: &mut Criterion) {
    let mut lines = generated_lines(5000);
    lines.extend(loghub_lines());
    let bytes: usize = lines.iter().map(String::len).sum();
    eprintln!(
        "template bench: {} lines, {:.1} bytes/line",
        lines.len(),
        bytes as f64 / lines.len() as f64
    );

    let mut g = c.benchmark_group("template");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("mask", |b| {
        b.iter(|| {
            for l in &lines {
                black_box(mask(black_box(l)));
            }
        })
    });

    let miner = TemplateMiner::new(MinerOptions::default());
    for l in &lines {
        miner.assign(l);
    }
    eprintln!("template bench: {} clusters after warm-up", miner.len());
    g.bench_function("assign_known", |b| {
        b.iter(|| {
            for l in &lines {
                black_box(miner.assign(black_box(l)));
            }
        })
    });

    g.sample_size(10);
    g.bench_function("assign_cold", |b| {
        b.iter(|| {
            let fresh = TemplateMiner::new(MinerOptions::default());
            for l in &lines {
                black_box(fresh.assign(black_box(l)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench_templates);
criterion_main!(benches);

//! Writer-path benchmark: NDJSON batch → decode → template → tantivy document → single-threaded writer →
//! commit, on generated log records shaped like the workload's (JSON-ish and plain messages with ids).
//!
//! Reports raw NDJSON MB/s (criterion throughput) for the writer path alone and for the full ingest path
//! (WAL + fsync + indexing thread), and prints index bytes per raw byte after commit and merge.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logmind_indexer::schema::LogSchema;
use logmind_indexer::template::TemplateMiner;
use logmind_indexer::wal_writer::BatchBody;
use logmind_indexer::{Indexer, IndexerOptions};
use logmind_protocol::{decode_ndjson, encode_ndjson, LogRecord, Source};

const APPS: [&str; 6] = [
    "checkout",
    "payments",
    "users",
    "search",
    "gateway",
    "inventory",
];

/// CPU seconds this process has used (user + system, all threads), from /proc/self/stat (0 elsewhere).
fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(rest) = stat.rsplit(')').next() else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // after the command name: state is field 0, utime field 11, stime field 12 (clock ticks, 100 Hz)
    (ticks(11) + ticks(12)) / 100.0
}

fn rng(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Generated records: a handful of message shapes per app, ids and numbers varying.
pub fn generate(n: usize, base_ts: i64) -> Vec<LogRecord> {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|i| {
            let app = APPS[(rng(&mut s) % 6) as usize];
            // a request logs several lines: one request id per ~5 consecutive records
            let rid = format!("{:016x}", (i as u64 / 5).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let uid = format!("u{}", rng(&mut s) % 5000);
            let kind = rng(&mut s) % 10;
            let (level, message) = match kind {
                0 => ("error", format!("payment failed for order {} user_id={uid} request_id={rid}: card declined (code {})", rng(&mut s) % 1_000_000, rng(&mut s) % 100)),
                1 => ("warn", format!("slow query on table orders took {}ms rows={} request_id={rid}", rng(&mut s) % 5000, rng(&mut s) % 10_000)),
                2 => ("info", format!("{{\"msg\":\"request completed\",\"method\":\"GET\",\"path\":\"/api/v1/items/{}\",\"status\":200,\"duration_ms\":{},\"request_id\":\"{rid}\",\"user_id\":\"{uid}\"}}", rng(&mut s) % 100_000, rng(&mut s) % 900)),
                3 => ("error", format!("connection to 10.0.{}.{}:5432 refused after {} retries request_id={rid}", rng(&mut s) % 256, rng(&mut s) % 256, rng(&mut s) % 5)),
                4 => ("debug", format!("cache miss key=item:{} ttl={}s", rng(&mut s) % 100_000, rng(&mut s) % 3600)),
                _ => ("info", format!("level=info msg=\"handled request\" method=POST path=/api/v1/cart/{} status=201 latency={}ms request_id={rid} user_id={uid}", rng(&mut s) % 100_000, rng(&mut s) % 500)),
            };
            LogRecord {
                ts: base_ts + i as i64 * 1_000_000,
                namespace: "shop".into(),
                app: app.into(),
                // three replicas per app, as a deployment would run
                pod: format!("{app}-7d9f8c-{:05x}", rng(&mut s) % 3),
                container: app.into(),
                node: format!("node-{}", rng(&mut s) % 4),
                stream: "stdout".into(),
                level: level.into(),
                request_id: if kind == 4 { String::new() } else { rid },
                user_id: if kind.is_multiple_of(2) { uid } else { String::new() },
                message,
                source: Source {
                    agent: "node-1".into(),
                    file: format!("{:x}", rng(&mut s) % 64),
                    offset: i as u64 * 180,
                },
                ..Default::default()
            }
        })
        .collect()
}

/// Indexes `body` into a fresh single-partition index; returns (index bytes after commit + merge).
fn writer_path(body: &[u8], heap: usize) -> u64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = LogSchema::new();
    let index = schema.open_or_create(dir.path()).expect("index");
    let miner = TemplateMiner::default();
    let mut writer = index
        .writer_with_num_threads::<tantivy::TantivyDocument>(1, heap)
        .expect("writer");
    let records = decode_ndjson(body).expect("decode");
    for r in &records {
        let t = miner.assign(&r.message);
        writer.add_document(schema.to_document(r, t)).expect("add");
    }
    writer.commit().expect("commit");
    writer.wait_merging_threads().expect("merge");
    logmind_indexer::fsutil::dir_size(dir.path())
}

/// Schema and store knobs for the variant experiments (where the bytes and the time go).
#[derive(Clone, Copy)]
struct Knobs {
    name: &'static str,
    ts_indexed: bool,
    id_fast: bool,
    positions: bool,
    msg_norms: bool,
    zstd_level: i32,
    block_kib: usize,
}

/// Indexes the documents into a schema variant with the same field order (experiments on where cost goes).
fn variant(records: &[LogRecord], tids: &[u64], schema: &LogSchema, k: Knobs) -> (f64, u64) {
    use tantivy::schema::*;
    let mut b = Schema::builder();
    let ts_opts = if k.ts_indexed {
        NumericOptions::default() | INDEXED | FAST
    } else {
        NumericOptions::default() | FAST
    };
    b.add_i64_field("ts", ts_opts);
    let keyword = logmind_indexer::schema::keyword_indexing_options;
    for name in logmind_indexer::schema::KEYWORD_FIELDS {
        let mut o = keyword();
        if k.id_fast || !matches!(name, "request_id" | "user_id" | "trace_id") {
            o = o.set_fast("raw");
        }
        b.add_text_field(name, o);
    }
    let opt = if k.positions {
        IndexRecordOption::WithFreqsAndPositions
    } else {
        IndexRecordOption::WithFreqs
    };
    b.add_text_field(
        "message",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(logmind_indexer::tokenizer::MESSAGE_TOKENIZER)
                .set_fieldnorms(k.msg_norms)
                .set_index_option(opt),
        ),
    );
    b.add_text_field("template", keyword().set_fast("raw"));
    b.add_u64_field("size", NumericOptions::default() | FAST);
    b.add_bytes_field("source", STORED);
    let s2 = b.build();
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = tantivy::IndexSettings {
        docstore_compression: tantivy::store::Compressor::Zstd(tantivy::store::ZstdCompressor {
            compression_level: Some(k.zstd_level),
        }),
        docstore_blocksize: k.block_kib << 10,
        ..Default::default()
    };
    let index = tantivy::Index::builder()
        .schema(s2)
        .settings(settings)
        .create_in_dir(dir.path())
        .expect("index");
    logmind_indexer::tokenizer::register_tokenizers(&index);
    let mut w = index
        .writer_with_num_threads::<tantivy::TantivyDocument>(1, 64 << 20)
        .expect("writer");
    let t = Instant::now();
    for (r, tid) in records.iter().zip(tids) {
        w.add_document(schema.to_document(r, *tid)).expect("add");
    }
    w.commit().expect("commit");
    let secs = t.elapsed().as_secs_f64();
    let ids = index.searchable_segment_ids().expect("ids");
    if ids.len() > 1 {
        let _ = w.merge(&ids).wait();
    }
    w.wait_merging_threads().expect("merge");
    (secs, logmind_indexer::fsutil::dir_size(dir.path()))
}

fn bench(c: &mut Criterion) {
    let now = logmind_protocol::time::now_nanos();
    let records = generate(100_000, now - 3_600_000_000_000);
    let body = encode_ndjson(&records);
    let raw = body.len() as u64;

    // size: one full pass, then force-merge to one segment
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = LogSchema::new();
    let index = schema.open_or_create(dir.path()).expect("index");
    let miner = TemplateMiner::default();
    let mut writer = index
        .writer_with_num_threads::<tantivy::TantivyDocument>(1, 64 << 20)
        .expect("writer");
    let started = Instant::now();
    let cpu0 = cpu_secs();
    for r in &decode_ndjson(&body).expect("decode") {
        writer
            .add_document(schema.to_document(r, miner.assign(&r.message)))
            .expect("add");
    }
    writer.commit().expect("commit");
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    let ids = index.searchable_segment_ids().expect("ids");
    if ids.len() > 1 {
        let _ = writer.merge(&ids).wait();
    }
    writer.wait_merging_threads().expect("merge");
    let size = logmind_indexer::fsutil::dir_size(dir.path());
    let mut by_ext = std::collections::BTreeMap::<String, u64>::new();
    for e in std::fs::read_dir(dir.path()).expect("read dir").flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let ext = name.rsplit('.').next().unwrap_or("").to_string();
        *by_ext.entry(ext).or_default() += e.metadata().map(|m| m.len()).unwrap_or(0);
    }
    eprintln!("index bytes by component: {by_ext:?}");
    if std::env::var_os("LOGMIND_BENCH_SPACE").is_some() {
        index.reader().expect("reader").reload().expect("reload");
        let searcher = index.reader().expect("reader").searcher();
        for seg in searcher.space_usage().expect("space").segments() {
            for (what, per_field) in [
                ("termdict", seg.termdict()),
                ("postings", seg.postings()),
                ("positions", seg.positions()),
                ("fast", seg.fast_fields()),
            ] {
                for usage in per_field.fields() {
                    eprintln!("space {what} {}: {}", usage.field_name(), usage.total());
                }
            }
            eprintln!("space store: {}", seg.store().total());
        }
    }
    // where the time goes, stage by stage
    let t = Instant::now();
    let decoded = decode_ndjson(&body).expect("decode");
    let t_decode = t.elapsed();
    let m2 = TemplateMiner::default();
    let t = Instant::now();
    let tids: Vec<u64> = decoded.iter().map(|r| m2.assign(&r.message)).collect();
    let t_tmpl = t.elapsed();
    let t = Instant::now();
    let docs: Vec<_> = decoded
        .iter()
        .zip(&tids)
        .map(|(r, t)| schema.to_document(r, *t))
        .collect();
    let t_doc = t.elapsed();
    let t = Instant::now();
    let mut toks = Vec::new();
    for r in &decoded {
        toks.clear();
        logmind_indexer::tokenizer::tokenize(&r.message, &mut toks);
    }
    let t_tok = t.elapsed();
    let d2 = tempfile::tempdir().expect("tempdir");
    let i2 = schema.open_or_create(d2.path()).expect("index");
    let mut w2 = i2
        .writer_with_num_threads::<tantivy::TantivyDocument>(1, 64 << 20)
        .expect("writer");
    let t = Instant::now();
    for d in docs {
        w2.add_document(d).expect("add");
    }
    w2.commit().expect("commit");
    let t_index = t.elapsed();
    let shipped = Knobs {
        name: "as shipped",
        ts_indexed: false,
        id_fast: true,
        positions: true,
        msg_norms: false,
        zstd_level: 3,
        block_kib: 64,
    };
    let variants = [
        shipped,
        Knobs {
            name: "ts indexed, message norms (before)",
            ts_indexed: true,
            msg_norms: true,
            ..shipped
        },
        Knobs {
            name: "ids not fast",
            id_fast: false,
            ..shipped
        },
        Knobs {
            name: "message without positions",
            positions: false,
            ..shipped
        },
        Knobs {
            name: "zstd 6, 256 KiB blocks",
            zstd_level: 6,
            block_kib: 256,
            ..shipped
        },
        Knobs {
            name: "zstd 9, 512 KiB blocks",
            zstd_level: 9,
            block_kib: 512,
            ..shipped
        },
        Knobs {
            name: "zstd 12, 1 MiB blocks",
            zstd_level: 12,
            block_kib: 1024,
            ..shipped
        },
    ];
    for k in variants {
        let (secs, bytes) = variant(&decoded, &tids, &schema, k);
        eprintln!(
            "variant {}: {:.1} MB/s, {:.3}x raw",
            k.name,
            body.len() as f64 / 1e6 / secs,
            bytes as f64 / body.len() as f64
        );
    }
    eprintln!("stages: decode {t_decode:?}, template {t_tmpl:?}, to_document {t_doc:?}, tokenize alone {t_tok:?}, tantivy add+commit {t_index:?}");
    eprintln!(
        "writer path: {} records, {:.1} MB raw NDJSON, {:.1} MB/s wall, {:.1} MB per CPU-second (all threads), index {:.1} MB = {:.3}x raw (merged), {} templates",
        records.len(),
        raw as f64 / 1e6,
        raw as f64 / 1e6 / secs,
        raw as f64 / 1e6 / cpu.max(0.01),
        size as f64 / 1e6,
        size as f64 / raw as f64,
        miner.len()
    );

    let mut g = c.benchmark_group("writer");
    g.throughput(Throughput::Bytes(raw));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("decode_template_index_commit_100k", |b| {
        b.iter(|| writer_path(&body, 64 << 20))
    });

    // full ingest path: HTTP-less Indexer::ingest_batch (WAL + fsync + indexing thread) then commit
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let batches: Vec<(BatchBody, Vec<LogRecord>)> = records
        .chunks(1000)
        .map(|c| (BatchBody::from_ndjson(&encode_ndjson(c)), c.to_vec()))
        .collect();
    g.bench_function("ingest_wal_index_commit_100k", |b| {
        b.iter(|| {
            rt.block_on(async {
                let dir = tempfile::tempdir().expect("tempdir");
                let mut o = IndexerOptions::new(dir.path());
                o.writer_heap_bytes = 64 << 20;
                let idx = Indexer::open(o).await.expect("open");
                for (i, (body, recs)) in batches.iter().enumerate() {
                    idx.ingest_batch("bench", i as u64, body.clone(), recs.clone())
                        .await
                        .expect("ingest");
                }
                idx.commit().await.expect("commit");
                idx.shutdown().await.expect("shutdown");
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

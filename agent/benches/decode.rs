//! Decoding and extraction throughput (MB/s) on realistic container logs.
//!
//! ~50k generated lines, in CRI and Docker `json-file` framing, mixing JSON bodies, logfmt, free text with ids,
//! klog and Python tracebacks / Java stack traces. `assemble/*` measures decode + partial/multi-line merge per
//! byte of file; `extract` measures level/id/field extraction per byte of event message.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logmind_agent::assemble::{AssembleOptions, Assembler, Event, Format, RawLine};
use logmind_agent::lz4::Lz4Frames;
use logmind_agent::parse::ids::IdKeys;
use logmind_agent::parse::{extract, extract_into, extract_with, ExtractOptions, Found};
use logmind_protocol::batch::{encode_parts, EventParts, RecordPrefix, SharedParts};

const LINES: usize = 50_000;

/// A tiny deterministic generator (xorshift), so every run measures the same input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// Application log lines (event bodies), multi-line events as several lines.
fn bodies() -> Vec<(bool, String)> {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let levels = ["info", "info", "info", "debug", "warn", "error"];
    let paths = [
        "/api/v1/orders",
        "/api/v1/users/42",
        "/healthz",
        "/api/v1/cart/checkout",
    ];
    let mut out = Vec::with_capacity(LINES);
    while out.len() < LINES {
        let n = r.next();
        let stderr = n.is_multiple_of(5);
        let rid = format!("req-{:016x}", r.next());
        let uid = format!("u{}", r.next() % 100_000);
        match n % 100 {
            0..=34 => out.push((stderr, format!(
                r#"{{"ts":"2024-12-04T10:00:00.{:06}Z","level":"{}","msg":"handled request","method":"GET","path":"{}","status":{},"duration_ms":{},"request_id":"{rid}","user_id":"{uid}","trace_id":"{:032x}","service":{{"name":"checkout","version":"1.4.2"}}}}"#,
                n % 1_000_000, r.pick(&levels), r.pick(&paths), 200 + n % 3 * 100, n % 900, r.next()))),
            35..=59 => out.push((stderr, format!(
                r#"time=2024-12-04T10:00:00Z level={} msg="cache lookup finished" key=session:{} hit={} latency={}us req_id={rid} uid={uid}"#,
                r.pick(&levels), n % 9999, n.is_multiple_of(2), n % 5000))),
            60..=79 => out.push((stderr, format!(
                "2024-12-04 10:00:00,{:03} {} [worker-{}] com.acme.orders.OrderService: processed order {} for user_id: {uid} request_id: {rid} in {} ms",
                n % 1000, r.pick(&["INFO", "INFO", "WARN", "ERROR", "DEBUG"]), n % 16, n % 100_000, n % 700))),
            80..=89 => out.push((stderr, format!(
                "I1204 10:00:00.{:06}       1 reconciler.go:{}] \"Reconciling\" object=\"default/web-{}\" generation={}",
                n % 1_000_000, n % 400, n % 50, n % 9))),
            90..=94 => {
                out.push((true, "Traceback (most recent call last):".to_string()));
                out.push((true, "  File \"/app/server.py\", line 88, in handle".to_string()));
                out.push((true, "    result = process(payload)".to_string()));
                out.push((true, "  File \"/app/logic.py\", line 12, in process".to_string()));
                out.push((true, "    raise ValueError(f\"bad payload {payload!r}\")".to_string()));
                out.push((true, format!("ValueError: bad payload {{'id': {}}}", n % 1000)));
            }
            _ => {
                out.push((true, format!("2024-12-04 10:00:00.123 ERROR [http-nio-8080-exec-{}] o.a.c.c.C.[.[.[/].[dispatcherServlet] : Servlet.service() threw exception request_id={rid}", n % 8)));
                out.push((true, "java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"s\" is null".to_string()));
                for f in ["com.acme.orders.OrderService.validate(OrderService.java:118)", "com.acme.orders.OrderController.create(OrderController.java:54)", "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:883)"] {
                    out.push((true, format!("\tat {f}")));
                }
                out.push((true, "\t... 48 more".to_string()));
            }
        }
    }
    out
}

fn cri_file(bodies: &[(bool, String)]) -> Vec<u8> {
    let mut f = Vec::new();
    for (i, (stderr, b)) in bodies.iter().enumerate() {
        let ts = format!(
            "2024-12-04T10:{:02}:{:02}.{:09}Z",
            i / 60_000 % 60,
            i / 1000 % 60,
            i % 1_000_000_000
        );
        let stream = if *stderr { "stderr" } else { "stdout" };
        // Every 500th line arrives split in two CRI pieces.
        if i.is_multiple_of(500) && b.len() > 20 {
            f.extend_from_slice(format!("{ts} {stream} P {}\n", &b[..10]).as_bytes());
            f.extend_from_slice(format!("{ts} {stream} F {}\n", &b[10..]).as_bytes());
        } else {
            f.extend_from_slice(format!("{ts} {stream} F {b}\n").as_bytes());
        }
    }
    f
}

fn docker_file(bodies: &[(bool, String)]) -> Vec<u8> {
    let mut f = Vec::new();
    for (i, (stderr, b)) in bodies.iter().enumerate() {
        let ts = format!(
            "2024-12-04T10:{:02}:{:02}.{:09}Z",
            i / 60_000 % 60,
            i / 1000 % 60,
            i % 1_000_000_000
        );
        let stream = if *stderr { "stderr" } else { "stdout" };
        let log = serde_json::to_string(&format!("{b}\n")).unwrap_or_default();
        f.extend_from_slice(
            format!(r#"{{"log":{log},"stream":"{stream}","time":"{ts}"}}"#).as_bytes(),
        );
        f.push(b'\n');
    }
    f
}

fn assemble_all(
    format: Format,
    opts: &Arc<AssembleOptions>,
    file: &[u8],
    out: &mut Vec<Event>,
) -> usize {
    out.clear();
    let mut a = Assembler::new(format, Arc::clone(opts));
    let now = Instant::now();
    let mut n = 0;
    let mut off = 0usize;
    while off < file.len() {
        let end = memchr::memchr(b'\n', &file[off..]).map_or(file.len(), |i| off + i);
        a.push(
            RawLine {
                offset: off as u64,
                bytes: &file[off..end],
            },
            now,
            out,
        );
        off = end + 1;
        if out.len() >= 1024 {
            n += out.len();
            out.clear();
        }
    }
    a.flush_all(out);
    n + out.len()
}

fn bench(c: &mut Criterion) {
    let bodies = bodies();
    let opts = Arc::new(AssembleOptions::default());
    let mut out = Vec::with_capacity(2048);
    let mut g = c.benchmark_group("assemble");
    for (name, format, file) in [
        ("cri", Format::Cri, cri_file(&bodies)),
        ("docker", Format::Docker, docker_file(&bodies)),
    ] {
        g.throughput(Throughput::Bytes(file.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| black_box(assemble_all(format, &opts, black_box(&file), &mut out)))
        });
    }
    g.finish();

    // The events a real file yields, as input for extraction.
    let mut events = Vec::new();
    let file = cri_file(&bodies);
    let mut a = Assembler::new(Format::Cri, Arc::clone(&opts));
    let mut off = 0usize;
    for line in file.split(|&c| c == b'\n') {
        a.push(
            RawLine {
                offset: off as u64,
                bytes: line,
            },
            Instant::now(),
            &mut events,
        );
        off += line.len() + 1;
    }
    a.flush_all(&mut events);
    let bytes: usize = events.iter().map(|e| e.message.len()).sum();
    let xo = ExtractOptions::default();
    let mut g = c.benchmark_group("extract");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("mixed", |b| {
        b.iter(|| {
            let mut levels = 0usize;
            for e in &events {
                levels += usize::from(extract(black_box(&e.message), &xo).level.is_some());
            }
            levels
        })
    });
    // What the agent runs per event: the same extraction into reused, borrowing buffers (no owned copies).
    g.bench_function("mixed_into", |b| {
        let mut found = Found::default();
        let keys = IdKeys::new(&xo);
        b.iter(|| {
            let mut levels = 0usize;
            for e in &events {
                let mut f: Found<'_> = std::mem::take(&mut found);
                extract_with(black_box(&e.message), &xo, &keys, &mut f);
                levels += usize::from(f.level.is_some()) + f.fields.len();
                found = f.recycle();
            }
            levels
        })
    });
    g.finish();

    // Sealing a batch: the NDJSON records of those events, cut to the default 1 MiB batch, into one lz4 frame.
    let prefix = RecordPrefix::new(&SharedParts {
        namespace: "shop",
        app: "checkout",
        pod: "checkout-7d9f8b6c5-x2x9z",
        container: "app",
        container_id: "3f2a9c0e-1b7d-4c2e-9a51-0d6f3b8e7a21/app",
        restart: 0,
        node: "node-1",
        agent: "agent-node-1",
        file: "fe00-992078-18ee372a885907fc",
    });
    let mut body = Vec::new();
    let mut found = Found::default();
    for (i, e) in events.iter().enumerate() {
        let mut f: Found<'_> = std::mem::take(&mut found);
        extract_into(&e.message, &xo, &mut f);
        let parts = EventParts {
            ts: e.ts,
            stream: e.stream.as_str(),
            level: f.level.map_or("", |l| l.as_str()),
            request_id: &f.request_id,
            user_id: &f.user_id,
            trace_id: &f.trace_id,
            message: &e.message,
            offset: i as u64 * 180,
        };
        encode_parts(
            &prefix,
            &parts,
            f.fields.iter().map(|(k, v)| (&**k, &**v)),
            &mut body,
        );
        found = f.recycle();
        if body.len() >= 1 << 20 {
            break;
        }
    }
    let mut g = c.benchmark_group("seal");
    g.throughput(Throughput::Bytes(body.len() as u64));
    let mut frames = Lz4Frames::default();
    g.bench_function("lz4_batch", |b| {
        b.iter(|| frames.compress(black_box(&body)).len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

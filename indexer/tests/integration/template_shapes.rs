//! One error message logged in the shapes a Kubernetes fleet produces (JSON, logfmt, plain text with level
//! word, identifiers and a context prefix, Python tracebacks, JVM stack traces, Go panics): every instance of
//! one message kind gets one template per shape and exception class, and different kinds never share one.
//! The message kinds mirror the workload generator's error templates (variables are whole tokens).
//!
//! The exception class is part of a traceback's header line; Drain routes by the first token, so
//! `ValueError: …` and `LookupError: …` are separate templates, while classes in the middle of a JVM header
//! (`Exception in thread "main" java.lang.X: …`) may generalise to `<*>`. Both are allowed here.

use std::collections::{HashMap, HashSet};

use logmind_indexer::template::{MinerOptions, TemplateMiner};

const KINDS: &[&str] = &[
    "user {num} not found",
    "connection to {ipport} timed out after {ms}",
    "order {hex8} rejected: insufficient funds",
    "payment {uuid} declined by issuer: code {code}",
    "failed to read config {qfile}",
    "deadline exceeded calling {svc} after {dur}",
    "invalid session token for user {num}",
    "query on table {qtable} took {ms} exceeding limit {ms}",
    "upstream {ipport} returned status {status}",
    "lock {uuid} held by {host} for {dur}",
    "message {hex8} dropped after {num} retries",
    "disk usage on {path} at {pct}",
    "TLS handshake with {ip} failed: certificate expired",
    "duplicate key {hex8} in table {qtable}",
    "rate limit exceeded for client {ip}",
    "cannot allocate {num} bytes for batch {num}",
];

/// xorshift64*: deterministic values without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

fn var(rng: &mut Rng, kind: &str) -> String {
    match kind {
        "num" => (1000 + rng.below(99_000)).to_string(),
        "hex8" => format!("{:08x}", rng.next() as u32),
        "uuid" => {
            let (a, b) = (rng.next(), rng.next());
            format!(
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                a as u32,
                (a >> 32) as u16,
                (a >> 48) as u16,
                b as u16,
                b >> 16 & 0xffff_ffff_ffff
            )
        }
        "ip" => format!(
            "10.{}.{}.{}",
            rng.below(8),
            rng.below(256),
            2 + rng.below(252)
        ),
        "ipport" => format!(
            "10.{}.{}.{}:{}",
            rng.below(8),
            rng.below(256),
            2 + rng.below(252),
            rng.pick(&["5432", "6379", "443"])
        ),
        "ms" => format!("{}ms", (1 + rng.below(59)) * 100),
        "dur" => format!("{}.{}s", 1 + rng.below(29), rng.below(10)),
        "code" => rng.pick(&["05", "14", "51", "91"]).to_string(),
        "status" => rng.pick(&["500", "502", "503", "504"]).to_string(),
        "qfile" => format!(
            "\"{}\"",
            rng.pick(&["billing.yaml", "limits.toml", "features.json"])
        ),
        "qtable" => format!(
            "\"{}\"",
            rng.pick(&["orders", "payments", "users", "ledger"])
        ),
        "svc" => rng
            .pick(&["inventory.shop-prod.svc:8080", "auth.platform.svc:8443"])
            .to_string(),
        "host" => format!("node-{:06x}", rng.below(1 << 24)),
        "path" => rng
            .pick(&["/var/lib/data", "/tmp", "/data/spool"])
            .to_string(),
        "pct" => format!("{}%", 90 + rng.below(10)),
        other => other.to_string(),
    }
}

fn render(rng: &mut Rng, kind: &str) -> String {
    let mut out = String::new();
    let mut rest = kind;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = open + rest[open..].find('}').expect("closing brace");
        out.push_str(&var(rng, &rest[open + 1..close]));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

fn json_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The message `msg` in shape `shape`, and the exception class used (empty when none).
fn shaped(rng: &mut Rng, shape: &str, msg: &str) -> (String, &'static str) {
    let class = match shape {
        "python" => rng.pick(&["ValueError", "RuntimeError", "LookupError"]),
        "java" => rng.pick(&[
            "java.lang.IllegalStateException",
            "java.lang.RuntimeException",
        ]),
        _ => "",
    };
    let line = shaped_line(rng, shape, msg, class);
    (line, class)
}

fn shaped_line(rng: &mut Rng, shape: &str, msg: &str, class: &str) -> String {
    let rid = format!("req-{:012x}", rng.next() >> 16);
    let uid = format!("u-{}", rng.below(5000));
    let with_ids = rng.below(2) == 0;
    match shape {
        "json" if with_ids => format!(
            r#"{{"ts":"2024-01-15T10:00:00.123Z","level":"error","request_id":"{rid}","user_id":"{uid}","msg":"{}","latency_ms":{}}}"#,
            json_escape(msg),
            rng.below(900)
        ),
        "json" => format!(r#"{{"ts":"2024-01-15T10:00:00.123Z","level":"error","msg":"{}","latency_ms":{}}}"#, json_escape(msg), rng.below(900)),
        "logfmt" if with_ids => format!(
            r#"time=2024-01-15T10:00:00.123Z level=error request_id={rid} user_id={uid} msg="{}" duration={}ms"#,
            json_escape(msg),
            rng.below(900)
        ),
        "logfmt" => format!(r#"time=2024-01-15T10:00:00.123Z level=error msg="{}" duration={}ms"#, json_escape(msg), rng.below(900)),
        "text" if with_ids => format!("ERROR request_id: {rid} user_id: {uid} payment failed: {msg}"),
        "text" => format!("ERROR payment failed: {msg}"),
        "python" => format!(
            "Traceback (most recent call last):\n  File \"/app/auth/handlers.py\", line {}, in login\n    result = login(request)\n{class}: {msg}",
            10 + rng.below(290),
        ),
        "java" => format!(
            "Exception in thread \"main\" {class}: {msg}\n\tat com.example.payments.PaymentService.charge(PaymentService.java:{})\n\tat java.base/java.lang.Thread.run(Thread.java:833)",
            20 + rng.below(380)
        ),
        "go" => format!(
            "panic: {msg}\ngoroutine {} [running]:\nmain.main()\n\t/src/inventory/main.go:{} +0x65",
            1 + rng.below(79),
            10 + rng.below(70)
        ),
        _ => unreachable!("unknown shape {shape}"),
    }
}

#[test]
fn every_message_kind_is_one_template_per_shape_and_kinds_stay_apart() {
    let shapes = ["json", "logfmt", "text", "python", "java", "go"];
    let miner = TemplateMiner::new(MinerOptions::default());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // (shape, exception class, kind) -> ids seen; the stream interleaves kinds and shapes.
    let mut ids: HashMap<(&str, &str, usize), HashSet<u64>> = HashMap::new();
    for _round in 0..40 {
        for (k, kind) in KINDS.iter().enumerate() {
            for shape in shapes {
                let msg = render(&mut rng, kind);
                let (line, class) = shaped(&mut rng, shape, &msg);
                ids.entry((shape, class, k))
                    .or_default()
                    .insert(miner.assign(&line));
            }
        }
    }
    let mut failures = Vec::new();
    let mut owner: HashMap<u64, (&str, usize)> = HashMap::new();
    let mut keys: Vec<_> = ids.keys().copied().collect();
    keys.sort();
    for key @ (shape, class, k) in keys {
        let set = &ids[&key];
        if set.len() != 1 {
            let texts: Vec<String> = set
                .iter()
                .map(|id| miner.text(*id).unwrap_or_default())
                .collect();
            failures.push(format!(
                "{shape} {class}: {:?} split into {texts:?}",
                KINDS[k]
            ));
        }
        for id in set {
            if let Some((other_shape, other)) = owner.insert(*id, (shape, k)) {
                if other != k && other_shape == shape {
                    failures.push(format!(
                        "{shape}: {:?} and {:?} share {:?}",
                        KINDS[k],
                        KINDS[other],
                        miner.text(*id)
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // JSON and logfmt lines template the same message text, so they share ids.
    for k in 0..KINDS.len() {
        assert_eq!(
            ids[&("json", "", k)],
            ids[&("logfmt", "", k)],
            "{}",
            KINDS[k]
        );
        let text = miner
            .text(*ids[&("json", "", k)].iter().next().expect("id"))
            .unwrap_or_default();
        assert_eq!(
            text.split(' ').count(),
            KINDS[k].split(' ').count(),
            "{text}"
        );
    }
    assert_eq!(
        miner
            .text(*ids[&("json", "", 0)].iter().next().expect("id"))
            .as_deref(),
        Some("user <*> not found")
    );
}

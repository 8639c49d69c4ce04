//! The fixed set of error templates and their variable parts.
//!
//! Each template is written with placeholders (`{user}`, `{ipport}`, …). Rendering replaces every
//! placeholder with a fresh random value; the *true template* is the same text with `<*>` in place of
//! each placeholder. Every variable part is a whole whitespace-separated token, so a token-based
//! template miner (Drain and friends) can recover the template exactly.

use crate::rng::Rng;
use std::fmt::Write as _;

/// The error templates (placeholder form) with their relative weights (skewed, so the top-N order is
/// well defined).
pub const ERROR_TEMPLATES: &[(&str, u32)] = &[
    ("user {user} not found", 30),
    ("connection to {ipport} timed out after {ms}", 24),
    ("order {hex8} rejected: insufficient funds", 19),
    ("payment {uuid} declined by issuer: code {code}", 15),
    ("failed to read config {qfile}", 12),
    ("deadline exceeded calling {svc} after {dur}", 10),
    ("invalid session token for user {user}", 8),
    ("query on table {qtable} took {ms} exceeding limit {ms}", 7),
    ("upstream {ipport} returned status {status}", 6),
    ("lock {uuid} held by {host} for {dur}", 5),
    ("message {hex8} dropped after {num} retries", 4),
    ("disk usage on {path} at {pct}", 3),
    ("TLS handshake with {ip} failed: certificate expired", 3),
    ("duplicate key {hex8} in table {qtable}", 2),
    ("rate limit exceeded for client {ip}", 2),
    ("cannot allocate {num} bytes for batch {num}", 1),
];

/// Number of error templates.
pub fn count() -> usize {
    ERROR_TEMPLATES.len()
}

/// The true template text (`<*>` for each variable part) of template `idx`.
pub fn template_text(idx: usize) -> String {
    let mut out = String::new();
    let src = ERROR_TEMPLATES[idx % ERROR_TEMPLATES.len()].0;
    let mut rest = src;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => {
                out.push_str("<*>");
                rest = &rest[open + close + 1..];
            }
            None => {
                rest = &rest[open..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Picks a template index by weight.
pub fn pick(rng: &mut Rng) -> usize {
    let total: u32 = ERROR_TEMPLATES.iter().map(|(_, w)| *w).sum();
    let mut x = rng.below(u64::from(total)) as u32;
    for (i, (_, w)) in ERROR_TEMPLATES.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= *w;
    }
    0
}

const FILES: &[&str] = &[
    "billing.yaml",
    "limits.toml",
    "features.json",
    "routes.yaml",
    "secrets.env",
];
const TABLES: &[&str] = &[
    "orders",
    "payments",
    "users",
    "sessions",
    "inventory",
    "ledger",
];
const SERVICES: &[&str] = &[
    "inventory.shop-prod.svc:8080",
    "payments.payments-prod.svc:9090",
    "auth.platform.svc:8443",
    "ledger.payments-prod.svc:7000",
];
const PATHS: &[&str] = &["/var/lib/data", "/tmp", "/var/cache/app", "/data/spool"];
const CODES: &[&str] = &["05", "14", "51", "54", "61", "65", "91"];
const STATUS: &[&str] = &["500", "502", "503", "504"];

/// Appends one random value for a placeholder kind.
fn push_var(rng: &mut Rng, kind: &str, out: &mut String) {
    match kind {
        "user" | "num" => {
            let _ = write!(out, "{}", rng.range(1000, 99_999));
        }
        "hex8" => rng.push_hex(out, 8),
        "uuid" => rng.push_uuid(out),
        "ip" | "ipport" => {
            let _ = write!(
                out,
                "10.{}.{}.{}",
                rng.below(8),
                rng.below(256),
                rng.range(2, 254)
            );
            if kind == "ipport" {
                let port = *rng.pick(&[5432u16, 6379, 8080, 9092, 3306, 443]);
                let _ = write!(out, ":{port}");
            }
        }
        "ms" => {
            let _ = write!(out, "{}ms", rng.range(1, 60) * 100);
        }
        "dur" => {
            let _ = write!(out, "{}.{}s", rng.range(1, 30), rng.below(10));
        }
        "code" => out.push_str(rng.pick_str(CODES)),
        "status" => out.push_str(rng.pick_str(STATUS)),
        "qfile" => {
            let _ = write!(out, "\"{}\"", rng.pick(FILES));
        }
        "qtable" => {
            let _ = write!(out, "\"{}\"", rng.pick(TABLES));
        }
        "svc" => out.push_str(rng.pick_str(SERVICES)),
        "host" => {
            out.push_str("node-");
            rng.push_hex(out, 6);
        }
        "path" => out.push_str(rng.pick_str(PATHS)),
        "pct" => {
            let _ = write!(out, "{}%", rng.range(90, 100));
        }
        _ => out.push_str(kind),
    }
}

/// Appends a fresh instance of template `idx` to `out`.
pub fn render(rng: &mut Rng, idx: usize, out: &mut String) {
    let mut rest = ERROR_TEMPLATES[idx % ERROR_TEMPLATES.len()].0;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => {
                push_var(rng, &rest[open + 1..open + close], out);
                rest = &rest[open + close + 1..];
            }
            None => break,
        }
    }
    out.push_str(rest);
}

/// Whether `line` is an instance of the `<*>` template `template` (token-wise match).
pub fn matches(template: &str, line: &str) -> bool {
    let t: Vec<&str> = template.split(' ').collect();
    let l: Vec<&str> = line.split(' ').collect();
    t.len() == l.len() && t.iter().zip(&l).all(|(a, b)| *a == "<*>" || a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_text_replaces_placeholders() {
        assert_eq!(template_text(0), "user <*> not found");
        assert_eq!(template_text(1), "connection to <*> timed out after <*>");
        assert_eq!(
            template_text(7),
            "query on table <*> took <*> exceeding limit <*>"
        );
    }

    #[test]
    fn every_instance_matches_its_template_and_varies() {
        let mut rng = Rng::new(11);
        for idx in 0..count() {
            let t = template_text(idx);
            assert!(!t.contains('{'), "{t}");
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..20 {
                let mut s = String::new();
                render(&mut rng, idx, &mut s);
                assert!(matches(&t, &s), "{s:?} vs {t:?}");
                seen.insert(s);
            }
            assert!(seen.len() > 1, "template {t} never varies");
        }
    }

    #[test]
    fn weighted_pick_prefers_the_first_template() {
        let mut rng = Rng::new(5);
        let mut counts = vec![0u32; count()];
        for _ in 0..20_000 {
            counts[pick(&mut rng)] += 1;
        }
        assert!(counts[0] > counts[5] && counts[5] > counts[15]);
        assert!(counts.iter().all(|c| *c > 0));
    }
}

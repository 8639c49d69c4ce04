//! Rendering one event of one service as the text its application would print.
//!
//! The output is the event's logical lines joined with `\n` (no trailing newline); framing into CRI or
//! Docker lines happens in [`crate::writer`].

use crate::fleet::{Service, Style, Trace};
use crate::rng::Rng;
use crate::templates;
use crate::timefmt::{push_json_escaped, push_nginx, push_rfc3339_millis};
use crate::traces::{push_java_frames, render_trace};
use logmind_protocol::Level;
use std::fmt::Write as _;

/// What kind of event to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An ordinary informational line.
    Info,
    /// A debug line.
    Debug,
    /// A warning.
    Warn,
    /// An error line carrying an instance of an error template.
    Error(usize),
    /// A multi-line error event (traceback, stack trace or panic) carrying an error template.
    Trace(usize),
    /// An informational line with a long payload of about this many bytes.
    Long(usize),
    /// The edge proxy's access-log line for a finished request, with its HTTP status.
    Access(u16),
}

/// Identifiers an event carries in its text.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ids<'a> {
    /// Request id, when the event belongs to a request.
    pub request_id: Option<&'a str>,
    /// User id, when the event belongs to a request.
    pub user_id: Option<&'a str>,
}

/// Facts about a rendered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Level the agent must assign (None = empty).
    pub level: Option<Level>,
    /// True when written to stderr.
    pub stderr: bool,
    /// Error template index for error/fatal events.
    pub template: Option<usize>,
    /// Whether the event is multi-line.
    pub multiline: bool,
    /// Text that frames the template in the event's headline (`payment failed: `, `ValueError: `,
    /// `panic: `…): part of the true error group, since operators see these as different errors.
    pub framing: Option<String>,
}

const BACKGROUND: &[&str] = &[
    "health check ok",
    "cache refreshed",
    "config reloaded",
    "connection pool stats",
    "metrics flushed",
    "gc cycle finished",
];
const WARNINGS: &[&str] = &[
    "slow response from upstream",
    "retrying request after transient failure",
    "cache miss rate high",
    "connection pool nearly exhausted",
];
const PATHS: &[&str] = &[
    "/api/v1/orders",
    "/api/v1/cart",
    "/api/v1/checkout",
    "/api/v1/login",
    "/api/v1/items",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64)",
    "curl/8.5.0",
    "okhttp/4.12.0",
    "python-requests/2.31.0",
];
const LEVEL_WORDS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/// The message an app logs when it handles a hop of a request.
fn hop_message(app: &str) -> &'static str {
    match app {
        "backend" => "order request handled",
        "payments" => "payment authorized",
        "worker" => "job processed",
        "inventory" => "stock reserved",
        "auth" => "session validated",
        "storefront" => "page rendered",
        "cart" => "cart updated",
        "legacy-billing" => "invoice issued",
        _ => "request handled",
    }
}

/// Appends `n` filler characters for long lines.
fn push_filler(rng: &mut Rng, out: &mut String, n: usize) {
    rng.push_from(out, b"abcdefghijklmnopqrstuvwxyz0123456789", n);
}

/// Renders the plain message (no level, no ids) into `msg`; returns the template used, if any.
fn message(
    rng: &mut Rng,
    svc: &Service,
    kind: Kind,
    ids: &Ids<'_>,
    msg: &mut String,
) -> Option<usize> {
    match kind {
        Kind::Info if ids.request_id.is_some() => msg.push_str(hop_message(svc.app)),
        Kind::Info | Kind::Long(_) => {
            msg.push_str(rng.pick_str(BACKGROUND));
            let _ = write!(msg, " count={}", rng.range(1, 5000));
        }
        Kind::Debug => {
            let _ = write!(msg, "dispatching batch size={}", rng.range(1, 64));
        }
        Kind::Warn => msg.push_str(rng.pick_str(WARNINGS)),
        Kind::Error(t) | Kind::Trace(t) => {
            if svc.style == Style::Text {
                msg.push_str(svc.verb);
                msg.push_str(": ");
            }
            templates::render(rng, t, msg);
            return Some(t);
        }
        Kind::Access(_) => {}
    }
    None
}

fn level_of(kind: Kind) -> Level {
    match kind {
        Kind::Debug => Level::Debug,
        Kind::Warn => Level::Warn,
        Kind::Error(_) | Kind::Trace(_) => Level::Error,
        Kind::Info | Kind::Long(_) | Kind::Access(_) => Level::Info,
    }
}

/// Renders one event into `out` (cleared first) and reports its facts. `scratch` is reused space.
pub fn render(
    rng: &mut Rng,
    svc: &Service,
    kind: Kind,
    ts: i64,
    ids: &Ids<'_>,
    out: &mut String,
    scratch: &mut String,
) -> Rendered {
    out.clear();
    scratch.clear();
    if let Kind::Trace(t) = kind {
        return render_trace(rng, svc, t, out, scratch);
    }
    if svc.style == Style::Access {
        render_access(rng, kind, ts, ids, out);
        return Rendered {
            level: None,
            stderr: false,
            template: None,
            multiline: false,
            framing: None,
        };
    }
    let template = message(rng, svc, kind, ids, scratch);
    let framing = template.map(|_| {
        if svc.style == Style::Text {
            format!("{}: ", svc.verb)
        } else {
            String::new()
        }
    });
    let level = level_of(kind);
    match svc.style {
        Style::Json => {
            out.push_str("{\"ts\":\"");
            push_rfc3339_millis(out, ts);
            let _ = write!(out, "\",\"level\":\"{}\"", level.as_str());
            if let (Some(r), Some(u)) = (ids.request_id, ids.user_id) {
                let _ = write!(out, ",\"request_id\":\"{r}\",\"user_id\":\"{u}\"");
            }
            out.push_str(",\"msg\":\"");
            push_json_escaped(out, scratch, false);
            let _ = write!(out, "\",\"latency_ms\":{}", rng.range(1, 900));
            if let Kind::Long(n) = kind {
                out.push_str(",\"payload\":\"");
                push_filler(rng, out, n);
                out.push('"');
            }
            out.push('}');
        }
        Style::Logfmt => {
            out.push_str("time=");
            push_rfc3339_millis(out, ts);
            let _ = write!(out, " level={}", level.as_str());
            if let (Some(r), Some(u)) = (ids.request_id, ids.user_id) {
                let _ = write!(out, " request_id={r} user_id={u}");
            }
            out.push_str(" msg=\"");
            push_json_escaped(out, scratch, false);
            let _ = write!(out, "\" duration={}ms", rng.range(1, 900));
            if let Kind::Long(n) = kind {
                out.push_str(" payload=");
                push_filler(rng, out, n);
            }
        }
        Style::Text => {
            out.push_str(LEVEL_WORDS[level as usize]);
            if let (Some(r), Some(u)) = (ids.request_id, ids.user_id) {
                let _ = write!(out, " request_id: {r} user_id: {u}");
            }
            out.push(' ');
            out.push_str(scratch);
            if let Kind::Long(n) = kind {
                out.push_str(" dump=");
                push_filler(rng, out, n);
            }
            // A share of request errors on Java services carry the stack trace after the message.
            if svc.trace == Trace::Java && matches!(kind, Kind::Error(_)) && rng.chance(0.3) {
                push_java_frames(rng, svc, out);
                return Rendered {
                    level: Some(level),
                    stderr: true,
                    template,
                    multiline: true,
                    framing,
                };
            }
        }
        Style::Access => {}
    }
    let stderr = svc.style == Style::Text && level >= Level::Warn;
    Rendered {
        level: Some(level),
        stderr,
        template,
        multiline: false,
        framing,
    }
}

fn render_access(rng: &mut Rng, kind: Kind, ts: i64, ids: &Ids<'_>, out: &mut String) {
    let (status, path) = match kind {
        Kind::Access(s) => (s, *rng.pick(PATHS)),
        _ => (200, "/healthz"),
    };
    let _ = write!(
        out,
        "10.{}.{}.{} - - [",
        rng.below(4),
        rng.below(256),
        rng.range(2, 254)
    );
    push_nginx(out, ts);
    let method = if path == "/healthz" {
        "GET"
    } else {
        *rng.pick(&["GET", "POST", "PUT"])
    };
    let _ = write!(
        out,
        "] \"{method} {path} HTTP/1.1\" {status} {} \"-\" \"{}\" rt=0.{:03}",
        rng.range(2, 20_000),
        if path == "/healthz" {
            "kube-probe/1.29"
        } else {
            rng.pick(AGENTS)
        },
        rng.range(1, 999)
    );
    if let Some(r) = ids.request_id {
        let _ = write!(out, " request_id={r}");
    }
    if let Kind::Long(n) = kind {
        out.push_str(" q=");
        push_filler(rng, out, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::all_services;

    fn svc(app: &str) -> Service {
        all_services()
            .into_iter()
            .find(|s| s.app == app)
            .expect("known app")
    }

    const TS: i64 = 1_705_314_600_123_000_000;

    #[test]
    fn json_line_has_the_documented_keys() {
        let (mut rng, mut out, mut scratch) = (Rng::new(1), String::new(), String::new());
        let ids = Ids {
            request_id: Some("r1"),
            user_id: Some("u2"),
        };
        let r = render(
            &mut rng,
            &svc("backend"),
            Kind::Error(0),
            TS,
            &ids,
            &mut out,
            &mut scratch,
        );
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["level"], "error");
        assert_eq!(v["request_id"], "r1");
        assert_eq!(v["user_id"], "u2");
        assert_eq!(v["ts"], "2024-01-15T10:30:00.123Z");
        assert!(templates::matches(
            "user <*> not found",
            v["msg"].as_str().expect("msg")
        ));
        assert_eq!(r.template, Some(0));
        assert_eq!(r.level, Some(Level::Error));
    }

    #[test]
    fn logfmt_text_and_access_shapes() {
        let (mut rng, mut out, mut scratch) = (Rng::new(2), String::new(), String::new());
        let ids = Ids {
            request_id: Some("r1"),
            user_id: Some("u2"),
        };
        render(
            &mut rng,
            &svc("worker"),
            Kind::Warn,
            TS,
            &ids,
            &mut out,
            &mut scratch,
        );
        assert!(
            out.starts_with(
                "time=2024-01-15T10:30:00.123Z level=warn request_id=r1 user_id=u2 msg=\""
            ),
            "{out}"
        );
        assert!(out.ends_with("ms"));
        render(
            &mut rng,
            &svc("payments"),
            Kind::Info,
            TS,
            &ids,
            &mut out,
            &mut scratch,
        );
        assert_eq!(out, "INFO request_id: r1 user_id: u2 payment authorized");
        let r = render(
            &mut rng,
            &svc("gateway"),
            Kind::Access(502),
            TS,
            &ids,
            &mut out,
            &mut scratch,
        );
        assert!(
            out.contains("[15/Jan/2024:10:30:00 +0000]") && out.contains(" 502 "),
            "{out}"
        );
        assert!(out.ends_with(" request_id=r1"));
        assert_eq!(r.level, None);
    }

    #[test]
    fn traces_are_multi_line_with_documented_shapes() {
        let (mut rng, mut out, mut scratch) = (Rng::new(3), String::new(), String::new());
        let ids = Ids::default();
        let r = render(
            &mut rng,
            &svc("auth"),
            Kind::Trace(1),
            TS,
            &ids,
            &mut out,
            &mut scratch,
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "Traceback (most recent call last):");
        assert!(lines[1].starts_with("  File \"/app/auth/"));
        assert!(lines.last().expect("line").contains(": connection to "));
        assert!(r.multiline && r.level == Some(Level::Error));
        let r = render(
            &mut rng,
            &svc("payments"),
            Kind::Trace(2),
            TS,
            &ids,
            &mut out,
            &mut scratch,
        );
        assert!(out.starts_with("Exception in thread \"main\" java."));
        assert!(out.lines().skip(1).all(|l| l.starts_with("\tat ")
            || l.starts_with("Caused by: ")
            || l.starts_with("\t... ")));
        assert!(r.multiline);
        let r = render(
            &mut rng,
            &svc("inventory"),
            Kind::Trace(0),
            TS,
            &ids,
            &mut out,
            &mut scratch,
        );
        assert!(out.starts_with("panic: user "));
        assert!(out.lines().nth(1).expect("line").starts_with("goroutine "));
        assert_eq!(r.level, Some(Level::Fatal));
    }
}

//! Multi-line error events: Python tracebacks, Java stack traces and Go panics.

use crate::fleet::{Service, Trace};
use crate::render::Rendered;
use crate::rng::Rng;
use crate::templates;
use logmind_protocol::Level;
use std::fmt::Write as _;

const PY_EXC: &[&str] = &[
    "ValueError",
    "RuntimeError",
    "ConnectionError",
    "TimeoutError",
    "LookupError",
];
const JAVA_EXC: &[&str] = &[
    "java.lang.IllegalStateException",
    "java.lang.RuntimeException",
    "java.util.concurrent.TimeoutException",
    "java.io.UncheckedIOException",
];
const JAVA_CAUSE: &[&str] = &[
    "java.net.SocketTimeoutException: Read timed out",
    "java.sql.SQLTransientConnectionException: pool exhausted",
    "java.io.IOException: Broken pipe",
];
fn java_class(svc: &Service) -> &'static str {
    if svc.app == "payments" {
        "com.example.payments.PaymentService"
    } else {
        "com.example.billing.ChargeJob"
    }
}

pub(crate) fn push_java_frames(rng: &mut Rng, svc: &Service, out: &mut String) {
    let class = java_class(svc);
    let short = class.rsplit('.').next().unwrap_or(class);
    let _ = write!(
        out,
        "\n\tat {class}.charge({short}.java:{})",
        rng.range(20, 400)
    );
    let _ = write!(
        out,
        "\n\tat {class}.process({short}.java:{})",
        rng.range(20, 400)
    );
    out.push_str("\n\tat java.base/java.lang.Thread.run(Thread.java:833)");
}

pub(crate) fn render_trace(
    rng: &mut Rng,
    svc: &Service,
    t: usize,
    out: &mut String,
    scratch: &mut String,
) -> Rendered {
    templates::render(rng, t, scratch);
    let mut level = Level::Error;
    let framing: String;
    match svc.trace {
        Trace::Python => {
            out.push_str("Traceback (most recent call last):");
            let frames = rng.range(2, 4);
            for f in 0..frames {
                let (file, func) = [
                    ("handlers", "login"),
                    ("store", "load"),
                    ("session", "decode"),
                    ("db", "fetch"),
                ][f as usize % 4];
                let _ = write!(
                    out,
                    "\n  File \"/app/{}/{file}.py\", line {}, in {func}\n    result = {func}(request)",
                    svc.app,
                    rng.range(10, 300)
                );
            }
            let exc = rng.pick(PY_EXC);
            framing = format!("{exc}: ");
            let _ = write!(out, "\n{exc}: {scratch}");
        }
        Trace::GoPanic => {
            level = Level::Fatal;
            framing = "panic: ".to_string();
            let _ = write!(
                out,
                "panic: {scratch}\ngoroutine {} [running]:",
                rng.range(1, 80)
            );
            let _ = write!(
                out,
                "\nmain.(*Store).Reserve(0xc000{:06x}, {{0xc00001a0f0, 0x8}})\n\t/src/{}/store.go:{} +0x1d4",
                rng.below(1 << 24),
                svc.app,
                rng.range(20, 300)
            );
            let _ = write!(
                out,
                "\nmain.main()\n\t/src/{}/main.go:{} +0x65",
                svc.app,
                rng.range(10, 80)
            );
        }
        Trace::Java | Trace::None => {
            // One group per template across exception classes: the class is a variable of the headline
            // (a template miner sees `Exception in thread "main" <*>: …` with only the class changing).
            framing = "Exception in thread \"main\" <*>: ".to_string();
            let _ = write!(
                out,
                "Exception in thread \"main\" {}: {scratch}",
                rng.pick(JAVA_EXC)
            );
            push_java_frames(rng, svc, out);
            if rng.chance(0.5) {
                let _ = write!(out, "\nCaused by: {}", rng.pick(JAVA_CAUSE));
                out.push_str(
                    "\n\tat java.base/java.net.SocketInputStream.read(SocketInputStream.java:168)",
                );
                let _ = write!(out, "\n\t... {} more", rng.range(2, 9));
            }
        }
    }
    Rendered {
        level: Some(level),
        stderr: true,
        template: Some(t),
        multiline: true,
        framing: Some(framing),
    }
}

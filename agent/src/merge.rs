//! Merging: the size-capped buffer that joins pieces and lines into one event, and the multi-line rules that
//! decide whether a logical line opens a new event or continues the one before it. Pure and clock-free; the
//! per-stream state machine that uses these lives in [`crate::assemble`].

use regex::Regex;

/// Which multi-line shapes are joined into one event.
#[derive(Debug, Clone)]
pub struct MultilineRules {
    /// Python tracebacks: `Traceback (most recent call last):` through the exception line, as their own event
    /// (chained tracebacks, `During handling of the above exception…`, included).
    pub python: bool,
    /// JVM stack traces: `\tat …`, `    at …`, `Caused by: …`, `\t... N more`, `Suppressed: …` and a
    /// `pkg.SomeException: …` line continue the event before them.
    pub java: bool,
    /// Go panics: `panic: …` / `fatal error: …` open an event that `goroutine N [state]:`, frame lines, tab-indented
    /// file lines, `created by …`, `exit status N` and blank lines continue.
    pub go: bool,
    /// Custom rules: a line matching `.0` opens an event that following lines matching `.1` continue.
    pub custom: Vec<(Regex, Regex)>,
}

impl Default for MultilineRules {
    fn default() -> Self {
        MultilineRules {
            python: true,
            java: true,
            go: true,
            custom: Vec::new(),
        }
    }
}

impl MultilineRules {
    /// No multi-line joining at all: every logical line is its own event.
    pub fn none() -> Self {
        MultilineRules {
            python: false,
            java: false,
            go: false,
            custom: Vec::new(),
        }
    }

    /// True when a plain line must wait for the next line (something may continue it).
    pub fn plain_lines_wait(&self) -> bool {
        self.java
    }
}

/// The kind of event being built, which decides what may continue it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// An ordinary line (JVM continuation lines may follow).
    Plain,
    /// A Python traceback, waiting for its exception line.
    Python,
    /// A Python traceback past its exception line: a chained traceback (`During handling of the above
    /// exception…` / `The above exception was the direct cause…`) may still follow.
    PythonEnd,
    /// A Python traceback after a chaining sentence, waiting for the next `Traceback …` line.
    PythonChain,
    /// A Go panic.
    Go,
    /// Opened by custom rule `i`.
    Custom(usize),
}

/// What to do with a new logical line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Append it to the pending event and keep waiting.
    Continue,
    /// Append it to the pending event, which continues in this mode.
    ContinueAs(Mode),
    /// Emit the pending event (if any) and open a new one of this mode with the line.
    Start(Mode),
}

/// Decides how `line` relates to the pending event of mode `pending` (`None` when nothing is pending).
pub fn classify(rules: &MultilineRules, pending: Option<Mode>, line: &str) -> Step {
    let b = line.as_bytes();
    match pending {
        Some(Mode::Python) => {
            // Indented frame lines continue; the first non-indented line is the exception line.
            return if matches!(b.first(), Some(b' ' | b'\t')) {
                Step::Continue
            } else {
                Step::ContinueAs(Mode::PythonEnd)
            };
        }
        Some(Mode::PythonEnd) => {
            if b.is_empty() {
                return Step::Continue;
            }
            if b.starts_with(b"During handling of the above exception")
                || b.starts_with(b"The above exception was the direct cause")
            {
                return Step::ContinueAs(Mode::PythonChain);
            }
        }
        Some(Mode::PythonChain) => {
            if b.is_empty() {
                return Step::Continue;
            }
            if b.starts_with(b"Traceback (most recent call last):") {
                return Step::ContinueAs(Mode::Python);
            }
        }
        _ => {}
    }
    if rules.python && b.starts_with(b"Traceback (most recent call last):") {
        return Step::Start(Mode::Python);
    }
    if pending == Some(Mode::Go) && is_go_continuation(b) {
        return Step::Continue;
    }
    if rules.go && (b.starts_with(b"panic: ") || b.starts_with(b"fatal error: ")) {
        return Step::Start(Mode::Go);
    }
    if let Some(mode) = pending {
        if let Mode::Custom(i) = mode {
            if rules
                .custom
                .get(i)
                .is_some_and(|(_, cont)| cont.is_match(line))
            {
                return Step::Continue;
            }
        }
        if rules.java && is_java_continuation(b) {
            return Step::Continue;
        }
    }
    for (i, (start, _)) in rules.custom.iter().enumerate() {
        if start.is_match(line) {
            return Step::Start(Mode::Custom(i));
        }
    }
    Step::Start(Mode::Plain)
}

/// JVM stack-trace continuation lines.
pub fn is_java_continuation(b: &[u8]) -> bool {
    match b.first() {
        Some(b'\t') => {
            let t = trim_start(b);
            t.starts_with(b"at ")
                || t.starts_with(b"... ")
                || t.starts_with(b"Caused by: ")
                || t.starts_with(b"Suppressed: ")
                || t.starts_with(b"Wrapped by: ")
        }
        Some(b' ') => {
            let t = trim_start(b);
            let indent = b.len() - t.len();
            (indent >= 4 && t.starts_with(b"at "))
                || (indent >= 2 && t.starts_with(b"... ") && t.ends_with(b" more"))
                || t.starts_with(b"Caused by: ")
                || t.starts_with(b"Suppressed: ")
        }
        Some(b'C') => b.starts_with(b"Caused by: "),
        Some(_) => is_java_exception_header(b),
        None => false,
    }
}

/// `java.lang.IllegalStateException: boom` / `com.x.FooError` — a fully-qualified throwable class name first.
fn is_java_exception_header(b: &[u8]) -> bool {
    let end = b
        .iter()
        .position(|&c| c == b':' || c == b' ')
        .unwrap_or(b.len());
    if end < b.len() && (b[end] != b':' || b.get(end + 1).is_some_and(|&c| c != b' ')) {
        return false;
    }
    let name = &b[..end];
    let dotted = name.contains(&b'.')
        && name
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'$');
    dotted
        && (name.ends_with(b"Exception")
            || name.ends_with(b"Error")
            || name.ends_with(b"Throwable"))
}

/// Lines of a Go panic after its first line.
pub fn is_go_continuation(b: &[u8]) -> bool {
    if b.is_empty() || matches!(b[0], b'\t' | b' ') {
        return true;
    }
    if b.starts_with(b"goroutine ")
        || b.starts_with(b"created by ")
        || b.starts_with(b"exit status ")
    {
        return true;
    }
    if b.starts_with(b"[signal ") || b.starts_with(b"panic: ") || b.starts_with(b"...") {
        return true;
    }
    // A frame's function line: `main.main()`, `net/http.(*conn).serve(0xc0000a4000, {0x6f5d28, 0xc00007e180})`.
    if b.ends_with(b")") {
        if let Some(p) = b.iter().position(|&c| c == b'(') {
            let head = &b[..p];
            return !head.is_empty() && head.contains(&b'.') && !head.contains(&b' ');
        }
    }
    false
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&c| c == b' ' || c == b'\t').count();
    &b[n..]
}

/// A size-capped text buffer: keeps a prefix of at most `cap` bytes (cut on a character boundary) and counts
/// what it had to discard, without ever holding it.
#[derive(Debug, Default, Clone)]
pub struct CapBuf {
    /// The kept text.
    pub text: String,
    /// Bytes discarded because of the cap.
    pub dropped: u64,
}

impl CapBuf {
    /// A buffer holding `s` (capped).
    pub fn with(s: &str, cap: usize) -> Self {
        let mut b = CapBuf::default();
        b.push(s, cap);
        b
    }

    /// A buffer holding `s` (capped), taking an owned string over without a copy when it fits.
    pub fn from_cow(s: std::borrow::Cow<'_, str>, cap: usize) -> Self {
        match s {
            std::borrow::Cow::Owned(text) if text.len() <= cap => CapBuf { text, dropped: 0 },
            s => CapBuf::with(&s, cap),
        }
    }

    /// Appends `s`, keeping at most `cap` bytes in total; once anything was discarded, everything after it is
    /// discarded too so the kept text is always a prefix of the event.
    pub fn push(&mut self, s: &str, cap: usize) {
        if self.dropped > 0 {
            self.dropped += s.len() as u64;
            return;
        }
        let room = cap.saturating_sub(self.text.len());
        if s.len() <= room {
            self.text.push_str(s);
            return;
        }
        let mut n = room;
        while n > 0 && !s.is_char_boundary(n) {
            n -= 1;
        }
        self.text.push_str(&s[..n]);
        self.dropped += (s.len() - n) as u64;
    }

    /// Appends a `\n` and then `s`.
    pub fn push_line(&mut self, s: &str, cap: usize) {
        self.push("\n", cap);
        self.push(s, cap);
    }

    /// True when part of the event was discarded.
    pub fn truncated(&self) -> bool {
        self.dropped > 0
    }

    /// The final message, with ` …[truncated N bytes]` appended when something was discarded.
    pub fn finish(mut self) -> (String, bool) {
        if self.dropped > 0 {
            use std::fmt::Write;
            let _ = write!(self.text, " …[truncated {} bytes]", self.dropped);
            (self.text, true)
        } else {
            (self.text, false)
        }
    }
}

/// Appends `content` to `raw` keeping at most `cap` bytes in total, cut on a UTF-8 character boundary; returns
/// the number of bytes discarded.
pub fn append_capped(raw: &mut Vec<u8>, content: &[u8], cap: usize) -> u64 {
    let old = raw.len();
    raw.extend_from_slice(&content[..content.len().min(cap.saturating_add(4).saturating_sub(old))]);
    truncate_on_boundary(raw, cap);
    (old + content.len() - raw.len()) as u64
}

/// Truncates `raw` to at most `cap` bytes, backing off (at most 3 bytes) so no UTF-8 sequence is split.
pub fn truncate_on_boundary(raw: &mut Vec<u8>, cap: usize) {
    if raw.len() > cap {
        let mut n = cap;
        while n > 0 && cap - n < 3 && (raw[n] & 0xC0) == 0x80 {
            n -= 1;
        }
        raw.truncate(n);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn steps(rules: &MultilineRules, lines: &[&str]) -> Vec<Step> {
        let mut pending = None;
        let mut out = Vec::new();
        for l in lines {
            let s = classify(rules, pending, l);
            pending = match s {
                Step::Continue => pending,
                Step::ContinueAs(m) | Step::Start(m) => Some(m),
            };
            out.push(s);
        }
        out
    }

    #[test]
    fn python_traceback_ends_after_exception_line() {
        let r = MultilineRules::default();
        let s = steps(
            &r,
            &[
                "Traceback (most recent call last):",
                "  File \"x.py\", line 1, in <module>",
                "    f()",
                "ValueError: bad",
                "next",
            ],
        );
        use Step::*;
        assert_eq!(
            s,
            vec![
                Start(Mode::Python),
                Continue,
                Continue,
                ContinueAs(Mode::PythonEnd),
                Start(Mode::Plain)
            ]
        );
    }

    #[test]
    fn chained_python_tracebacks_stay_one_event() {
        let r = MultilineRules::default();
        use Step::*;
        let s = steps(
            &r,
            &[
                "Traceback (most recent call last):",
                "  File \"x.py\", line 1, in <module>",
                "KeyError: 'a'",
                "",
                "During handling of the above exception, another exception occurred:",
                "",
                "Traceback (most recent call last):",
                "  File \"x.py\", line 3, in <module>",
                "ValueError: b",
                "",
                "Traceback (most recent call last):",
            ],
        );
        assert_eq!(
            s,
            vec![
                Start(Mode::Python),
                Continue,
                ContinueAs(Mode::PythonEnd),
                Continue,
                ContinueAs(Mode::PythonChain),
                Continue,
                ContinueAs(Mode::Python),
                Continue,
                ContinueAs(Mode::PythonEnd),
                Continue,
                Start(Mode::Python),
            ]
        );
    }

    #[test]
    fn java_lines_continue_any_event() {
        let r = MultilineRules::default();
        for l in [
            "\tat com.x.Foo.bar(Foo.java:10)",
            "    at com.x.Foo.bar(Foo.java:10)",
            "Caused by: java.io.IOException: x",
            "\t... 12 more",
            "java.lang.IllegalStateException: boom",
            "com.acme.SomeError",
        ] {
            assert_eq!(classify(&r, Some(Mode::Plain), l), Step::Continue, "{l}");
        }
        for l in [
            "at the end",
            "  at x",
            "Exception in thread \"main\" x",
            "hello.world is nice",
        ] {
            assert_eq!(
                classify(&r, Some(Mode::Plain), l),
                Step::Start(Mode::Plain),
                "{l}"
            );
        }
        let off = MultilineRules::none();
        assert_eq!(
            classify(&off, Some(Mode::Plain), "\tat x.y(Z.java:1)"),
            Step::Start(Mode::Plain)
        );
    }

    #[test]
    fn go_panic_frames_continue() {
        let r = MultilineRules::default();
        use Step::*;
        let s = steps(
            &r,
            &[
                "panic: runtime error: index out of range [5] with length 3",
                "",
                "goroutine 1 [running]:",
                "main.main()",
                "\t/tmp/x.go:8 +0x1d",
                "net/http.(*conn).serve(0xc0000a4000, {0x6f5d28, 0xc00007e180})",
                "created by net/http.(*Server).Serve in goroutine 1",
                "exit status 2",
                "server started",
            ],
        );
        assert_eq!(s[0], Start(Mode::Go));
        assert!(s[1..8].iter().all(|s| *s == Continue), "{s:?}");
        assert_eq!(s[8], Start(Mode::Plain));
    }

    #[test]
    fn custom_rules_open_and_continue() {
        let r = MultilineRules {
            custom: vec![(Regex::new(r"^BEGIN").unwrap(), Regex::new(r"^\+").unwrap())],
            ..MultilineRules::none()
        };
        use Step::*;
        let s = steps(&r, &["BEGIN x", "+a", "+b", "other", "+c"]);
        assert_eq!(
            s,
            vec![
                Start(Mode::Custom(0)),
                Continue,
                Continue,
                Start(Mode::Plain),
                Start(Mode::Plain)
            ]
        );
    }

    #[test]
    fn capbuf_keeps_prefix_on_char_boundary() {
        let mut b = CapBuf::with("héllo", 2);
        assert_eq!(b.text, "h");
        assert_eq!(b.dropped, 5);
        b.push_line("more", 2);
        assert_eq!(b.dropped, 10);
        let (m, t) = b.finish();
        assert!(t);
        assert_eq!(m, "h …[truncated 10 bytes]");
    }
}

//! Tests of the [`Assembler`]: partial pieces, Docker 16 KiB pieces, truncation, invalid UTF-8, malformed lines,
//! multi-line over interleaved streams and the flush deadline (property tests in `props.rs`).

use super::*;

pub(super) const T0: &str = "2024-12-04T10:00:00.000000001Z";

pub(super) fn opts(max: usize, multiline: MultilineRules) -> Arc<AssembleOptions> {
    Arc::new(AssembleOptions {
        max_event_bytes: max,
        multiline,
        multiline_timeout: Duration::from_millis(500),
    })
}

pub(super) fn cri(stream: &str, tag: &str, content: &str) -> Vec<u8> {
    format!("{T0} {stream} {tag} {content}").into_bytes()
}

pub(super) fn docker(stream: &str, log: &str) -> Vec<u8> {
    let log = serde_json::to_string(log).unwrap();
    format!(r#"{{"log":{log},"stream":"{stream}","attrs":{{"tag":"x"}},"time":"{T0}"}}"#)
        .into_bytes()
}

/// Feeds `lines` to `a` as consecutive lines of one file from offset 0 (offsets as if joined by `\n`).
pub(super) fn feed(a: &mut Assembler, lines: &[Vec<u8>], out: &mut Vec<Event>) {
    let now = Instant::now();
    let mut off = 0u64;
    for l in lines {
        a.push(
            RawLine {
                offset: off,
                bytes: l,
            },
            now,
            out,
        );
        off += l.len() as u64 + 1;
    }
}

/// Feeds `lines` as consecutive lines of one file (offsets as if joined by `\n`), then flushes everything.
pub(super) fn run(
    format: Format,
    o: Arc<AssembleOptions>,
    lines: &[Vec<u8>],
) -> (Vec<Event>, AssembleStats) {
    let mut a = Assembler::new(format, o);
    let mut out = Vec::new();
    feed(&mut a, lines, &mut out);
    a.flush_all(&mut out);
    assert_eq!(a.pending_offset(), None);
    (out, a.stats().clone())
}

pub(super) fn messages(ev: &[Event]) -> Vec<&str> {
    ev.iter().map(|e| e.message.as_str()).collect()
}

#[test]
fn cri_partial_pieces_merge_until_f() {
    let lines = [
        cri("stdout", "P", "hel"),
        cri("stdout", "P:x", "lo "),
        cri("stdout", "F", "world"),
    ];
    let (ev, st) = run(Format::Cri, opts(1 << 20, MultilineRules::none()), &lines);
    assert_eq!(messages(&ev), ["hello world"]);
    assert_eq!(ev[0].offset, 0);
    assert_eq!(
        ev[0].end_offset,
        lines.iter().map(|l| l.len() as u64 + 1).sum::<u64>()
    );
    assert_eq!(ev[0].ts, 1_733_306_400_000_000_001);
    assert_eq!(st.partial_merged, 2);
}

#[test]
fn docker_16k_pieces_merge() {
    let long: String = (0..40_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let full = format!("{long}\n");
    let pieces: Vec<Vec<u8>> = full
        .as_bytes()
        .chunks(16 * 1024)
        .map(|c| docker("stderr", std::str::from_utf8(c).unwrap()))
        .collect();
    assert_eq!(pieces.len(), 3);
    let mut lines = pieces.clone();
    lines.push(docker("stderr", "next\n"));
    let (ev, st) = run(
        Format::Docker,
        opts(1 << 20, MultilineRules::none()),
        &lines,
    );
    assert_eq!(messages(&ev), [long.as_str(), "next"]);
    assert_eq!(ev[0].stream, Stream::Stderr);
    assert_eq!(ev[1].offset, ev[0].end_offset);
    assert_eq!(st.partial_merged, 2);
}

#[test]
fn over_long_events_are_truncated_with_a_marker() {
    let o = opts(10, MultilineRules::none());
    let (ev, st) = run(
        Format::Cri,
        o.clone(),
        &[cri("stdout", "F", &"x".repeat(100))],
    );
    assert_eq!(
        messages(&ev),
        [format!("{} …[truncated 90 bytes]", "x".repeat(10))]
    );
    assert!(ev[0].truncated);
    assert_eq!(st.truncated, 1);
    // Across pieces, and on a character boundary.
    let (ev, _) = run(
        Format::Cri,
        o.clone(),
        &[cri("stdout", "P", "ééééé"), cri("stdout", "F", "abcdef")],
    );
    assert_eq!(messages(&ev), ["ééééé …[truncated 6 bytes]"]);
    let (ev, _) = run(
        Format::Docker,
        o.clone(),
        &[docker("stdout", "0123456789é"), docker("stdout", "abc\n")],
    );
    assert_eq!(messages(&ev), ["0123456789 …[truncated 5 bytes]"]);
    // Across multi-line joins.
    let (ev, _) = run(
        Format::Cri,
        opts(10, MultilineRules::default()),
        &[
            cri("stdout", "F", "Error x"),
            cri("stdout", "F", "\tat a.B(C.java:1)"),
        ],
    );
    assert_eq!(messages(&ev), ["Error x\n\ta …[truncated 15 bytes]"]);
}

#[test]
fn the_rest_of_an_over_long_event_is_not_buffered() {
    for format in [Format::Cri, Format::Docker] {
        let mut a = Assembler::new(format, opts(100, MultilineRules::default()));
        let mut out = Vec::new();
        let now = Instant::now();
        let chunk = "y".repeat(1024);
        let mut off = 0;
        for i in 0..1000 {
            let l = match format {
                Format::Cri => cri("stderr", "P", &chunk),
                Format::Docker => docker("stderr", &chunk),
            };
            a.push(
                RawLine {
                    offset: off,
                    bytes: &l,
                },
                now,
                &mut out,
            );
            off += l.len() as u64 + 1;
            let held = a.streams[1].piece.as_ref().map_or(0, |p| p.raw.capacity());
            assert!(held <= 2 * 1024 + 104, "piece {i} holds {held} bytes");
        }
        // Then Java continuation lines, also past the cap.
        for l in [
            cri("stderr", "F", "end"),
            cri("stderr", "F", &format!("\tat {chunk}")),
        ] {
            let l = if format == Format::Docker {
                docker(
                    "stderr",
                    &format!("{}\n", String::from_utf8_lossy(&l[T0.len() + 10..])),
                )
            } else {
                l
            };
            a.push(
                RawLine {
                    offset: off,
                    bytes: &l,
                },
                now,
                &mut out,
            );
            off += l.len() as u64 + 1;
        }
        assert!(a.streams[1]
            .pending
            .as_ref()
            .is_some_and(|p| p.buf.text.len() <= 100));
        a.flush_all(&mut out);
        assert_eq!(out.len(), 1);
        let dropped = 1000 * 1024 + 3 + 1 + 1024 + 4 - 100;
        assert_eq!(
            out[0].message,
            format!("{} …[truncated {dropped} bytes]", "y".repeat(100))
        );
        assert_eq!(a.stats().truncated, 1);
    }
}

#[test]
fn invalid_utf8_is_replaced_not_dropped() {
    let mut l = cri("stdout", "F", "a");
    l.extend_from_slice(b"\xff\xfeb");
    let (ev, st) = run(Format::Cri, opts(1 << 20, MultilineRules::none()), &[l]);
    assert_eq!(messages(&ev), ["a\u{fffd}\u{fffd}b"]);
    assert_eq!(st.invalid_utf8, 1);
    // A character split across two pieces is not invalid.
    let e = "é".as_bytes();
    let mut p1 = cri("stdout", "P", "x");
    p1.push(e[0]);
    let mut p2 = format!("{T0} stdout F ").into_bytes();
    p2.push(e[1]);
    let (ev, st) = run(
        Format::Cri,
        opts(1 << 20, MultilineRules::none()),
        &[p1, p2],
    );
    assert_eq!(messages(&ev), ["xé"]);
    assert_eq!(st.invalid_utf8, 0);
}

#[test]
fn malformed_lines_are_emitted_with_the_last_timestamp() {
    let lines = [
        b"garbage first".to_vec(),
        cri("stderr", "F", "ok"),
        b"{not json".to_vec(),
    ];
    let (ev, st) = run(Format::Cri, opts(1 << 20, MultilineRules::none()), &lines);
    assert_eq!(messages(&ev), ["garbage first", "ok", "{not json"]);
    assert_eq!(ev[0].ts, 0);
    assert_eq!(ev[2].ts, 1_733_306_400_000_000_001);
    assert_eq!(st.malformed, 2);
    let (ev, st) = run(
        Format::Docker,
        opts(1 << 20, MultilineRules::none()),
        &[docker("stdout", "a\n"), b"\xffjunk".to_vec()],
    );
    assert_eq!(messages(&ev), ["a", "\u{fffd}junk"]);
    assert_eq!(st.malformed, 1);
}

#[test]
fn malformed_line_flushes_stdout_first_to_keep_offset_order() {
    let lines = [
        cri("stdout", "F", "Error"),
        cri("stdout", "P", "piece"),
        b"garbage".to_vec(),
    ];
    let (ev, _) = run(
        Format::Cri,
        opts(1 << 20, MultilineRules::default()),
        &lines,
    );
    assert_eq!(messages(&ev), ["Error", "piece", "garbage"]);
    assert!(ev.windows(2).all(|w| w[0].offset < w[1].offset));
}

#[test]
fn traceback_on_stdout_while_stderr_lines_arrive() {
    let lines = [
        cri("stdout", "F", "handling request"),
        cri("stdout", "F", "Traceback (most recent call last):"),
        cri("stderr", "F", "unrelated stderr line"),
        cri("stdout", "F", "  File \"app.py\", line 3, in <module>"),
        cri(
            "stderr",
            "F",
            "Exception in thread \"main\" java.lang.RuntimeException: x",
        ),
        cri("stdout", "F", "    main()"),
        cri("stderr", "F", "\tat a.B.c(B.java:1)"),
        cri("stdout", "F", "ValueError: bad input"),
        cri("stdout", "F", "after"),
    ];
    let (ev, st) = run(
        Format::Cri,
        opts(1 << 20, MultilineRules::default()),
        &lines,
    );
    let by = |s: Stream| {
        ev.iter()
            .filter(|e| e.stream == s)
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        by(Stream::Stdout),
        [
            "handling request",
            "Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n    main()\nValueError: bad input",
            "after"
        ]
    );
    assert_eq!(
        by(Stream::Stderr),
        [
            "unrelated stderr line",
            "Exception in thread \"main\" java.lang.RuntimeException: x\n\tat a.B.c(B.java:1)"
        ]
    );
    assert_eq!(st.multiline_merged, 4);
    let tb = ev
        .iter()
        .find(|e| e.message.starts_with("Traceback"))
        .unwrap();
    let start: u64 = lines[..1].iter().map(|l| l.len() as u64 + 1).sum();
    let end: u64 = lines[..8].iter().map(|l| l.len() as u64 + 1).sum();
    assert_eq!((tb.offset, tb.end_offset), (start, end));
}

#[test]
fn chained_python_traceback_is_one_event_without_trailing_blank_lines() {
    let text = "Traceback (most recent call last):\n  File \"a.py\", line 2, in <module>\nKeyError: 'k'\n\nThe above exception was the direct cause of the following exception:\n\nTraceback (most recent call last):\n  File \"a.py\", line 4, in <module>\nRuntimeError: lookup failed";
    let mut lines: Vec<Vec<u8>> = text.lines().map(|l| cri("stderr", "F", l)).collect();
    lines.push(cri("stderr", "F", ""));
    lines.push(cri("stderr", "F", "INFO recovered"));
    let (ev, _) = run(
        Format::Cri,
        opts(1 << 20, MultilineRules::default()),
        &lines,
    );
    assert_eq!(messages(&ev), [text, "INFO recovered"]);
    assert_eq!(ev[1].offset, ev[0].end_offset);
}

#[test]
fn go_panic_is_one_event() {
    let text = "panic: runtime error: invalid memory address\n[signal SIGSEGV: segmentation violation]\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:12 +0x1d\nexit status 2";
    let mut lines: Vec<Vec<u8>> = vec![cri("stderr", "F", "starting")];
    lines.extend(text.lines().map(|l| cri("stderr", "F", l)));
    lines.push(cri("stderr", "F", ""));
    lines.push(cri("stderr", "F", "restarted"));
    let (ev, _) = run(
        Format::Cri,
        opts(1 << 20, MultilineRules::default()),
        &lines,
    );
    assert_eq!(messages(&ev), ["starting", text, "restarted"]);
}

#[test]
fn flush_deadline_emits_waiting_events() {
    let o = opts(1 << 20, MultilineRules::default());
    let mut a = Assembler::new(Format::Cri, o);
    let mut out = Vec::new();
    let t = Instant::now();
    let l1 = cri("stdout", "F", "Exception in thread \"main\" x.Y: z");
    let l2 = cri("stdout", "F", "\tat a.B.c(B.java:1)");
    let l3 = cri("stderr", "P", "half a line");
    a.push(
        RawLine {
            offset: 0,
            bytes: &l1,
        },
        t,
        &mut out,
    );
    a.push(
        RawLine {
            offset: 100,
            bytes: &l2,
        },
        t + Duration::from_millis(300),
        &mut out,
    );
    a.push(
        RawLine {
            offset: 200,
            bytes: &l3,
        },
        t + Duration::from_millis(400),
        &mut out,
    );
    assert_eq!(a.pending_offset(), Some(0));
    a.flush_expired(t + Duration::from_millis(799), &mut out);
    assert!(out.is_empty(), "nothing expired yet: {out:?}");
    a.flush_expired(t + Duration::from_millis(800), &mut out);
    assert_eq!(
        messages(&out),
        ["Exception in thread \"main\" x.Y: z\n\tat a.B.c(B.java:1)"]
    );
    assert_eq!(a.pending_offset(), Some(200));
    a.flush_expired(t + Duration::from_millis(900), &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].message, "half a line");
    assert_eq!(out[1].end_offset, 200 + l3.len() as u64 + 1);
    assert_eq!(a.pending_offset(), None);
}

#[test]
fn plain_lines_are_emitted_at_once_without_java_rules() {
    let rules = MultilineRules {
        java: false,
        ..MultilineRules::default()
    };
    let mut a = Assembler::new(Format::Cri, opts(1 << 20, rules));
    let mut out = Vec::new();
    a.push(
        RawLine {
            offset: 0,
            bytes: &cri("stdout", "F", "hello"),
        },
        Instant::now(),
        &mut out,
    );
    assert_eq!(messages(&out), ["hello"]);
    assert_eq!(a.pending_offset(), None);
}

//! Property tests of the [`Assembler`]: arbitrary bytes, piece split/merge, `pending_offset` invariants and
//! restart replay from a checkpoint.

use super::tests::{cri, docker, messages, opts, run, T0};
use super::*;
use proptest::prelude::*;

/// Every physical line lies inside exactly one event span (`offset..end_offset`) of its own stream (stdout for a
/// malformed line): nothing dropped, nothing duplicated.
fn covers_every_line_once(
    format: Format,
    lines: &[Vec<u8>],
    events: &[Event],
) -> Result<(), TestCaseError> {
    let mut off = 0u64;
    for l in lines {
        let stream = match format {
            Format::Cri => crate::decode::decode_cri(l).map(|c| c.stream),
            Format::Docker => crate::decode::decode_docker(l).map(|d| d.stream),
        }
        .unwrap_or(Stream::Stdout);
        let n = events
            .iter()
            .filter(|e| e.stream == stream && e.offset <= off && off < e.end_offset)
            .count();
        prop_assert_eq!(
            n,
            1,
            "line at {} ({:?}) is in {} events",
            off,
            String::from_utf8_lossy(l),
            n
        );
        off += l.len() as u64 + 1;
    }
    Ok(())
}

/// Lines drawn from shapes that exercise every rule.
fn arb_content() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z ]{0,20}",
        Just("Traceback (most recent call last):".to_string()),
        Just("  File \"x.py\", line 1".to_string()),
        Just("ValueError: x".to_string()),
        Just("During handling of the above exception, another exception occurred:".to_string()),
        Just("\tat a.B.c(B.java:1)".to_string()),
        Just("Caused by: java.io.IOException".to_string()),
        Just("panic: boom".to_string()),
        Just("goroutine 1 [running]:".to_string()),
        Just(String::new()),
        "[é€😀a]{1,6}",
    ]
}

/// A random physical line: CRI on either stream, F or P, or garbage.
fn arb_line() -> impl Strategy<Value = Vec<u8>> {
    (0u8..10, any::<bool>(), any::<bool>(), arb_content()).prop_map(|(kind, err, partial, c)| {
        match kind {
            0 => format!("garbage {c}").into_bytes(),
            _ => cri(
                if err { "stderr" } else { "stdout" },
                if partial && kind < 4 { "P" } else { "F" },
                &c,
            ),
        }
    })
}

/// Feeds lines with time advancing, occasionally flushing expired events; returns all events and, per step,
/// the pending offset before the step.
fn drive(
    a: &mut Assembler,
    lines: &[Vec<u8>],
    start_off: u64,
    first: usize,
    flush_every: usize,
    out: &mut Vec<Event>,
) {
    let t = Instant::now();
    let mut off = start_off;
    for (i, l) in lines.iter().enumerate() {
        let now = t + Duration::from_millis(100 * (first + i) as u64);
        let before_pending = a.pending_offset();
        let n = out.len();
        a.push(
            RawLine {
                offset: off,
                bytes: l,
            },
            now,
            out,
        );
        if flush_every > 0 && i % flush_every == 0 {
            a.flush_expired(now, out);
        }
        for e in &out[n..] {
            // Everything emitted was either buffered (at or after the pending offset) or is this line.
            let floor = before_pending.unwrap_or(off).min(off);
            assert!(
                e.offset >= floor,
                "event at {} below pending {:?}",
                e.offset,
                before_pending
            );
            assert!(e.end_offset <= off + l.len() as u64 + 1);
        }
        if let Some(p) = a.pending_offset() {
            assert!(p <= off, "pending {p} past the line just pushed at {off}");
        }
        off += l.len() as u64 + 1;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn decoders_and_assembler_never_panic_on_arbitrary_bytes(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..20)) {
        for format in [Format::Cri, Format::Docker] {
            let (ev, st) = run(format, opts(32, MultilineRules::default()), &lines);
            // Nothing is dropped: every line is in exactly one event.
            covers_every_line_once(format, &lines, &ev)?;
            prop_assert!(st.malformed as usize <= lines.len());
        }
        for l in &lines {
            let _ = crate::decode::decode_cri(l);
            let _ = crate::decode::decode_docker(l);
        }
    }

    #[test]
    fn split_pieces_merge_back(content in "[ -~é😀]{0,200}", cuts in proptest::collection::vec(0usize..200, 0..6), docker_fmt in any::<bool>()) {
        let bytes = content.as_bytes();
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        points.sort_unstable();
        points.dedup();
        let mut pieces = Vec::new();
        let mut prev = 0;
        for p in points.into_iter().chain([bytes.len()]) {
            pieces.push(&bytes[prev..p]);
            prev = p;
        }
        let n = pieces.len();
        let lines: Vec<Vec<u8>> = pieces.iter().enumerate().map(|(i, p)| {
            let last = i + 1 == n;
            if docker_fmt {
                // Docker escapes the bytes as JSON text; a piece cut inside a character is written lossily by
                // Docker too, so keep character boundaries for this format.
                let s = String::from_utf8_lossy(p);
                docker("stdout", &if last { format!("{s}\n") } else { s.into_owned() })
            } else {
                let mut l = format!("{T0} stdout {} ", if last { "F" } else { "P" }).into_bytes();
                l.extend_from_slice(p);
                l
            }
        }).collect();
        prop_assume!(!docker_fmt || pieces.iter().all(|p| std::str::from_utf8(p).is_ok()));
        let (ev, _) = run(if docker_fmt { Format::Docker } else { Format::Cri }, opts(1 << 20, MultilineRules::none()), &lines);
        prop_assert_eq!(messages(&ev), [content.as_str()]);
    }

    #[test]
    fn pending_offset_bounds_every_emitted_event(lines in proptest::collection::vec(arb_line(), 0..40), flush_every in 0usize..5) {
        let mut a = Assembler::new(Format::Cri, opts(64, MultilineRules::default()));
        let mut out = Vec::new();
        drive(&mut a, &lines, 0, 0, flush_every, &mut out);
        a.flush_all(&mut out);
        prop_assert_eq!(a.pending_offset(), None);
        // Per stream, events come out in offset order and never overlap.
        for s in Stream::ALL {
            let evs: Vec<&Event> = out.iter().filter(|e| e.stream == s).collect();
            for w in evs.windows(2) {
                prop_assert!(w[0].end_offset <= w[1].offset, "{:?} then {:?}", w[0], w[1]);
            }
        }
        covers_every_line_once(Format::Cri, &lines, &out)?;
    }

    /// Crash at a random point, restart from the checkpoint `min(pending_offset, next read offset)` with
    /// `skip_before(stream, last shipped end_offset)`: the shipped events equal those of an uninterrupted run.
    #[test]
    fn restart_from_checkpoint_replays_exactly(lines in proptest::collection::vec(arb_line(), 1..40), crash in 0usize..40) {
        let o = opts(64, MultilineRules::default());
        let (full, _) = run(Format::Cri, o.clone(), &lines);
        let crash = crash.min(lines.len());
        let offsets: Vec<u64> = lines.iter().scan(0u64, |acc, l| { let o = *acc; *acc += l.len() as u64 + 1; Some(o) }).collect();
        let mut a = Assembler::new(Format::Cri, o.clone());
        let mut shipped = Vec::new();
        drive(&mut a, &lines[..crash], 0, 0, 0, &mut shipped);
        let next = offsets.get(crash).copied().unwrap_or_else(|| offsets.last().copied().unwrap_or(0) + lines.last().map_or(0, |l| l.len() as u64 + 1));
        let checkpoint = a.pending_offset().map_or(next, |p| p.min(next));
        let mut b = Assembler::new(Format::Cri, o);
        for s in Stream::ALL {
            if let Some(end) = shipped.iter().filter(|e| e.stream == s).map(|e| e.end_offset).max() {
                b.skip_before(s, end);
            }
        }
        let from = offsets.iter().position(|&o| o >= checkpoint).unwrap_or(lines.len());
        drive(&mut b, &lines[from..], checkpoint, from, 0, &mut shipped);
        b.flush_all(&mut shipped);
        let key = |e: &Event| (e.offset, e.stream, e.message.clone());
        let mut got: Vec<_> = shipped.iter().map(key).collect();
        let mut want: Vec<_> = full.iter().map(key).collect();
        got.sort();
        want.sort();
        prop_assert_eq!(got, want);
    }
}

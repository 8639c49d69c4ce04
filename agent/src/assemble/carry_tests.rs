//! Tests of [`Assembler::hand_over`] / [`Assembler::adopt`]: events split by a rotation finished in the next file.

use super::tests::{cri, docker, feed, messages, opts};
use super::*;

const ALL: [bool; 2] = [true, true];

fn len(lines: &[Vec<u8>]) -> u64 {
    lines.iter().map(|l| l.len() as u64 + 1).sum()
}

#[test]
fn docker_piece_split_by_rotation_is_one_event_from_the_first_file() {
    let o = opts(1 << 20, MultilineRules::none());
    let a_lines = [
        docker("stdout", "before\n"),
        docker("stdout", "first half "),
    ];
    let b_lines = [
        docker("stdout", "second half\n"),
        docker("stdout", "after\n"),
    ];
    let (mut a, mut b) = (
        Assembler::new(Format::Docker, o.clone()),
        Assembler::new(Format::Docker, o),
    );
    let mut out = Vec::new();
    feed(&mut a, &a_lines, &mut out);
    assert_eq!(messages(&out), ["before"]);
    let a_id: Arc<str> = Arc::from("A");
    let piece_at = a_lines[0].len() as u64 + 1;
    assert_eq!(a.pending_offset(), Some(piece_at));
    assert!(b.is_fresh());
    let h = a.hand_over(&a_id, ALL).unwrap();
    assert_eq!(h.offsets, [(0, piece_at)]);
    assert_eq!(a.pending_offset(), None);
    assert!(!a.has_unfinished());
    b.adopt(h, Instant::now(), &mut out);
    // Adopted state holds no line of this file: it does not hold this file's checkpoint back.
    assert_eq!(b.pending_offset(), None);
    feed(&mut b, &b_lines, &mut out);
    b.flush_all(&mut out);
    assert_eq!(
        messages(&out),
        ["before", "first half second half", "after"]
    );
    let joined = &out[1];
    let c = joined.carried.as_ref().unwrap();
    assert_eq!((&*c.file, c.offset), ("A", piece_at));
    assert_eq!(c.hops, vec![(a_id, piece_at, len(&a_lines))]);
    // Its part in this file: the first line.
    assert_eq!((joined.offset, joined.end_offset), (0, len(&b_lines[..1])));
    assert!(out[2].carried.is_none());
}

#[test]
fn cri_partial_over_two_rotations_names_every_file() {
    let o = opts(1 << 20, MultilineRules::none());
    let mut out = Vec::new();
    let (a_id, b_id): (Arc<str>, Arc<str>) = (Arc::from("A"), Arc::from("B"));
    let mut a = Assembler::new(Format::Cri, o.clone());
    feed(&mut a, &[cri("stderr", "P", "one ")], &mut out);
    let mut b = Assembler::new(Format::Cri, o.clone());
    b.adopt(a.hand_over(&a_id, ALL).unwrap(), Instant::now(), &mut out);
    let b_lines = [cri("stderr", "P", "two ")];
    feed(&mut b, &b_lines, &mut out);
    assert_eq!(b.pending_offset(), Some(0));
    let h = b.hand_over(&b_id, ALL).unwrap();
    assert_eq!(h.offsets, [(1, 0)]);
    let mut c = Assembler::new(Format::Cri, o);
    c.adopt(h, Instant::now(), &mut out);
    feed(&mut c, &[cri("stderr", "F", "three")], &mut out);
    assert_eq!(messages(&out), ["one two three"]);
    let carried = out[0].carried.as_ref().unwrap();
    assert_eq!(&*carried.file, "A");
    let hops: Vec<&str> = carried.hops.iter().map(|h| &*h.0).collect();
    assert_eq!(hops, ["A", "B"]);
    assert_eq!(carried.hops[1], (b_id, 0, len(&b_lines)));
    assert_eq!(out[0].stream, Stream::Stderr);
}

#[test]
fn java_trace_split_by_rotation_is_joined() {
    let o = opts(1 << 20, MultilineRules::default());
    let mut out = Vec::new();
    let mut a = Assembler::new(Format::Cri, o.clone());
    feed(
        &mut a,
        &[
            cri("stdout", "F", "java.lang.IllegalStateException: boom"),
            cri("stdout", "F", "\tat com.example.A.run(A.java:1)"),
        ],
        &mut out,
    );
    assert!(out.is_empty());
    let mut b = Assembler::new(Format::Cri, o);
    b.adopt(
        a.hand_over(&Arc::from("A"), ALL).unwrap(),
        Instant::now(),
        &mut out,
    );
    feed(
        &mut b,
        &[
            cri("stdout", "F", "\tat com.example.B.run(B.java:2)"),
            cri("stdout", "F", "next event"),
        ],
        &mut out,
    );
    b.flush_all(&mut out);
    assert_eq!(
        messages(&out),
        [
            "java.lang.IllegalStateException: boom\n\tat com.example.A.run(A.java:1)\n\tat com.example.B.run(B.java:2)",
            "next event"
        ]
    );
    assert_eq!(out[0].carried.as_ref().unwrap().offset, 0);
}

#[test]
fn waiting_line_handed_over_and_flushed_without_lines_of_the_new_file() {
    let o = opts(1 << 20, MultilineRules::default());
    let mut out = Vec::new();
    let mut a = Assembler::new(Format::Cri, o.clone());
    feed(&mut a, &[cri("stdout", "F", "last line")], &mut out);
    let mut b = Assembler::new(Format::Cri, o);
    b.adopt(
        a.hand_over(&Arc::from("A"), ALL).unwrap(),
        Instant::now(),
        &mut out,
    );
    b.flush_all(&mut out);
    assert_eq!(messages(&out), ["last line"]);
    assert_eq!(out[0].offset, NO_OFFSET);
    assert_eq!(
        out[0].carried.as_ref().unwrap().hops[0].2,
        len(&[cri("stdout", "F", "last line")])
    );
}

#[test]
fn trace_and_a_split_frame_are_handed_over_together() {
    let o = opts(1 << 20, MultilineRules::default());
    let lines = [
        cri("stdout", "F", "java.lang.IllegalStateException: boom"),
        cri("stdout", "F", "\tat com.example.A.run(A.java:1)"),
        cri("stdout", "P", "\tat com.example.VeryLong"),
    ];
    let mut out = Vec::new();
    let mut a = Assembler::new(Format::Cri, o.clone());
    feed(&mut a, &lines, &mut out);
    let h = a.hand_over(&Arc::from("A"), ALL).unwrap();
    assert!(out.is_empty());
    // Both the waiting trace and the piece: the trace's start is the resume point of A.
    assert_eq!(h.offsets, [(0, 0), (0, len(&lines[..2]))]);
    let mut b = Assembler::new(Format::Cri, o);
    b.adopt(h, Instant::now(), &mut out);
    feed(
        &mut b,
        &[
            cri("stdout", "F", "Name.run(B.java:2)"),
            cri("stdout", "F", "next event"),
        ],
        &mut out,
    );
    b.flush_all(&mut out);
    assert_eq!(
        messages(&out),
        [
            "java.lang.IllegalStateException: boom\n\tat com.example.A.run(A.java:1)\n\tat com.example.VeryLongName.run(B.java:2)",
            "next event"
        ]
    );
    // Shipping it clears both hand-over offsets of A and moves A past both.
    let c = out[0].carried.as_ref().unwrap();
    let starts: Vec<u64> = c.hops.iter().map(|h| h.1).collect();
    assert_eq!(starts, [0, len(&lines[..2])]);
    assert_eq!(c.hops.iter().map(|h| h.2).max(), Some(len(&lines)));
}

#[test]
fn streams_not_accepted_stay_with_the_rotated_file() {
    let o = opts(1 << 20, MultilineRules::none());
    let mut out = Vec::new();
    let mut a = Assembler::new(Format::Cri, o);
    feed(
        &mut a,
        &[cri("stdout", "P", "out "), cri("stderr", "P", "err ")],
        &mut out,
    );
    let h = a.hand_over(&Arc::from("A"), [false, true]).unwrap();
    assert_eq!(h.offsets.len(), 1);
    assert_eq!(h.offsets[0].0, 1);
    assert_eq!(a.pending_offset(), Some(0));
    assert!(a.hand_over(&Arc::from("A"), [false, false]).is_none());
}

#[test]
fn nothing_unfinished_hands_over_nothing() {
    let o = opts(1 << 20, MultilineRules::none());
    let mut out = Vec::new();
    let mut a = Assembler::new(Format::Cri, o);
    assert!(a.is_fresh());
    feed(&mut a, &[cri("stdout", "F", "done")], &mut out);
    assert!(!a.is_fresh());
    assert!(a.hand_over(&Arc::from("A"), ALL).is_none());
}

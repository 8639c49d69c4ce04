//! CRI and Docker `json-file` framing, and one container's log file with its rotated segments.
//!
//! CRI (containerd/CRI-O): `<RFC3339Nano> <stdout|stderr> <P|F> <content>\n`; a line longer than the
//! maximum is written as `P` pieces of exactly `max` bytes then a final `F` piece. Docker:
//! `{"log":"<piece>","stream":"stdout","time":"<RFC3339Nano>"}\n`; a line longer than the maximum is
//! split into pieces, every piece but the last without the trailing `\n`. Rotation lives in
//! [`crate::rotate`].

use crate::error::GenerateError;
use crate::manifest::EventRef;
use crate::timefmt::{push_json_escaped, push_rfc3339_nano};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Which on-disk format a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Kubernetes CRI log format.
    Cri,
    /// Docker json-file format.
    Docker,
}

/// Rotation settings for a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotatePolicy {
    /// Rotate when the current file has reached this many bytes (None = never).
    pub max_bytes: Option<u64>,
    /// Files to keep, the current one included (kubelet `containerLogMaxFiles`, Docker `max-file`).
    pub keep: usize,
    /// Gzip rotated files.
    pub gzip: bool,
}

/// One file on disk (current or rotated) and what it holds.
#[derive(Debug, Clone, Default)]
pub struct Segment {
    /// Absolute path (after any rename or compression).
    pub path: PathBuf,
    /// Gzip-compressed.
    pub compressed: bool,
    /// Events.
    pub events: u64,
    /// Application lines.
    pub lines: u64,
    /// Physical lines.
    pub file_lines: u64,
    /// Bytes (uncompressed).
    pub bytes: u64,
    /// The events, when tracking is on (needed only to report keep-N deletions).
    pub refs: Vec<EventRef>,
}

/// Appends the CRI framing of one application line (possibly several pieces) to `out`; returns the
/// number of physical lines.
pub fn frame_cri(out: &mut String, ts: i64, stderr: bool, line: &str, max: usize) -> u64 {
    let stream = if stderr { " stderr " } else { " stdout " };
    let mut n = 0;
    for (piece, last) in pieces(line, max) {
        push_rfc3339_nano(out, ts);
        out.push_str(stream);
        out.push_str(if last { "F " } else { "P " });
        out.push_str(piece);
        out.push('\n');
        n += 1;
    }
    n
}

/// Appends the Docker json-file framing of one application line to `out`; returns the number of
/// physical lines.
pub fn frame_docker(out: &mut String, ts: i64, stderr: bool, line: &str, max: usize) -> u64 {
    let mut n = 0;
    for (piece, last) in pieces(line, max) {
        out.push_str("{\"log\":\"");
        push_json_escaped(out, piece, true);
        if last {
            out.push_str("\\n");
        }
        out.push_str(if stderr {
            "\",\"stream\":\"stderr\",\"time\":\""
        } else {
            "\",\"stream\":\"stdout\",\"time\":\""
        });
        push_rfc3339_nano(out, ts);
        out.push_str("\"}\n");
        n += 1;
    }
    n
}

/// Splits `line` into pieces of at most `max` bytes (at char boundaries); the flag marks the last.
pub fn pieces(line: &str, max: usize) -> impl Iterator<Item = (&str, bool)> {
    let max = max.max(4);
    let mut rest = Some(line);
    std::iter::from_fn(move || {
        let r = rest?;
        if r.len() <= max {
            rest = None;
            return Some((r, true));
        }
        let mut cut = max;
        while !r.is_char_boundary(cut) {
            cut -= 1;
        }
        rest = Some(&r[cut..]);
        Some((&r[..cut], false))
    })
}

/// One container's log: the current file plus rotated and closed (previous restart) segments.
#[derive(Debug)]
pub struct LogFile {
    pub(crate) framing: Framing,
    pub(crate) dir: PathBuf,
    pub(crate) name: String,
    pub(crate) out: BufWriter<File>,
    pub(crate) cur: Segment,
    /// Rotated segments, oldest first.
    pub(crate) rotated: Vec<Segment>,
    /// Segments of previous restarts (never rotated again).
    pub(crate) closed: Vec<Segment>,
    /// Segments deleted by keep-N.
    pub(crate) deleted: Vec<Segment>,
    pub(crate) policy: RotatePolicy,
    pub(crate) max_line: usize,
    pub(crate) last_stamp: String,
    pub(crate) rotations: u64,
    frame: String,
}

const BUF_CAPACITY: usize = 128 * 1024;

pub(crate) fn open_new(path: &Path) -> Result<BufWriter<File>, GenerateError> {
    let f = File::create(path).map_err(|e| GenerateError::io("creating log file", path, e))?;
    Ok(BufWriter::with_capacity(BUF_CAPACITY, f))
}

impl LogFile {
    /// Creates `dir/name` (and `dir`).
    pub fn create(
        framing: Framing,
        dir: PathBuf,
        name: String,
        policy: RotatePolicy,
        max_line: usize,
    ) -> Result<LogFile, GenerateError> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| GenerateError::io("creating directory", &dir, e))?;
        let path = dir.join(&name);
        let out = open_new(&path)?;
        Ok(LogFile {
            framing,
            dir,
            name,
            out,
            cur: Segment {
                path,
                ..Default::default()
            },
            rotated: Vec::new(),
            closed: Vec::new(),
            deleted: Vec::new(),
            policy,
            max_line,
            last_stamp: String::new(),
            rotations: 0,
            frame: String::with_capacity(4096),
        })
    }

    /// Writes one event (its lines joined by `\n`), line `i` stamped `ts + i * line_gap_ns`; rotates
    /// first when the policy says so. Returns `(physical lines, bytes)`.
    pub fn write_event(
        &mut self,
        ts: i64,
        line_gap_ns: i64,
        stderr: bool,
        text: &str,
        event: Option<EventRef>,
    ) -> Result<(u64, u64), GenerateError> {
        if let Some(max) = self.policy.max_bytes {
            if self.cur.bytes >= max {
                self.rotate(ts)?;
            }
        }
        self.frame.clear();
        let mut file_lines = 0;
        let mut lines = 0;
        for (i, line) in text.split('\n').enumerate() {
            let t = ts + i as i64 * line_gap_ns;
            file_lines += match self.framing {
                Framing::Cri => frame_cri(&mut self.frame, t, stderr, line, self.max_line),
                Framing::Docker => frame_docker(&mut self.frame, t, stderr, line, self.max_line),
            };
            lines += 1;
        }
        self.out
            .write_all(self.frame.as_bytes())
            .map_err(|e| GenerateError::io("writing log file", &self.cur.path, e))?;
        let bytes = self.frame.len() as u64;
        self.cur.events += 1;
        self.cur.lines += lines;
        self.cur.file_lines += file_lines;
        self.cur.bytes += bytes;
        if let Some(e) = event {
            self.cur.refs.push(e);
        }
        Ok((file_lines, bytes))
    }

    /// Flushes buffered lines to the file.
    pub fn flush(&mut self) -> Result<(), GenerateError> {
        self.out
            .flush()
            .map_err(|e| GenerateError::io("flushing log file", &self.cur.path, e))
    }

    /// Container restart (CRI): closes the current file and starts `new_name` in the same directory.
    pub fn restart(&mut self, new_name: String) -> Result<(), GenerateError> {
        self.flush()?;
        let path = self.dir.join(&new_name);
        self.out = open_new(&path)?;
        let old = std::mem::replace(
            &mut self.cur,
            Segment {
                path,
                ..Default::default()
            },
        );
        self.closed.push(old);
        // Rotated files of the previous container instance stay as they are.
        self.closed.append(&mut self.rotated);
        self.name = new_name;
        Ok(())
    }

    /// Flushes and returns `(segments present on disk, segments deleted)`.
    pub fn finish(mut self) -> Result<(Vec<Segment>, Vec<Segment>), GenerateError> {
        self.flush()?;
        let mut live = self.closed;
        live.append(&mut self.rotated);
        live.push(self.cur);
        Ok((live, self.deleted))
    }

    /// A snapshot of `(segments present, segments deleted)` without closing (for interim manifests).
    pub fn snapshot(&self) -> (Vec<Segment>, Vec<Segment>) {
        let strip = |s: &Segment| Segment {
            refs: Vec::new(),
            ..s.clone()
        };
        let mut live: Vec<Segment> = self.closed.iter().chain(&self.rotated).map(strip).collect();
        live.push(strip(&self.cur));
        (live, self.deleted.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logmind_protocol::time::parse_rfc3339_nanos;
    use proptest::prelude::*;

    #[test]
    fn cri_long_line_is_split_into_p_then_f() {
        let mut out = String::new();
        let line = "x".repeat(25);
        assert_eq!(
            frame_cri(&mut out, 1_705_314_600_000_000_001, true, &line, 10),
            3
        );
        let rows: Vec<&str> = out.lines().collect();
        assert_eq!(
            rows[0],
            "2024-01-15T10:30:00.000000001Z stderr P xxxxxxxxxx"
        );
        assert_eq!(rows[2], "2024-01-15T10:30:00.000000001Z stderr F xxxxx");
    }

    #[test]
    fn docker_pieces_keep_newline_only_on_last() {
        let mut out = String::new();
        assert_eq!(frame_docker(&mut out, 0, false, "abcdef<x>", 6), 2);
        let rows: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(rows[0]["log"], "abcdef");
        assert_eq!(rows[1]["log"], "<x>\n");
        assert_eq!(rows[1]["stream"], "stdout");
        assert_eq!(rows[1]["time"], "1970-01-01T00:00:00Z");
        assert!(out.contains("\\u003cx\\u003e"));
    }

    proptest! {
        #[test]
        fn cri_pieces_reassemble(line in "[ -~é✓]{0,200}", max in 4usize..50) {
            let mut out = String::new();
            frame_cri(&mut out, 1_700_000_000_123_456_789, false, &line, max);
            let mut joined = String::new();
            let rows: Vec<&str> = out.split_terminator('\n').collect();
            for (i, row) in rows.iter().enumerate() {
                let mut parts = row.splitn(4, ' ');
                let ts = parts.next().unwrap_or("");
                prop_assert_eq!(parse_rfc3339_nanos(ts.as_bytes()), Some(1_700_000_000_123_456_789));
                prop_assert_eq!(parts.next(), Some("stdout"));
                let tag = parts.next().unwrap_or("");
                prop_assert_eq!(tag, if i + 1 == rows.len() { "F" } else { "P" });
                let content = parts.next().unwrap_or("");
                prop_assert!(content.len() <= max);
                joined.push_str(content);
            }
            prop_assert_eq!(joined, line);
        }

        #[test]
        fn docker_pieces_reassemble(line in "\\PC{0,200}", max in 4usize..50) {
            let mut out = String::new();
            frame_docker(&mut out, 5, true, &line, max);
            let mut joined = String::new();
            for row in out.lines() {
                let v: serde_json::Value = serde_json::from_str(row).map_err(|e| TestCaseError::fail(e.to_string()))?;
                joined.push_str(v["log"].as_str().unwrap_or(""));
            }
            prop_assert_eq!(joined, format!("{line}\n"));
        }
    }
}

//! Per-file event assembly: physical lines in, complete events out. Pure (no I/O, time injected).
//!
//! For every physical line the [`Assembler`] decodes the framing ([`crate::decode`]), merges partial pieces
//! (CRI `P`, Docker pieces without `\n`) per stream into one logical line, then applies the multi-line rules
//! ([`crate::merge`]) per stream. Events of one stream are emitted in file-offset order, which is what makes
//! checkpoints exact: see [`Assembler::pending_offset`] and [`Assembler::skip_before`].

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::decode::{decode_cri, decode_docker};
use crate::merge::{
    append_capped, classify, truncate_on_boundary, CapBuf, Mode, MultilineRules, Step,
};

pub use crate::decode::Stream;

/// The framing of a log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Kubernetes CRI (`/var/log/pods/…/N.log`).
    Cri,
    /// Docker `json-file` (`/var/lib/docker/containers/<id>/<id>-json.log`).
    Docker,
}

/// One physical line: no trailing `\n`; `offset` is the file byte offset of its first byte.
#[derive(Debug, Clone, Copy)]
pub struct RawLine<'a> {
    /// File byte offset of the line's first byte.
    pub offset: u64,
    /// The line without its `\n`.
    pub bytes: &'a [u8],
}

/// One complete log event (partial pieces and multi-line events merged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Timestamp of the first piece, ns since the epoch.
    pub ts: i64,
    /// Output stream.
    pub stream: Stream,
    /// Offset of the first physical line.
    pub offset: u64,
    /// Offset just past the last physical line of the event, including its `\n`.
    pub end_offset: u64,
    /// The text, lines joined with `\n`, truncation marker appended when cut.
    pub message: String,
    /// True when the event was longer than `max_event_bytes` and was cut.
    pub truncated: bool,
}

/// How events are assembled.
#[derive(Debug, Clone)]
pub struct AssembleOptions {
    /// Longest message kept (bytes, before the truncation marker); the rest of a longer event is discarded.
    pub max_event_bytes: usize,
    /// Multi-line joining rules.
    pub multiline: MultilineRules,
    /// How long an unfinished event (partial piece or multi-line) waits for its next line before it is emitted.
    pub multiline_timeout: Duration,
}

impl Default for AssembleOptions {
    fn default() -> Self {
        AssembleOptions {
            max_event_bytes: 256 * 1024,
            multiline: MultilineRules::default(),
            multiline_timeout: Duration::from_secs(1),
        }
    }
}

/// Counters of what the assembler saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssembleStats {
    /// Lines whose framing could not be decoded (emitted as-is).
    pub malformed: u64,
    /// Events cut at `max_event_bytes`.
    pub truncated: u64,
    /// Logical lines holding invalid UTF-8 (replaced by U+FFFD).
    pub invalid_utf8: u64,
    /// Pieces joined to a previous piece (CRI `P` / Docker pieces without `\n`).
    pub partial_merged: u64,
    /// Lines joined to a previous line by the multi-line rules.
    pub multiline_merged: u64,
    /// Lines ignored by [`Assembler::skip_before`] (already shipped before a restart).
    pub skipped: u64,
}

/// A logical line being merged from pieces.
#[derive(Debug)]
struct Piece {
    raw: Vec<u8>,
    dropped: u64,
    ts: i64,
    offset: u64,
    end_offset: u64,
    last: Instant,
}

/// A multi-line event waiting for more lines.
#[derive(Debug)]
struct Pending {
    buf: CapBuf,
    mode: Mode,
    ts: i64,
    offset: u64,
    end_offset: u64,
    last: Instant,
}

#[derive(Debug, Default)]
struct StreamState {
    piece: Option<Piece>,
    pending: Option<Pending>,
    skip_before: u64,
}

/// Turns the physical lines of one file into events. See the module docs.
#[derive(Debug)]
pub struct Assembler {
    format: Format,
    opts: Arc<AssembleOptions>,
    streams: [StreamState; 2],
    last_ts: i64,
    scratch: Vec<u8>,
    stats: AssembleStats,
}

/// Where and when a piece was read.
#[derive(Debug, Clone, Copy)]
struct At {
    ts: i64,
    offset: u64,
    end_offset: u64,
    now: Instant,
}

/// A complete logical line on its way into the multi-line stage.
struct Logical<'a> {
    text: Cow<'a, str>,
    dropped: u64,
    ts: i64,
    offset: u64,
    end_offset: u64,
    last: Instant,
}

impl Assembler {
    /// An assembler for one file of the given framing.
    pub fn new(format: Format, opts: Arc<AssembleOptions>) -> Self {
        Assembler {
            format,
            opts,
            streams: Default::default(),
            last_ts: 0,
            scratch: Vec::new(),
            stats: AssembleStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> &AssembleStats {
        &self.stats
    }

    /// After a restart: ignore lines of `stream` that start before `offset` (the `end_offset` of the last event
    /// of that stream already shipped). Replaying from the checkpoint then yields exactly the events not yet
    /// shipped, even when a shipped multi-line event ended after the checkpoint.
    pub fn skip_before(&mut self, stream: Stream, offset: u64) {
        self.streams[stream.index()].skip_before = offset;
    }

    /// Lowest file offset of data pushed but not yet emitted (`None` if nothing is buffered). The checkpoint may
    /// only move to `min(this, next read offset)`.
    pub fn pending_offset(&self) -> Option<u64> {
        self.streams
            .iter()
            .flat_map(|s| {
                [
                    s.pending.as_ref().map(|p| p.offset),
                    s.piece.as_ref().map(|p| p.offset),
                ]
            })
            .flatten()
            .min()
    }

    /// Feeds one physical line; complete events are appended to `out`. Malformed lines are counted and
    /// emitted as an event with the raw text on stdout (after anything buffered on stdout), never dropped.
    pub fn push(&mut self, line: RawLine<'_>, now: Instant, out: &mut Vec<Event>) {
        let end_offset = line.offset + line.bytes.len() as u64 + 1;
        let cap = self.opts.max_event_bytes;
        match self.format {
            Format::Cri => match decode_cri(line.bytes) {
                Some(l) => {
                    self.last_ts = l.ts;
                    if line.offset < self.streams[l.stream.index()].skip_before {
                        self.stats.skipped += 1;
                        return;
                    }
                    let at = At {
                        ts: l.ts,
                        offset: line.offset,
                        end_offset,
                        now,
                    };
                    self.piece(l.stream, at, l.content, 0, l.partial, out);
                }
                None => self.malformed(line, end_offset, out),
            },
            Format::Docker => match decode_docker(line.bytes) {
                Some(d) => {
                    let ts = d.ts.unwrap_or(self.last_ts);
                    self.last_ts = ts;
                    if line.offset < self.streams[d.stream.index()].skip_before {
                        self.stats.skipped += 1;
                        return;
                    }
                    // Common case (no piece pending): unescape straight into the event's own buffer.
                    let fresh = self.streams[d.stream.index()].piece.is_none();
                    let mut buf = if fresh {
                        Vec::with_capacity(d.log.raw.len().min(cap.saturating_add(4)))
                    } else {
                        let mut b = std::mem::take(&mut self.scratch);
                        b.clear();
                        b
                    };
                    // A few bytes over the cap so the cut can land on a character boundary.
                    let (len, complete) = d.content_into(&mut buf, cap.saturating_add(4));
                    truncate_on_boundary(&mut buf, cap);
                    let dropped = (len - buf.len()) as u64;
                    let at = At {
                        ts,
                        offset: line.offset,
                        end_offset,
                        now,
                    };
                    if fresh && complete {
                        let text = self.owned_utf8(buf);
                        let logical = Logical {
                            text: Cow::Owned(text),
                            dropped,
                            ts,
                            offset: line.offset,
                            end_offset,
                            last: now,
                        };
                        self.logical(d.stream, logical, out);
                    } else {
                        self.piece(d.stream, at, &buf, dropped, !complete, out);
                        self.scratch = buf;
                    }
                }
                None => self.malformed(line, end_offset, out),
            },
        }
    }

    fn malformed(&mut self, line: RawLine<'_>, end_offset: u64, out: &mut Vec<Event>) {
        let st = &self.streams[Stream::Stdout.index()];
        if line.offset < st.skip_before {
            self.stats.skipped += 1;
            return;
        }
        self.stats.malformed += 1;
        self.flush_stream(Stream::Stdout, out);
        let text = self.utf8(line.bytes);
        let buf = CapBuf::with(&text, self.opts.max_event_bytes);
        self.emit(
            Stream::Stdout,
            buf,
            self.last_ts,
            line.offset,
            end_offset,
            out,
        );
    }

    fn utf8<'b>(&mut self, bytes: &'b [u8]) -> Cow<'b, str> {
        match std::str::from_utf8(bytes) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => {
                self.stats.invalid_utf8 += 1;
                String::from_utf8_lossy(bytes)
            }
        }
    }

    /// Handles one decoded piece (`dropped`: bytes of it already cut off): merges partials, passes complete
    /// logical lines on.
    fn piece(
        &mut self,
        stream: Stream,
        at: At,
        content: &[u8],
        dropped: u64,
        partial: bool,
        out: &mut Vec<Event>,
    ) {
        let cap = self.opts.max_event_bytes;
        let si = stream.index();
        if let Some(mut p) = self.streams[si].piece.take() {
            self.stats.partial_merged += 1;
            // Raw bytes are kept until the line is complete, so a UTF-8 sequence split across pieces survives.
            if p.dropped > 0 {
                p.dropped += content.len() as u64 + dropped;
            } else {
                p.dropped += append_capped(&mut p.raw, content, cap) + dropped;
            }
            p.end_offset = at.end_offset;
            p.last = at.now;
            if partial {
                self.streams[si].piece = Some(p);
            } else {
                self.complete(stream, p, out);
            }
            return;
        }
        if partial {
            let mut raw = Vec::with_capacity(content.len().min(cap).saturating_mul(2));
            let cut = append_capped(&mut raw, content, cap);
            self.streams[si].piece = Some(Piece {
                raw,
                dropped: cut + dropped,
                ts: at.ts,
                offset: at.offset,
                end_offset: at.end_offset,
                last: at.now,
            });
            return;
        }
        let text = self.utf8(content);
        let logical = Logical {
            text,
            dropped,
            ts: at.ts,
            offset: at.offset,
            end_offset: at.end_offset,
            last: at.now,
        };
        self.logical(stream, logical, out);
    }

    /// Bytes to text without a copy when valid; invalid sequences become U+FFFD and are counted.
    fn owned_utf8(&mut self, raw: Vec<u8>) -> String {
        match String::from_utf8(raw) {
            Ok(s) => s,
            Err(e) => {
                self.stats.invalid_utf8 += 1;
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            }
        }
    }

    /// Turns a merged piece into a logical line and runs it through the multi-line stage.
    fn complete(&mut self, stream: Stream, p: Piece, out: &mut Vec<Event>) {
        let text = self.owned_utf8(p.raw);
        let logical = Logical {
            text: Cow::Owned(text),
            dropped: p.dropped,
            ts: p.ts,
            offset: p.offset,
            end_offset: p.end_offset,
            last: p.last,
        };
        self.logical(stream, logical, out);
    }

    /// Runs one complete logical line through the multi-line rules.
    fn logical(&mut self, stream: Stream, line: Logical<'_>, out: &mut Vec<Event>) {
        let cap = self.opts.max_event_bytes;
        let si = stream.index();
        let pending_mode = self.streams[si].pending.as_ref().map(|p| p.mode);
        let step = classify(&self.opts.multiline, pending_mode, &line.text);
        match step {
            Step::Continue | Step::ContinueAs(_) => {
                if let Some(p) = self.streams[si].pending.as_mut() {
                    self.stats.multiline_merged += 1;
                    p.buf.push_line(&line.text, cap);
                    p.buf.dropped += line.dropped;
                    p.end_offset = line.end_offset;
                    p.last = line.last;
                    if let Step::ContinueAs(mode) = step {
                        p.mode = mode;
                    }
                }
            }
            Step::Start(mode) => {
                self.emit_pending(stream, out);
                let mut buf = CapBuf::from_cow(line.text, cap);
                buf.dropped += line.dropped;
                let waits = mode != Mode::Plain || self.opts.multiline.plain_lines_wait();
                if waits {
                    self.streams[si].pending = Some(Pending {
                        buf,
                        mode,
                        ts: line.ts,
                        offset: line.offset,
                        end_offset: line.end_offset,
                        last: line.last,
                    });
                } else {
                    self.emit(stream, buf, line.ts, line.offset, line.end_offset, out);
                }
            }
        }
    }

    fn emit_pending(&mut self, stream: Stream, out: &mut Vec<Event>) {
        if let Some(p) = self.streams[stream.index()].pending.take() {
            let mut buf = p.buf;
            if matches!(p.mode, Mode::Go | Mode::PythonEnd | Mode::PythonChain) && !buf.truncated()
            {
                // Blank lines inside a panic or a chained traceback belong to it; trailing ones carry nothing.
                let keep = buf.text.trim_end_matches('\n').len();
                buf.text.truncate(keep);
            }
            self.emit(stream, buf, p.ts, p.offset, p.end_offset, out);
        }
    }

    fn emit(
        &mut self,
        stream: Stream,
        buf: CapBuf,
        ts: i64,
        offset: u64,
        end_offset: u64,
        out: &mut Vec<Event>,
    ) {
        let (message, truncated) = buf.finish();
        if truncated {
            self.stats.truncated += 1;
        }
        out.push(Event {
            ts,
            stream,
            offset,
            end_offset,
            message,
            truncated,
        });
    }

    /// Completes the stream's partial piece (if any) and emits its pending event.
    fn flush_stream(&mut self, stream: Stream, out: &mut Vec<Event>) {
        self.complete_piece(stream, out);
        self.emit_pending(stream, out);
    }

    /// Treats an unfinished partial piece as a complete logical line.
    fn complete_piece(&mut self, stream: Stream, out: &mut Vec<Event>) {
        if let Some(p) = self.streams[stream.index()].piece.take() {
            self.complete(stream, p, out);
        }
    }

    /// Emits events whose partial or multi-line wait (`multiline_timeout` since their last line) has expired.
    pub fn flush_expired(&mut self, now: Instant, out: &mut Vec<Event>) {
        let timeout = self.opts.multiline_timeout;
        for stream in Stream::ALL {
            let si = stream.index();
            if self.streams[si]
                .piece
                .as_ref()
                .is_some_and(|p| now.saturating_duration_since(p.last) >= timeout)
            {
                self.complete_piece(stream, out);
            }
            if self.streams[si]
                .pending
                .as_ref()
                .is_some_and(|p| now.saturating_duration_since(p.last) >= timeout)
            {
                self.emit_pending(stream, out);
            }
        }
    }

    /// Emits everything buffered (the file is finished or the agent is shutting down).
    pub fn flush_all(&mut self, out: &mut Vec<Event>) {
        for stream in Stream::ALL {
            self.flush_stream(stream, out);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod props;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

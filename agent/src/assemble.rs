//! Per-file event assembly: physical lines in, complete events out. Pure (no I/O, time injected).
//!
//! For every physical line the [`Assembler`] decodes the framing ([`crate::decode`]), merges partial pieces
//! (CRI `P`, Docker pieces without `\n`) per stream into one logical line, then applies the multi-line rules
//! ([`crate::merge`]) per stream. Events of one stream are emitted in file-offset order, which is what makes
//! checkpoints exact: see [`Assembler::pending_offset`] and [`Assembler::skip_before`].
//!
//! A rotation can fall inside a line (the runtime splits lines over 16 KiB into pieces) or inside a multi-line
//! event (a stack trace). The rotated file's unfinished state is then handed to the file that follows it at its
//! path ([`Assembler::hand_over`], [`Assembler::adopt`]), and the event is shipped once, under the identity and
//! offset of the file where it started ([`Carried`]).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::decode::{decode_cri, decode_docker};
use crate::merge::{
    append_capped, classify, truncate_on_boundary, CapBuf, Mode, MultilineRules, Step,
};

pub use crate::decode::Stream;

/// Offset of an adopted event that holds no line of this file yet.
pub const NO_OFFSET: u64 = u64::MAX;

/// An event that started in an earlier file (rotated away in the middle of it) and was finished in this one: it
/// is shipped under the identity and offset where it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    /// Identity of the file where the event started.
    pub file: Arc<str>,
    /// Offset of its first line in that file.
    pub offset: u64,
    /// Every earlier file holding part of it: (identity, offset of its first line there, offset just past its
    /// last line there). Once the event is shipped, each of them counts it as emitted.
    pub hops: Vec<(Arc<str>, u64, u64)>,
}

/// The unfinished state of a rotated file, for the file that follows it ([`Assembler::hand_over`]).
#[derive(Debug, Default)]
pub struct Handover {
    streams: [(Option<Piece>, Option<Pending>); 2],
    /// (stream index, offset in the handing file of an event's first line) of every event handed over: the
    /// handing file's checkpoint stays before them until they are shipped.
    pub offsets: Vec<(usize, u64)>,
}

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
    /// Set when the event started in an earlier file: `offset` is then [`NO_OFFSET`] when no line of it is in
    /// this file.
    pub carried: Option<Arc<Carried>>,
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
    carried: Option<Arc<Carried>>,
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
    carried: Option<Arc<Carried>>,
}

/// Hands over one unfinished event (its offset, end offset and carried origin) of stream `si` of `file`: its
/// first line here (if any) joins `offsets`, it carries this file's part, and it holds no line of the next file.
fn hand_over_one(
    (offset, end_offset, carried): (&mut u64, &mut u64, &mut Option<Arc<Carried>>),
    file: &Arc<str>,
    si: usize,
    offsets: &mut Vec<(usize, u64)>,
) {
    if *offset != NO_OFFSET {
        offsets.push((si, *offset));
    }
    *carried = Some(carry_on(carried.take(), file, *offset, *end_offset));
    (*offset, *end_offset) = (NO_OFFSET, 0);
}

/// `carried` (if any) extended by this file's part `offset..end_offset` (if any), or a new one starting here.
fn carry_on(
    carried: Option<Arc<Carried>>,
    file: &Arc<str>,
    offset: u64,
    end_offset: u64,
) -> Arc<Carried> {
    match carried {
        None => Arc::new(Carried {
            file: Arc::clone(file),
            offset,
            hops: vec![(Arc::clone(file), offset, end_offset)],
        }),
        Some(c) if offset == NO_OFFSET => c,
        Some(mut c) => {
            Arc::make_mut(&mut c)
                .hops
                .push((Arc::clone(file), offset, end_offset));
            c
        }
    }
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
    pushed: bool,
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
    carried: Option<Arc<Carried>>,
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
            pushed: false,
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
            .filter(|&o| o != NO_OFFSET)
            .min()
    }

    /// Whether an event is unfinished (a partial piece or a multi-line event waiting for more lines).
    pub fn has_unfinished(&self) -> bool {
        self.streams
            .iter()
            .any(|s| s.piece.is_some() || s.pending.is_some())
    }

    /// Whether nothing was pushed yet and nothing is buffered: a file that may continue an earlier one.
    pub fn is_fresh(&self) -> bool {
        !self.pushed && !self.has_unfinished()
    }

    /// The file (identity `file`) was rotated away in the middle of an event: takes the unfinished state (a
    /// multi-line event waiting for more lines, a partial piece) of every stream `accept` allows, for the file
    /// that follows it ([`Assembler::adopt`]). `None` when nothing was taken.
    pub fn hand_over(&mut self, file: &Arc<str>, accept: [bool; 2]) -> Option<Handover> {
        let mut h = Handover::default();
        for (si, st) in self.streams.iter_mut().enumerate() {
            if !accept[si] {
                continue;
            }
            if let Some(mut p) = st.pending.take() {
                let at = (&mut p.offset, &mut p.end_offset, &mut p.carried);
                hand_over_one(at, file, si, &mut h.offsets);
                h.streams[si].1 = Some(p);
            }
            if let Some(mut p) = st.piece.take() {
                let at = (&mut p.offset, &mut p.end_offset, &mut p.carried);
                hand_over_one(at, file, si, &mut h.offsets);
                h.streams[si].0 = Some(p);
            }
        }
        let taken = h.streams.iter().any(|(a, b)| a.is_some() || b.is_some());
        taken.then_some(h)
    }

    /// Continues the unfinished state an earlier file handed over: its next lines join it as if the file had not
    /// been rotated (the flush deadline counts from `now`). Meant for a fresh assembler; a stream already holding
    /// something is flushed to `out` first.
    pub fn adopt(&mut self, h: Handover, now: Instant, out: &mut Vec<Event>) {
        for (stream, (mut piece, mut pending)) in Stream::ALL.into_iter().zip(h.streams) {
            if piece.is_none() && pending.is_none() {
                continue;
            }
            self.flush_stream(stream, out);
            if let Some(p) = piece.as_mut() {
                p.last = now;
            }
            if let Some(p) = pending.as_mut() {
                p.last = now;
            }
            let st = &mut self.streams[stream.index()];
            st.piece = piece;
            st.pending = pending;
        }
    }

    /// Feeds one physical line; complete events are appended to `out`. Malformed lines are counted and
    /// emitted as an event with the raw text on stdout (after anything buffered on stdout), never dropped.
    pub fn push(&mut self, line: RawLine<'_>, now: Instant, out: &mut Vec<Event>) {
        self.pushed = true;
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
                            carried: None,
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
        let at = (line.offset, end_offset);
        self.emit(Stream::Stdout, buf, self.last_ts, at, None, out);
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
            if p.offset == NO_OFFSET {
                p.offset = at.offset;
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
                carried: None,
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
            carried: None,
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
            carried: p.carried,
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
                    // A piece handed over with the event it continues: the event now covers both.
                    if let Some(c) = line.carried {
                        match p.carried.as_mut() {
                            Some(pc) => Arc::make_mut(pc).hops.extend(c.hops.iter().cloned()),
                            None => p.carried = Some(c),
                        }
                    }
                    p.buf.push_line(&line.text, cap);
                    p.buf.dropped += line.dropped;
                    if p.offset == NO_OFFSET {
                        p.offset = line.offset;
                    }
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
                        carried: line.carried,
                    });
                } else {
                    let at = (line.offset, line.end_offset);
                    self.emit(stream, buf, line.ts, at, line.carried, out);
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
            self.emit(stream, buf, p.ts, (p.offset, p.end_offset), p.carried, out);
        }
    }

    /// Emits one event; `at`: (offset, end offset) of its lines in this file.
    fn emit(
        &mut self,
        stream: Stream,
        buf: CapBuf,
        ts: i64,
        (offset, end_offset): (u64, u64),
        carried: Option<Arc<Carried>>,
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
            carried,
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
        self.flush_expired_after(now, self.opts.multiline_timeout, out);
    }

    /// [`Assembler::flush_expired`] with another wait.
    pub fn flush_expired_after(&mut self, now: Instant, timeout: Duration, out: &mut Vec<Event>) {
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
mod carry_tests;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod props;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

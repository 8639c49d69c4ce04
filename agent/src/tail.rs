//! Reading one file: plain files by positional reads from a kept-open descriptor (so a deleted or renamed file
//! is still drained), gzip copies through a decoder that first skips to the saved uncompressed offset. Complete
//! physical lines are handed out with their file offset; a trailing partial line waits for its `\n`.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::assemble::RawLine;
use crate::identity::Fingerprint;

/// Bytes read per `read` call.
const CHUNK: usize = 256 * 1024;
/// A "line" without `\n` longer than this is handed out in pieces (bounded memory).
const MAX_LINE: usize = 8 << 20;

enum Src {
    Plain(File),
    Gz(Box<flate2::read::MultiGzDecoder<BufReader<File>>>),
}

/// A plain file read from offset 0 no longer starts with the content its identity was fingerprinted from.
#[derive(Debug, thiserror::Error)]
#[error(
    "the file no longer starts with the content it was identified by (truncated and rewritten)"
)]
pub struct HeadChanged;

impl HeadChanged {
    /// Whether `e` is this error.
    pub fn is(e: &io::Error) -> bool {
        e.get_ref().is_some_and(|i| i.is::<HeadChanged>())
    }
}

/// A reader over one file from a given offset.
pub struct Reader {
    src: Src,
    /// Offset of the next byte to read from the source.
    pos: u64,
    /// Bytes read but not handed out yet (a partial line); `buf[0]` is at file offset `line_start`.
    buf: Vec<u8>,
    line_start: u64,
    /// For gzip: the end of the stream was reached.
    gz_eof: bool,
}

impl Reader {
    /// Reads a plain file from `offset`.
    pub fn plain(file: File, offset: u64) -> Self {
        Reader {
            src: Src::Plain(file),
            pos: offset,
            buf: Vec::new(),
            line_start: offset,
            gz_eof: false,
        }
    }

    /// Reads a gzip file's decompressed content from `offset` (the bytes before it are decompressed and skipped).
    pub fn gz(path: &Path, offset: u64) -> io::Result<Self> {
        let f = File::open(path)?;
        let mut dec = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(64 * 1024, f));
        let skipped = io::copy(&mut (&mut dec).take(offset), &mut io::sink())?;
        if skipped < offset {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "compressed copy holds {skipped} bytes, fewer than the saved offset {offset}"
                ),
            ));
        }
        Ok(Reader {
            src: Src::Gz(Box::new(dec)),
            pos: offset,
            buf: Vec::new(),
            line_start: offset,
            gz_eof: false,
        })
    }

    /// Whether this reads a gzip copy.
    pub fn is_gz(&self) -> bool {
        matches!(self.src, Src::Gz(_))
    }

    /// The open plain file, if any.
    pub fn file(&self) -> Option<&File> {
        match &self.src {
            Src::Plain(f) => Some(f),
            Src::Gz(_) => None,
        }
    }

    /// Gives the open plain file back (for a new generation after truncation).
    pub fn into_file(self) -> Option<File> {
        match self.src {
            Src::Plain(f) => Some(f),
            Src::Gz(_) => None,
        }
    }

    /// Offset just past the last complete line handed out.
    pub fn line_offset(&self) -> u64 {
        self.line_start
    }

    /// Offset of the next byte to read (past any buffered partial line).
    pub fn read_pos(&self) -> u64 {
        self.pos
    }

    /// Whether a gzip copy was read to its end.
    pub fn gz_done(&self) -> bool {
        self.gz_eof
    }

    /// Reads up to about `budget` bytes through the shared `scratch` buffer and calls `f` for every complete
    /// line. Only an unfinished last line is kept per file, so idle files hold (almost) no memory.
    ///
    /// `head` is the fingerprint of the content the file starts with: a read from offset 0 checks the bytes it
    /// got against it and fails with [`HeadChanged`], consuming nothing, when the file was truncated and
    /// rewritten since (a `copytruncate` between the last check and this read).
    pub fn read_lines(
        &mut self,
        budget: usize,
        scratch: &mut Vec<u8>,
        head: Option<Fingerprint>,
        mut f: impl FnMut(RawLine<'_>),
    ) -> io::Result<usize> {
        if scratch.len() < CHUNK {
            scratch.resize(CHUNK, 0);
        }
        let mut total = 0;
        while total < budget {
            let n = loop {
                let r = match &mut self.src {
                    Src::Plain(file) => file.read_at(&mut scratch[..CHUNK], self.pos),
                    Src::Gz(dec) => dec.read(&mut scratch[..CHUNK]),
                };
                match r {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            if n == 0 {
                if self.is_gz() {
                    self.gz_eof = true;
                }
                break;
            }
            if let Some(fp) = head.filter(|fp| self.pos == 0 && fp.len > 0 && !self.is_gz()) {
                if !fp.matches(&scratch[..n]) {
                    return Err(io::Error::other(HeadChanged));
                }
            }
            self.pos += n as u64;
            total += n;
            self.emit(&scratch[..n], &mut f);
        }
        if self.buf.is_empty() && self.buf.capacity() > 64 * 1024 {
            self.buf = Vec::new();
        }
        Ok(total)
    }

    /// Hands out the complete lines of `data` (which follows the buffered partial line).
    fn emit(&mut self, data: &[u8], f: &mut impl FnMut(RawLine<'_>)) {
        let mut start = 0;
        if !self.buf.is_empty() {
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    self.buf.extend_from_slice(&data[..i]);
                    f(RawLine {
                        offset: self.line_start,
                        bytes: &self.buf,
                    });
                    self.line_start += self.buf.len() as u64 + 1;
                    self.buf.clear();
                    start = i + 1;
                }
                None => {
                    self.buf.extend_from_slice(data);
                    self.cap_partial(f);
                    return;
                }
            }
        }
        let mut search = start;
        while let Some(i) = memchr::memchr(b'\n', &data[search..]) {
            let end = search + i;
            f(RawLine {
                offset: self.line_start,
                bytes: &data[start..end],
            });
            self.line_start += (end + 1 - start) as u64;
            start = end + 1;
            search = start;
        }
        self.buf.extend_from_slice(&data[start..]);
        self.cap_partial(f);
    }

    /// A "line" without `\n` longer than [`MAX_LINE`] is handed out as a piece to keep memory bounded.
    fn cap_partial(&mut self, f: &mut impl FnMut(RawLine<'_>)) {
        if self.buf.len() > MAX_LINE {
            f(RawLine {
                offset: self.line_start,
                bytes: &self.buf,
            });
            self.line_start += self.buf.len() as u64;
            self.buf.clear();
        }
    }

    /// Hands out a trailing partial line (file finished without a final `\n`).
    pub fn finish_partial(&mut self, mut f: impl FnMut(RawLine<'_>)) {
        if !self.buf.is_empty() {
            f(RawLine {
                offset: self.line_start,
                bytes: &self.buf,
            });
            self.line_start += self.buf.len() as u64;
            self.buf.clear();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    fn collect(r: &mut Reader) -> Vec<(u64, String)> {
        let mut v = Vec::new();
        let mut scratch = Vec::new();
        r.read_lines(usize::MAX, &mut scratch, None, |l| {
            v.push((l.offset, String::from_utf8_lossy(l.bytes).into_owned()))
        })
        .unwrap();
        v
    }

    #[test]
    fn a_first_read_of_other_content_than_fingerprinted_consumes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, b"old line 1\nold line 2\n").unwrap();
        let fp = Fingerprint::of(b"old line 1\nold line 2\n");
        let mut r = Reader::plain(File::open(&p).unwrap(), 0);
        // Truncated and rewritten (longer) between the identity's fingerprint and the first read.
        std::fs::write(&p, b"new line 1\nnew line 2\nnew line 3\n").unwrap();
        let mut lines = 0;
        let err = r
            .read_lines(usize::MAX, &mut Vec::new(), Some(fp), |_| lines += 1)
            .unwrap_err();
        assert!(HeadChanged::is(&err), "{err}");
        assert_eq!((lines, r.read_pos(), r.line_offset()), (0, 0, 0));
        // Shorter than the fingerprinted head: truncated too.
        std::fs::write(&p, b"old line 1\n").unwrap();
        let err = r
            .read_lines(usize::MAX, &mut Vec::new(), Some(fp), |_| lines += 1)
            .unwrap_err();
        assert!(HeadChanged::is(&err));
        // The content it was identified by, grown: read.
        std::fs::write(&p, b"old line 1\nold line 2\nold line 3\n").unwrap();
        r.read_lines(usize::MAX, &mut Vec::new(), Some(fp), |_| lines += 1)
            .unwrap();
        assert_eq!(lines, 3);
    }

    #[test]
    fn plain_lines_with_offsets_and_partial_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, b"ab\ncde\nf").unwrap();
        let mut r = Reader::plain(File::open(&p).unwrap(), 0);
        assert_eq!(collect(&mut r), vec![(0, "ab".into()), (3, "cde".into())]);
        assert_eq!(r.line_offset(), 7);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"g\nh\n")
            .unwrap();
        assert_eq!(collect(&mut r), vec![(7, "fg".into()), (10, "h".into())]);
        let mut r = Reader::plain(File::open(&p).unwrap(), 3);
        assert_eq!(collect(&mut r).len(), 3);
    }

    #[test]
    fn gz_resumes_at_uncompressed_offset() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log.gz");
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&p).unwrap(), flate2::Compression::fast());
        enc.write_all(b"one\ntwo\nthree\n").unwrap();
        enc.finish().unwrap();
        let mut r = Reader::gz(&p, 4).unwrap();
        assert_eq!(
            collect(&mut r),
            vec![(4, "two".into()), (8, "three".into())]
        );
        assert!(r.gz_done());
        assert!(Reader::gz(&p, 100).is_err());
    }

    #[test]
    fn lines_spanning_reads_keep_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.log");
        let long = "x".repeat(CHUNK + 10);
        std::fs::write(&p, format!("a\n{long}\nb\n")).unwrap();
        let mut r = Reader::plain(File::open(&p).unwrap(), 0);
        let got = collect(&mut r);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1], (2, long.clone()));
        assert_eq!(got[2], (2 + long.len() as u64 + 1, "b".to_string()));
        assert_eq!(r.line_offset(), std::fs::metadata(&p).unwrap().len());
    }
}

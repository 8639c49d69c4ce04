//! Reading one file: plain files by positional reads from a kept-open descriptor (so a deleted or renamed file
//! is still drained), gzip copies through a decoder that first skips to the saved uncompressed offset. Complete
//! physical lines are handed out with their file offset; a trailing partial line waits for its `\n`.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::assemble::RawLine;

/// Bytes read per `read` call.
const CHUNK: usize = 256 * 1024;
/// A "line" without `\n` longer than this is handed out in pieces (bounded memory).
const MAX_LINE: usize = 8 << 20;

enum Src {
    Plain(File),
    Gz(Box<flate2::read::MultiGzDecoder<BufReader<File>>>),
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
        let mut dec = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(CHUNK, f));
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

    /// Reads up to about `budget` bytes and calls `f` for every complete line. Returns the bytes read.
    pub fn read_lines(
        &mut self,
        budget: usize,
        mut f: impl FnMut(RawLine<'_>),
    ) -> io::Result<usize> {
        let mut total = 0;
        while total < budget {
            let old = self.buf.len();
            self.buf.resize(old + CHUNK, 0);
            let n = loop {
                let r = match &mut self.src {
                    Src::Plain(file) => file.read_at(&mut self.buf[old..], self.pos),
                    Src::Gz(dec) => dec.read(&mut self.buf[old..]),
                };
                match r {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            let n = match n {
                Ok(n) => n,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            };
            self.buf.truncate(old + n);
            if n == 0 {
                if self.is_gz() {
                    self.gz_eof = true;
                }
                break;
            }
            self.pos += n as u64;
            total += n;
            self.emit(old, &mut f);
        }
        Ok(total)
    }

    /// Hands out the complete lines in `buf` (searching for `\n` from `from`).
    fn emit(&mut self, from: usize, f: &mut impl FnMut(RawLine<'_>)) {
        let mut start = 0;
        let mut search = from;
        while let Some(i) = memchr::memchr(b'\n', &self.buf[search..]) {
            let end = search + i;
            f(RawLine {
                offset: self.line_start + start as u64,
                bytes: &self.buf[start..end],
            });
            start = end + 1;
            search = start;
        }
        if start == 0 && self.buf.len() > MAX_LINE {
            // No newline in sight: hand the piece out to keep memory bounded.
            start = self.buf.len();
            f(RawLine {
                offset: self.line_start,
                bytes: &self.buf[..start],
            });
            // The piece has no '\n'; account it so offsets stay file offsets.
            self.line_start += start as u64;
            self.buf.clear();
            return;
        }
        self.line_start += start as u64;
        self.buf.drain(..start);
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
        r.read_lines(usize::MAX, |l| {
            v.push((l.offset, String::from_utf8_lossy(l.bytes).into_owned()))
        })
        .unwrap();
        v
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
        assert_eq!(collect(&mut r).len(), 2);
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
}

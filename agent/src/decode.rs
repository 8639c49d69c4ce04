//! Decoding of one physical container-log line: pure functions over `&[u8]`.
//!
//! Two framings exist on a node: the CRI format kubelet writes under `/var/log/pods`
//! (`<RFC3339Nano> <stdout|stderr> <P|F>[:tags] <content>`) and Docker's `json-file` format
//! (`{"log":"…\n","stream":"stdout","attrs":{…},"time":"…"}`). Both split long lines into pieces: CRI marks
//! every piece but the last with `P`, Docker leaves the trailing `\n` off every piece but the last. The
//! decoders here only describe one line; merging pieces and multi-line events happens in
//! [`crate::merge`] and [`crate::assemble`].

pub mod json;

use logmind_protocol::time::parse_rfc3339_nanos;

/// The container output stream a line was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// Both streams, in index order.
    pub const ALL: [Stream; 2] = [Stream::Stdout, Stream::Stderr];

    /// `"stdout"` or `"stderr"`, as in the record.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// 0 for stdout, 1 for stderr (for per-stream arrays).
    pub fn index(self) -> usize {
        self as usize
    }

    fn from_bytes(b: &[u8]) -> Option<Stream> {
        match b {
            b"stdout" => Some(Stream::Stdout),
            b"stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }
}

/// One decoded CRI line; `content` borrows the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CriLine<'a> {
    /// Timestamp in ns since the epoch.
    pub ts: i64,
    /// Output stream.
    pub stream: Stream,
    /// True for a `P` (partial) piece that the next piece of the same stream continues.
    pub partial: bool,
    /// The content after the framing (no trailing newline).
    pub content: &'a [u8],
}

/// Decodes one CRI line (without its `\n`); `None` when the framing is malformed.
pub fn decode_cri(line: &[u8]) -> Option<CriLine<'_>> {
    let sp1 = memchr::memchr(b' ', line)?;
    let ts = parse_rfc3339_nanos(&line[..sp1])?;
    let rest = &line[sp1 + 1..];
    let sp2 = memchr::memchr(b' ', rest)?;
    let stream = Stream::from_bytes(&rest[..sp2])?;
    let rest = &rest[sp2 + 1..];
    // The tag runs to the next space (or the end of a line with empty content).
    let (tag, content) = match memchr::memchr(b' ', rest) {
        Some(sp3) => (&rest[..sp3], &rest[sp3 + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    let first = tag.split(|&c| c == b':').next()?;
    let partial = match first {
        b"P" => true,
        b"F" => false,
        _ => return None,
    };
    Some(CriLine {
        ts,
        stream,
        partial,
        content,
    })
}

/// One decoded Docker `json-file` line; `log` is still JSON-escaped (see [`json::unescape_into`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DockerLine<'a> {
    /// Timestamp in ns since the epoch, `None` when `time` is missing or unparsable.
    pub ts: Option<i64>,
    /// Output stream (`stdout` when the field is missing).
    pub stream: Stream,
    /// The `log` field, escaped.
    pub log: json::RawStr<'a>,
}

impl DockerLine<'_> {
    /// Appends the unescaped `log` text to `out` (at most `limit` bytes, the rest counted), leaving off the
    /// trailing newline. Returns `(content length, complete)`: `complete` is false for a piece that the next
    /// line continues (no trailing `\n`).
    pub fn content_into(&self, out: &mut Vec<u8>, limit: usize) -> (usize, bool) {
        let start = out.len();
        let r = json::unescape_into(self.log.raw, out, limit);
        if r.last == Some(b'\n') {
            if r.appended == r.total {
                out.truncate(start + r.appended - 1);
            }
            (r.total - 1, true)
        } else {
            (r.total, false)
        }
    }
}

/// Decodes one Docker `json-file` line; `None` when it is not a JSON object with a string `log` field.
pub fn decode_docker(line: &[u8]) -> Option<DockerLine<'_>> {
    use json::{scan_string, skip_value, skip_ws};
    let mut i = skip_ws(line, 0);
    if line.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(line, i + 1);
    let mut log = None;
    let mut stream = Stream::Stdout;
    let mut ts = None;
    if line.get(i) != Some(&b'}') {
        loop {
            let (key, e) = scan_string(line, i)?;
            i = skip_ws(line, e);
            if line.get(i) != Some(&b':') {
                return None;
            }
            i = skip_ws(line, i + 1);
            let is_string = line.get(i) == Some(&b'"');
            match key.raw {
                b"log" if is_string => {
                    let (v, e) = scan_string(line, i)?;
                    log = Some(v);
                    i = e;
                }
                b"stream" if is_string => {
                    let (v, e) = scan_string(line, i)?;
                    stream = Stream::from_bytes(v.raw)?;
                    i = e;
                }
                b"time" if is_string => {
                    let (v, e) = scan_string(line, i)?;
                    ts = parse_rfc3339_nanos(v.raw);
                    i = e;
                }
                _ => i = skip_value(line, i, 1)?,
            }
            i = skip_ws(line, i);
            match line.get(i)? {
                b',' => i = skip_ws(line, i + 1),
                b'}' => break,
                _ => return None,
            }
        }
    }
    Some(DockerLine {
        ts,
        stream,
        log: log?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TS: i64 = 1_733_306_400_123_456_789;

    #[test]
    fn cri_full_partial_tags_and_empty_content() {
        let l = decode_cri(b"2024-12-04T10:00:00.123456789Z stdout F hello world").unwrap();
        assert_eq!(
            l,
            CriLine {
                ts: TS,
                stream: Stream::Stdout,
                partial: false,
                content: b"hello world"
            }
        );
        let l = decode_cri(b"2024-12-04T10:00:00.123456789Z stderr P:x=y part").unwrap();
        assert!(l.partial);
        assert_eq!(l.stream, Stream::Stderr);
        assert_eq!(l.content, b"part");
        assert_eq!(
            decode_cri(b"2024-12-04T10:00:00.123456789Z stdout F")
                .unwrap()
                .content,
            b""
        );
        assert_eq!(
            decode_cri(b"2024-12-04T10:00:00.123456789Z stdout F ")
                .unwrap()
                .content,
            b""
        );
        assert_eq!(
            decode_cri(b"2024-12-04T10:00:00.123456789Z stdout F  two spaces")
                .unwrap()
                .content,
            b" two spaces"
        );
    }

    #[test]
    fn cri_malformed_is_none() {
        for bad in [
            &b""[..],
            b"garbage",
            b"2024-12-04T10:00:00Z stdin F x",
            b"2024-12-04T10:00:00Z stdout X x",
            b"not-a-time stdout F x",
            b"2024-12-04T10:00:00Z stdout",
        ] {
            assert_eq!(decode_cri(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn docker_common_shape_with_attrs() {
        let line = br#"{"log":"hello \"x\"\n","stream":"stderr","attrs":{"tag":"a\"}"},"time":"2024-12-04T10:00:00.123456789Z"}"#;
        let d = decode_docker(line).unwrap();
        assert_eq!(d.ts, Some(TS));
        assert_eq!(d.stream, Stream::Stderr);
        let mut out = Vec::new();
        assert_eq!(d.content_into(&mut out, usize::MAX), (9, true));
        assert_eq!(out, b"hello \"x\"");
    }

    #[test]
    fn docker_piece_without_newline_is_partial() {
        let d = decode_docker(br#"{"log":"abc","stream":"stdout","time":"2024-12-04T10:00:00Z"}"#)
            .unwrap();
        let mut out = Vec::new();
        assert_eq!(d.content_into(&mut out, usize::MAX), (3, false));
        let mut out = Vec::new();
        let d = decode_docker(br#"{"log":"abcdef\n","stream":"stdout"}"#).unwrap();
        assert_eq!(d.ts, None);
        assert_eq!(d.content_into(&mut out, 2), (6, true));
        assert_eq!(out, b"ab");
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic_on_json_like_or_cri_like_input(
            tail in r#"[{}\[\]":, a-z0-9\\.TZ-]{0,120}"#,
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
        ) {
            for prefix in [r#"{"log":"#, r#"{"attrs":{"a":["#, "{", "2024-12-04T10:00:00Z stdout "] {
                let mut line = format!("{prefix}{tail}").into_bytes();
                let _ = decode_cri(&line);
                if let Some(d) = decode_docker(&line) {
                    let mut out = Vec::new();
                    let (len, _) = d.content_into(&mut out, 16);
                    proptest::prop_assert!(out.len() <= 16 && out.len() <= len);
                }
                line.extend_from_slice(&bytes);
                let _ = decode_cri(&line);
                let _ = decode_docker(&line);
            }
        }

        #[test]
        fn docker_round_trips_any_text(log in "\\PC{0,80}", newline in proptest::bool::ANY) {
            let text = if newline { format!("{log}\n") } else { log.clone() };
            let line = format!(
                r#"{{"log":{},"stream":"stderr","time":"2024-12-04T10:00:00Z"}}"#,
                serde_json::to_string(&text).unwrap()
            );
            let d = decode_docker(line.as_bytes()).unwrap();
            let mut out = Vec::new();
            let (len, complete) = d.content_into(&mut out, usize::MAX);
            proptest::prop_assert_eq!(complete, newline);
            proptest::prop_assert_eq!(len, log.len());
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), log);
        }
    }

    #[test]
    fn docker_malformed_is_none() {
        for bad in [
            &b""[..],
            b"{",
            b"[1]",
            br#"{"stream":"stdout"}"#,
            br#"{"log":"x","stream":"stdin"}"#,
            br#"{"log":"x" "stream":"stdout"}"#,
            br#"{"log":"unterminated}"#,
        ] {
            assert_eq!(decode_docker(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}

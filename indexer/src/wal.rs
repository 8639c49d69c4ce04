//! The write-ahead log: append-only segment files under `<data_dir>/wal/`, named by their first LSN.
//!
//! Entry layout (little endian): `magic u32 | payload_len u32 | crc32(payload) u32 | payload`, where payload is
//! `lsn u64 | seq u64 | agent_len u16 | agent | body`. With magic `LML2`, `body` is the batch's NDJSON as an lz4
//! frame (the agent's frame as received: the WAL writes ~4x fewer bytes and nothing is compressed twice); the
//! older `LML1` entries hold the NDJSON itself and are still read. A torn or corrupt entry ends a segment (a
//! crash mid-write leaves at most one, at the tail of the newest segment).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{IndexerError, Result};

const MAGIC_V1: u32 = 0x314c_4d4c; // "LML1": body is NDJSON
const MAGIC: u32 = 0x324c_4d4c; // "LML2": body is an lz4 frame of the NDJSON
const HEADER: usize = 12;
/// Largest payload accepted when reading (guards against a corrupt length).
const MAX_PAYLOAD: usize = 1 << 30;

/// One decoded WAL entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalEntry {
    /// Log sequence number, strictly increasing over the whole WAL.
    pub lsn: u64,
    /// Sending agent.
    pub agent: String,
    /// The agent's batch sequence.
    pub seq: u64,
    /// Decompressed NDJSON body.
    pub body: Vec<u8>,
}

/// Appends the encoded entry to `out`; `body` is the lz4 frame of the batch's NDJSON.
pub fn encode_entry(lsn: u64, agent: &str, seq: u64, body: &[u8], out: &mut Vec<u8>) {
    encode(MAGIC, lsn, agent, seq, body, out);
}

fn encode(magic: u32, lsn: u64, agent: &str, seq: u64, body: &[u8], out: &mut Vec<u8>) {
    let agent = &agent.as_bytes()[..agent.len().min(u16::MAX as usize)];
    let payload_len = 8 + 8 + 2 + agent.len() + body.len();
    out.extend_from_slice(&magic.to_le_bytes());
    out.extend_from_slice(&u32::try_from(payload_len).unwrap_or(u32::MAX).to_le_bytes());
    let crc_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let start = out.len();
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&u16::try_from(agent.len()).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(agent);
    out.extend_from_slice(body);
    let crc = crc32fast::hash(&out[start..]);
    out[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Decodes the entry at the start of `b`: the entry and its encoded length, or `None` when torn/corrupt.
pub fn decode_entry(b: &[u8]) -> Option<(WalEntry, usize)> {
    let magic = u32_at(b, 0)?;
    if magic != MAGIC && magic != MAGIC_V1 {
        return None;
    }
    let len = u32_at(b, 4)? as usize;
    if !(18..=MAX_PAYLOAD).contains(&len) {
        return None;
    }
    let crc = u32_at(b, 8)?;
    let payload = b.get(HEADER..HEADER + len)?;
    if crc32fast::hash(payload) != crc {
        return None;
    }
    let lsn = u64_at(payload, 0)?;
    let seq = u64_at(payload, 8)?;
    let alen = u16::from_le_bytes(payload.get(16..18)?.try_into().ok()?) as usize;
    let agent = String::from_utf8(payload.get(18..18 + alen)?.to_vec()).ok()?;
    let body = payload.get(18 + alen..)?;
    let body = if magic == MAGIC {
        // the CRC matched, so a frame that does not decompress was written that way: treat it as corrupt
        logmind_protocol::lz4_decompress(body, MAX_PAYLOAD).ok()?
    } else {
        body.to_vec()
    };
    Some((
        WalEntry {
            lsn,
            agent,
            seq,
            body,
        },
        HEADER + len,
    ))
}

/// A segment file on disk.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Its path.
    pub path: PathBuf,
    /// LSN of its first entry (from its name).
    pub first_lsn: u64,
    /// LSN of its last entry (0 when empty).
    pub last_lsn: u64,
    /// Valid bytes.
    pub bytes: u64,
}

/// Name of the segment starting at `first_lsn`.
pub fn segment_path(dir: &Path, first_lsn: u64) -> PathBuf {
    dir.join(format!("{first_lsn:020}.wal"))
}

/// The segment files of `dir`, oldest first (not yet read).
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(IndexerError::io("read wal directory", dir)(e)),
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".wal")) else {
            continue;
        };
        if let Ok(first) = stem.parse::<u64>() {
            out.push((first, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads a whole segment: its valid entries and the length of the valid prefix.
pub fn read_segment(path: &Path) -> Result<(Vec<WalEntry>, u64)> {
    read_segment_through(path, u64::MAX)
}

/// Reads a segment's entries up to LSN `through`. Below `u64::MAX` the segment may be growing (the indexing
/// thread reads what the writer made durable while it appends more), so an entry cut short after them is no
/// corruption and is not reported.
pub fn read_segment_through(path: &Path, through: u64) -> Result<(Vec<WalEntry>, u64)> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(IndexerError::io("read wal segment", path))?;
    let mut entries = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        match decode_entry(&bytes[at..]) {
            Some((e, _)) if e.lsn > through => break,
            Some((e, n)) => {
                entries.push(e);
                at += n;
            }
            None => {
                if through == u64::MAX {
                    tracing::warn!(
                        segment = %path.display(),
                        offset = at,
                        trailing = bytes.len() - at,
                        "wal segment ends with a torn or corrupt entry; ignoring the rest"
                    );
                }
                break;
            }
        }
    }
    Ok((entries, at as u64))
}

/// Opens (creating) a segment for appending, positioned at its end.
pub fn open_for_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(IndexerError::io("open wal segment", path))
}

/// Truncates a segment to its valid prefix (drops a torn tail) and fsyncs it.
pub fn truncate_to(path: &Path, len: u64) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(IndexerError::io("open wal segment", path))?;
    f.set_len(len)
        .and_then(|_| f.sync_all())
        .map_err(IndexerError::io("truncate wal segment", path))
}

/// Writes and fsyncs (data only) one group of encoded entries.
pub fn append_group(file: &mut File, buf: &[u8]) -> std::io::Result<()> {
    file.write_all(buf)?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn torn_tail_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = segment_path(dir.path(), 1);
        let mut buf = Vec::new();
        encode_entry(1, "agent", 7, &lz4(b"{\"ts\":1}\n"), &mut buf);
        encode_entry(2, "agent", 8, &lz4(b"{\"ts\":2}\n"), &mut buf);
        let full = buf.len();
        buf.truncate(full - 3);
        fs::write(&path, &buf).expect("write");
        let (entries, valid) = read_segment(&path).expect("read");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].seq, 7);
        assert_eq!(entries[0].agent, "agent");
        truncate_to(&path, valid).expect("truncate");
        assert_eq!(fs::metadata(&path).expect("stat").len(), valid);
    }

    fn lz4(b: &[u8]) -> Vec<u8> {
        logmind_protocol::lz4_compress(b)
    }

    #[test]
    fn reads_v1_entries_with_plain_ndjson() {
        let mut buf = Vec::new();
        encode(MAGIC_V1, 3, "a", 9, b"{\"ts\":1}\n", &mut buf);
        encode_entry(4, "a", 10, &lz4(b"{\"ts\":2}\n"), &mut buf);
        let (e, n) = decode_entry(&buf).expect("v1 entry");
        assert_eq!((e.lsn, e.body.as_slice()), (3, &b"{\"ts\":1}\n"[..]));
        let (e, _) = decode_entry(&buf[n..]).expect("v2 entry");
        assert_eq!((e.lsn, e.body.as_slice()), (4, &b"{\"ts\":2}\n"[..]));
    }

    proptest! {
        #[test]
        fn entries_round_trip(lsn: u64, seq: u64, agent in ".{0,20}", body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut buf = Vec::new();
            encode_entry(lsn, &agent, seq, &lz4(&body), &mut buf);
            let (e, n) = decode_entry(&buf).expect("decode");
            prop_assert_eq!(n, buf.len());
            prop_assert_eq!(e, WalEntry { lsn, agent, seq, body });
        }

        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_entry(&b);
        }
    }
}

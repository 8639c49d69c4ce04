//! File identity: device + inode, checked against a fingerprint of the file's head (its first
//! [`HEAD_LEN`] bytes, or fewer while the file is shorter). A `.gz` file is fingerprinted over its
//! decompressed head, so a rotated file that was compressed is recognised as the same content.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// How many head bytes the fingerprint covers once the file is that long.
pub const HEAD_LEN: usize = 256;

/// Device and inode of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileKey {
    /// Device id.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

impl FileKey {
    /// The key of an open file or a stat result.
    pub fn of(meta: &std::fs::Metadata) -> Self {
        FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Size and modification time of a `.gz` file: what tells one compressed file's content at an inode from
/// another's. A `.gz` is never modified once complete, but its inode is: ext4 hands a deleted file's inode
/// to the next file created, so the `.gz` written right after the oldest one is deleted often has the same
/// device and inode; and Docker writes `.1.gz` in place, so it grows while it is compressed. A rename (the
/// `.1.gz` → `.2.gz` shift) keeps both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GzStamp {
    /// Size in bytes.
    pub len: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i128,
}

impl GzStamp {
    /// The stamp of a stat result.
    pub fn of(meta: &std::fs::Metadata) -> Self {
        GzStamp {
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }
}

/// Hash of the first `len` bytes of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Fingerprint {
    /// How many head bytes are covered (≤ [`HEAD_LEN`]); 0 = empty file, matches nothing.
    pub len: u32,
    /// FNV-1a 64 of those bytes.
    pub hash: u64,
}

impl Fingerprint {
    /// Fingerprint of `head` (at most [`HEAD_LEN`] bytes are used).
    pub fn of(head: &[u8]) -> Self {
        let head = &head[..head.len().min(HEAD_LEN)];
        Fingerprint {
            len: head.len() as u32,
            hash: fnv1a(head),
        }
    }

    /// Whether `head` (the first bytes of some file) starts with the content this fingerprint covers.
    pub fn matches(&self, head: &[u8]) -> bool {
        let n = self.len as usize;
        n > 0 && head.len() >= n && fnv1a(&head[..n]) == self.hash
    }

    /// Whether the fingerprint is complete (covers [`HEAD_LEN`] bytes) and will not grow.
    pub fn is_full(&self) -> bool {
        self.len as usize >= HEAD_LEN
    }
}

/// The fingerprint of every prefix of one file head, to check many fingerprints against that head at one
/// hash each (a new file is checked against every identity known).
#[derive(Debug)]
pub struct HeadPrefixes(Vec<u64>);

impl HeadPrefixes {
    /// Hashes every prefix of `head` (at most [`HEAD_LEN`] bytes are used) in one pass.
    pub fn of(head: &[u8]) -> Self {
        let mut h = FNV_OFFSET;
        HeadPrefixes(
            head[..head.len().min(HEAD_LEN)]
                .iter()
                .map(|&b| {
                    h = fnv_step(h, b);
                    h
                })
                .collect(),
        )
    }

    /// [`Fingerprint::matches`] for this head.
    pub fn matches(&self, fp: &Fingerprint) -> bool {
        let n = fp.len as usize;
        n > 0 && self.0.get(n - 1) == Some(&fp.hash)
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv_step(h: u64, b: u8) -> u64 {
    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
}

/// FNV-1a, 64 bit.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| fnv_step(h, b))
}

/// Reads up to [`HEAD_LEN`] bytes from the start of an open plain file (positional, cursor untouched).
pub fn read_head(file: &File) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; HEAD_LEN];
    let mut got = 0;
    while got < HEAD_LEN {
        match file.read_at(&mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// Reads up to [`HEAD_LEN`] decompressed bytes from the start of a gzip file.
pub fn read_gz_head(path: &Path) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut dec = flate2::read::MultiGzDecoder::new(file);
    let mut buf = vec![0u8; HEAD_LEN];
    let mut got = 0;
    while got < HEAD_LEN {
        match dec.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// Whether a path names a gzip-compressed file.
pub fn is_gz(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_prefix_only() {
        let fp = Fingerprint::of(b"hello world");
        assert!(fp.matches(b"hello world and more"));
        assert!(!fp.matches(b"hello"));
        assert!(!fp.matches(b"jello world"));
        assert!(!Fingerprint::of(b"").matches(b"anything"));
        assert!(Fingerprint::of(&[7u8; 400]).is_full());
    }

    #[test]
    fn head_prefixes_match_like_fingerprints() {
        let head: Vec<u8> = (0..400u32).map(|i| (i * 7 % 251) as u8).collect();
        let p = HeadPrefixes::of(&head);
        for len in [0usize, 1, 2, 100, 255, 256, 300] {
            let fp = Fingerprint::of(&head[..len]);
            assert_eq!(p.matches(&fp), fp.matches(&head), "len {len}");
            // The last byte the fingerprint covers, changed.
            let mut other = head[..len].to_vec();
            if let Some(b) = other.get_mut(len.min(HEAD_LEN).wrapping_sub(1)) {
                *b ^= 1;
            }
            let fp = Fingerprint::of(&other);
            assert_eq!(p.matches(&fp), fp.matches(&head), "changed, len {len}");
            assert!(!p.matches(&fp), "changed, len {len}");
        }
        assert!(!HeadPrefixes::of(b"short").matches(&Fingerprint::of(b"short and longer")));
    }

    #[test]
    fn gz_head_is_decompressed() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log.gz");
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&p).unwrap(), flate2::Compression::fast());
        enc.write_all(b"line one\nline two\n").unwrap();
        enc.finish().unwrap();
        assert_eq!(read_gz_head(&p).unwrap(), b"line one\nline two\n");
        assert!(is_gz(&p));
    }
}

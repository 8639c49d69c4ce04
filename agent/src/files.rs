//! The file table: every known file identity, live or not, and the rules that attach a discovered path to an
//! identity. Identity is device + inode checked against the head fingerprint; a file whose inode is unknown but
//! whose head matches an identity in the same directory that is no longer read (a gzip copy of a rotated file,
//! the copy made by `copytruncate`) continues that identity at its saved offset instead of being read again.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::assemble::{AssembleOptions, Assembler, Format, Stream};
use crate::checkpoint::FileState;
use crate::enrich::{Meta, Origin};
use crate::identity::{FileKey, Fingerprint, GzStamp, HeadPrefixes};
use crate::tail::Reader;

/// One known file identity.
pub struct Tracked {
    /// Durable state (offset is refreshed from the reader when a batch is sealed).
    pub state: FileState,
    /// Open reader, `None` for identities not being read (finished, given up, or waiting for a copy).
    pub reader: Option<Reader>,
    /// Event assembler (exists while reading).
    pub asm: Option<Assembler>,
    /// Framing.
    pub format: Format,
    /// Where the file came from (from its path).
    pub origin: Option<Origin>,
    /// Resolved metadata (resolved once per file; reading waits for it).
    pub meta: Option<Arc<Meta>>,
    /// Until when to wait for pod metadata.
    pub meta_deadline: Instant,
    /// Seen in the latest scan.
    pub in_scan: bool,
    /// Not seen in scans since (deleted or renamed away).
    pub detached_since: Option<Instant>,
    /// Last time the file grew.
    pub last_growth: Instant,
    /// Changed since the last sealed batch.
    pub dirty: bool,
    /// Assembler counters already added to the metrics.
    pub seen_malformed: u64,
    /// The file size at the last head check.
    pub checked_size: u64,
    /// (stream index, offset of its first line) of each unfinished event handed to the file that followed this
    /// one and not shipped yet: the checkpoint stays before them, and the file is not read further meanwhile.
    pub handed: Vec<(usize, u64)>,
    /// When events were handed over (reading resumes after [`crate::carry::LINK_WAIT`] at the latest).
    pub handed_at: Option<Instant>,
    /// Per stream: end of the last event emitted while an earlier event of the stream was handed over and not
    /// shipped (`last_emitted` moves there once it is).
    pub held_emitted: [u64; 2],
    /// Finished while events it handed over were not shipped yet: marked finished once they are (until then a
    /// restart reads it, or its compressed copy, again from the first of them).
    pub finish_pending: bool,
    /// Whether the check for an earlier file to continue (see [`crate::assemble::Assembler::adopt`]) was done.
    pub linked: bool,
    /// Since when the file waits for the files rotated before it to be read to their end.
    pub link_wait: Option<Instant>,
    /// The scan after which a file rotated before it was found on disk but not open (see `Pipeline::link`).
    pub link_scan: Option<u64>,
    /// The name of a compressed copy a scan found while this identity is still read from its open file (renamed,
    /// then compressed and deleted): its place in rotation order (see [`Tracked::name`]); not persisted.
    pub name_hint: Option<PathBuf>,
}

/// Framing of a file, from its name.
pub fn format_of(path: &Path) -> Format {
    if path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("-json.log"))
    {
        Format::Docker
    } else {
        Format::Cri
    }
}

/// The path a rotated file had while it was written: its name cut after `.log` (`0.log.20240115-120000.gz` →
/// `0.log`, `<id>-json.log.1` → `<id>-json.log`, `app.log-20240101` → `app.log`); `None` for other names.
pub fn live_path(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    Some(path.with_file_name(&name[..live_name_len(name)?]))
}

/// Length of the live part of a file name (see [`live_path`]).
fn live_name_len(name: &str) -> Option<usize> {
    name.match_indices(".log")
        .map(|(i, _)| i + 4)
        .filter(|&e| matches!(name.as_bytes().get(e), None | Some(b'.' | b'-')))
        .last()
}

/// Whether a path names a rotated file (`0.log.1`, `app.log-20240101`), not the path it was written at.
pub fn is_rotated_name(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| live_name_len(n).is_some_and(|e| e < n.len()))
}

impl Tracked {
    /// A tracked identity from a saved state, not reading yet.
    pub fn from_state(state: FileState, now: Instant) -> Self {
        let format = format_of(&state.path);
        Tracked {
            state,
            reader: None,
            asm: None,
            format,
            origin: None,
            meta: None,
            meta_deadline: now,
            in_scan: false,
            detached_since: None,
            last_growth: now,
            dirty: false,
            seen_malformed: 0,
            checked_size: 0,
            handed: Vec::new(),
            handed_at: None,
            held_emitted: [0; 2],
            finish_pending: false,
            linked: false,
            link_wait: None,
            link_scan: None,
            name_hint: None,
        }
    }

    /// Starts reading with `reader` from the state's offset, skipping what was already shipped.
    pub fn attach(&mut self, reader: Reader, opts: &Arc<AssembleOptions>, now: Instant) {
        let mut asm = Assembler::new(self.format, Arc::clone(opts));
        asm.skip_before(Stream::Stdout, self.state.last_emitted[0]);
        asm.skip_before(Stream::Stderr, self.state.last_emitted[1]);
        self.state.gz = reader.is_gz();
        self.reader = Some(reader);
        self.asm = Some(asm);
        self.detached_since = None;
        self.last_growth = now;
        self.seen_malformed = 0;
        self.linked = false;
        self.link_wait = None;
        self.link_scan = None;
        if self.state.born_ns.is_none() {
            let m = self.reader.as_ref().and_then(|r| r.file()?.metadata().ok());
            self.state.born_ns = m.as_ref().and_then(born_ns);
        }
        self.dirty = true;
    }

    /// The name that places this file among the files of its path: the latest a scan saw.
    pub fn name(&self) -> &Path {
        self.name_hint.as_deref().unwrap_or(&self.state.path)
    }

    /// Whether a plain (uncompressed) reader is open.
    pub fn live_plain(&self) -> bool {
        self.reader.as_ref().is_some_and(|r| !r.is_gz())
    }

    /// Offset the checkpoint may move to: nothing before it is unshipped.
    pub fn resume_offset(&self) -> u64 {
        let at = match (&self.reader, &self.asm) {
            (Some(r), Some(a)) => a
                .pending_offset()
                .map_or(r.line_offset(), |p| p.min(r.line_offset())),
            (Some(r), None) => r.line_offset(),
            _ => self.state.offset,
        };
        self.handed.iter().fold(at, |a, &(_, h)| a.min(h))
    }

    /// The state with the current resume offset.
    pub fn snapshot(&mut self) -> FileState {
        self.state.offset = self.resume_offset();
        self.state.clone()
    }

    /// Stops reading (keeps the state at its resume offset). The caller flushes the assembler first if the
    /// buffered events are to be shipped.
    pub fn detach(&mut self) {
        self.state.offset = self.resume_offset();
        self.reader = None;
        self.asm = None;
        self.dirty = true;
    }

    /// Unread bytes of an open plain file.
    pub fn lag(&self) -> u64 {
        match self.reader.as_ref().and_then(|r| r.file().map(|f| (r, f))) {
            Some((r, f)) => f
                .metadata()
                .map(|m| m.len().saturating_sub(r.read_pos()))
                .unwrap_or(0),
            None => 0,
        }
    }
}

/// A new identity id: device, inode and a generation stamp (so inode reuse and truncation get new ids).
pub fn new_id(key: Option<FileKey>) -> String {
    let stamp = logmind_protocol::time::now_nanos();
    match key {
        Some(k) => format!("{:x}-{:x}-{:x}", k.dev, k.ino, stamp),
        None => format!("0-0-{stamp:x}"),
    }
}

/// A fresh state for a newly found file.
pub fn new_state(path: &Path, key: Option<FileKey>, fp: Fingerprint, offset: u64) -> FileState {
    FileState {
        id: new_id(key),
        key,
        fp,
        path: path.to_owned(),
        offset,
        last_emitted: [0, 0],
        finished: false,
        gz: false,
        seen_unix: now_unix(),
        born_ns: None,
        key_born_ns: None,
    }
}

/// When a file was born (statx btime; its mtime where the file system has none), as ns since the epoch.
pub fn born_ns(m: &std::fs::Metadata) -> Option<u64> {
    btime_ns(m).or_else(|| written_ns(m))
}

/// The birth time (statx btime) of a file, as ns since the epoch; `None` where the file system keeps none.
pub fn btime_ns(m: &std::fs::Metadata) -> Option<u64> {
    m.created().ok().map(unix_nanos)
}

/// When a file was last written (mtime), as ns since the epoch: the birth of content a truncation left in an
/// inode, which was written after the copy made of the old content and before any file rotated after it.
pub fn written_ns(m: &std::fs::Metadata) -> Option<u64> {
    m.modified().ok().map(unix_nanos)
}

/// `t` as ns since the epoch (0 before it).
pub fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Seconds since the epoch.
pub fn now_unix() -> u64 {
    (logmind_protocol::time::now_nanos() / 1_000_000_000).max(0) as u64
}

/// All known identities.
#[derive(Default)]
pub struct FileTable {
    /// By id.
    pub files: HashMap<String, Tracked>,
    /// Device+inode of open plain files → id.
    pub live: HashMap<FileKey, String>,
    /// Device+inode of gzip files already handled → the stamp they had then and the id being read from it, or
    /// `None` (nothing to read). A different stamp at the same inode is another file (or more of it).
    pub gz_seen: HashMap<FileKey, (GzStamp, Option<String>)>,
    /// Ids forgotten since the last sealed batch.
    pub removed: Vec<String>,
}

impl FileTable {
    /// Identities in the same directory as `path` whose fingerprint matches `head`, best (longest) first.
    pub fn content_matches(&self, path: &Path, head: &[u8]) -> Vec<String> {
        let dir = path.parent();
        // Content first: one hash per identity would cost a pass over the head each; the directory check parses
        // paths. A scan finding 1,000 new files at start spent most of its time here.
        let prefixes = HeadPrefixes::of(head);
        let mut v: Vec<(&Tracked, u32)> = self
            .files
            .values()
            .filter(|t| prefixes.matches(&t.state.fp) && t.state.path.parent() == dir)
            .map(|t| (t, t.state.fp.len))
            .collect();
        v.sort_by_key(|x| std::cmp::Reverse(x.1));
        v.into_iter().map(|(t, _)| t.state.id.clone()).collect()
    }

    /// Adds an identity.
    pub fn insert(&mut self, t: Tracked) {
        if t.live_plain() {
            if let Some(k) = t.state.key {
                self.live.insert(k, t.state.id.clone());
            }
        }
        self.files.insert(t.state.id.clone(), t);
    }

    /// Forgets an identity.
    pub fn remove(&mut self, id: &str) {
        if let Some(t) = self.files.remove(id) {
            if let Some(k) = t.state.key {
                if self.live.get(&k).is_some_and(|x| x == id) {
                    self.live.remove(&k);
                }
            }
            self.removed.push(id.to_string());
        }
    }
}

/// Opens a plain file for reading and returns it with its device+inode (from the descriptor, not the path).
pub fn open_plain(path: &PathBuf) -> std::io::Result<(File, FileKey, u64)> {
    let f = File::open(path)?;
    let m = f.metadata()?;
    Ok((f, FileKey::of(&m), m.len()))
}

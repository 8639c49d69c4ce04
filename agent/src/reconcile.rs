//! Reconciling a scan with the file table: new files, renames, copies, compressed copies, truncation,
//! deletion. See [`crate::files`] for the identity rules.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::discover::{EarlyFile, EARLY_HOLD};
use crate::enrich::origin_from_path;
use crate::files::{
    btime_ns, format_of, new_state, now_unix, open_plain, unix_nanos, written_ns, Tracked,
};
use crate::identity::{is_gz, read_gz_head, read_head, FileKey, Fingerprint, GzStamp, HEAD_LEN};
use crate::metrics::{GiveUp, Metrics};
use crate::pipeline::Pipeline;
use crate::tail::Reader;

/// How long a file that looks like a fresh copy of a file still being read waits before it is taken as new.
const COPY_DECIDE: Duration = Duration::from_secs(5);
/// Failed attempts to read a compressed copy before it is given up.
const GZ_ATTEMPTS: u32 = 5;

impl Pipeline {
    /// Matches the files of a fresh scan against the table.
    pub(crate) fn reconcile(&mut self, now: Instant) {
        let mut found: Vec<(PathBuf, fs::Metadata)> = self
            .disc
            .scan()
            .into_iter()
            .filter_map(|p| fs::metadata(&p).ok().map(|m| (p, m)))
            .collect();
        // Plain files first: a `.gz` whose plain original is still there (Docker compresses `.1` into `.1.gz`
        // in place, then deletes `.1`) must find the original's identity rather than start one of its own.
        found.sort_by_key(|(p, _)| is_gz(p));
        // Before any copy is matched by content, each identity not being read is taken up at its own inode, or
        // released when that inode now holds another file or other content.
        let saved: HashMap<FileKey, String> = self
            .table
            .files
            .values()
            .filter(|t| t.reader.is_none())
            .filter_map(|t| Some((t.state.key?, t.state.id.clone())))
            .collect();
        let mut emptied = HashSet::new();
        for (path, meta) in found.iter().filter(|(p, _)| !is_gz(p)) {
            let key = FileKey::of(meta);
            if let Some(id) = saved
                .get(&key)
                .filter(|_| !self.table.live.contains_key(&key))
            {
                if self.claim_saved(path, key, id, now) {
                    emptied.insert(key);
                }
            }
        }
        Metrics::add(&self.metrics.scans, 1);
        self.scans += 1;
        for t in self.table.files.values_mut() {
            t.in_scan = false;
        }
        let mut gz_present = HashSet::new();
        let mut scanned = HashSet::new();
        for (path, meta) in found {
            let key = FileKey::of(&meta);
            scanned.insert(key);
            if is_gz(&path) {
                gz_present.insert(key);
                self.found_gz(&path, key, GzStamp::of(&meta), now);
            } else {
                self.found_plain(&path, key, emptied.contains(&key), now);
            }
        }
        for f in self.early.take() {
            self.found_early(f, &scanned, now);
        }
        self.table.gz_seen.retain(|k, _| gz_present.contains(k));
        self.gz_failures.retain(|k, _| gz_present.contains(k));
        self.deferred.retain(|_, t| now - *t < COPY_DECIDE * 4);
        self.settling
            .retain(|_, (_, t, _)| now - *t < Duration::from_secs(60));
        let unix = now_unix();
        for t in self.table.files.values_mut() {
            if t.in_scan {
                t.state.seen_unix = unix;
                t.detached_since = None;
            } else if t.live_plain() && t.detached_since.is_none() {
                info!(file = %t.state.path.display(), "file no longer discovered (deleted or renamed away); draining");
                t.detached_since = Some(now);
            }
        }
        self.initial_scan = false;
    }

    fn new_tracked(
        &self,
        path: &Path,
        key: Option<FileKey>,
        fp: Fingerprint,
        offset: u64,
        now: Instant,
    ) -> Tracked {
        let mut t = Tracked::from_state(new_state(path, key, fp, offset), now);
        t.format = format_of(path);
        t.origin = origin_from_path(path);
        t.meta_deadline = now + self.opts.pod_wait;
        t.in_scan = true;
        t
    }

    /// Tracks a file never seen before (its content starts with `head`) and starts reading it with `reader`,
    /// positioned at `offset`; returns the new identity's id.
    fn track_new(
        &mut self,
        path: &Path,
        key: Option<FileKey>,
        head: &[u8],
        offset: u64,
        reader: Reader,
        now: Instant,
    ) -> String {
        let t = self.new_tracked(path, key, Fingerprint::of(head), offset, now);
        let id = t.state.id.clone();
        self.table.insert(t);
        self.start(&id, reader, path, key, now);
        id
    }

    fn start(&mut self, id: &str, reader: Reader, path: &Path, key: Option<FileKey>, now: Instant) {
        let pod_wait = self.opts.pod_wait;
        let opts = self.asm_opts.clone();
        let Some(t) = self.table.files.get_mut(id) else {
            return;
        };
        if t.state.path != path {
            Metrics::add(&self.metrics.rotations, 1);
        }
        t.state.path = path.to_owned();
        t.name_hint = None;
        t.format = format_of(path);
        if t.origin.is_none() {
            t.origin = origin_from_path(path);
        }
        if t.meta.is_none() {
            t.meta_deadline = now + pod_wait;
        }
        t.in_scan = true;
        t.state.finished = false;
        if !reader.is_gz() {
            t.state.key = key;
            let meta = reader.file().and_then(|f| f.metadata().ok());
            t.state.key_born_ns = meta.as_ref().and_then(btime_ns);
        }
        t.attach(reader, &opts, now);
        if let (Some(k), false) = (key, t.state.gz) {
            self.table.live.insert(k, id.to_string());
        }
        self.touch();
    }

    /// The identity `id`, not being read, names the inode of `path`: it is taken up there at its offset when the
    /// inode still holds its content. Otherwise it is released (its key cleared) for a copy of its content to
    /// continue it; returns whether the inode was truncated in place (same inode, other content: `copytruncate`
    /// while it was not read), as opposed to reused by another file (another birth time).
    fn claim_saved(&mut self, path: &Path, key: FileKey, id: &str, now: Instant) -> bool {
        let Some((file, size, head)) = open_scanned(path, key) else {
            return false;
        };
        let born = file.metadata().ok().as_ref().and_then(btime_ns);
        let Some(t) = self.table.files.get_mut(id) else {
            return false;
        };
        // Another file at a reused inode has another birth time (an empty file's head tells nothing).
        let reused = matches!((t.state.key_born_ns, born), (Some(a), Some(b)) if a != b);
        let same = !reused && (t.state.fp.len == 0 || t.state.fp.matches(&head));
        if same && size >= t.state.offset {
            let off = t.state.offset;
            debug!(file = %path.display(), %id, offset = off, "resuming a known file");
            self.start(id, Reader::plain(file, off), path, Some(key), now);
            return false;
        }
        // Kept without its inode for its copies.
        t.state.key = None;
        t.dirty = true;
        !reused && t.state.key_born_ns.is_some()
    }

    /// A plain file of the scan. `truncated_in_place`: its inode held a known identity's content, which was
    /// truncated out of it while not read (`copytruncate` while the agent was stopped): the content now there is
    /// newer than the copies made of the old one.
    fn found_plain(
        &mut self,
        path: &Path,
        key: FileKey,
        mut truncated_in_place: bool,
        now: Instant,
    ) {
        if let Some(id) = self.table.live.get(&key).cloned() {
            if let Some(t) = self.table.files.get_mut(&id) {
                t.in_scan = true;
                t.name_hint = None;
                if t.state.path != path {
                    info!(from = %t.state.path.display(), to = %path.display(), "file renamed (rotation); following it");
                    Metrics::add(&self.metrics.rotations, 1);
                    t.state.path = path.to_owned();
                    t.dirty = true;
                    self.touch();
                }
            }
            return;
        }
        let Some((file, size, head)) = open_scanned(path, key) else {
            return;
        };
        let written = file.metadata().ok().as_ref().and_then(written_ns);
        // 1. The identity saved for this inode was taken up or released before (`claim_saved`).
        // 2. A copy of an identity no longer read at its inode (copytruncate's copy).
        if !head.is_empty() {
            for id in self.table.content_matches(path, &head) {
                let Some(t) = self.table.files.get(&id) else {
                    continue;
                };
                if t.state.key == Some(key) || t.state.gz {
                    continue;
                }
                if t.live_plain() {
                    let still = t.reader.as_ref().and_then(|r| r.file()).is_some_and(|f| {
                        read_head(f).is_ok_and(|h| t.state.fp.matches(&h))
                            && f.metadata().is_ok_and(|m| {
                                m.len() >= t.reader.as_ref().map_or(0, |r| r.read_pos())
                            })
                    });
                    if still {
                        let first = *self.deferred.entry(key).or_insert(now);
                        if now - first < COPY_DECIDE {
                            return; // copy made, truncation not seen yet: decide at a later scan
                        }
                        continue;
                    }
                    // The original was truncated: its old content lives on in this copy.
                    self.new_generation(&id, now);
                }
                let Some(t) = self.table.files.get(&id) else {
                    continue;
                };
                if t.finish_pending {
                    return; // continued at its offset once the events it handed over are shipped
                }
                if t.reader.is_none() && size >= t.state.offset {
                    info!(file = %path.display(), %id, offset = t.state.offset, "continuing a file from its copy");
                    let off = t.state.offset;
                    self.start(&id, Reader::plain(file, off), path, Some(key), now);
                    return;
                }
            }
        }
        // 3. A new file. One shorter than a full fingerprint may still be being written (a copy in progress):
        //    it waits until its size settles so that a copy is recognised by its content first.
        if head.len() < HEAD_LEN {
            let settle = self
                .opts
                .poll_interval
                .clamp(Duration::from_millis(300), Duration::from_secs(2));
            let (s, since, in_place) = self.settling.entry(key).or_insert((size, now, false));
            *in_place |= truncated_in_place;
            if *s != size {
                (*s, *since) = (size, now);
            }
            if now - *since < settle {
                return;
            }
        }
        if let Some((_, _, in_place)) = self.settling.remove(&key) {
            truncated_in_place |= in_place;
        }
        let offset = if self.first_start && self.initial_scan && self.opts.read_from_end {
            size
        } else {
            0
        };
        let id = self.track_new(
            path,
            Some(key),
            &head,
            offset,
            Reader::plain(file, offset),
            now,
        );
        if truncated_in_place {
            // Its inode's birth time is the old content's (see `written_ns`).
            if let (Some(t), Some(w)) = (self.table.files.get_mut(&id), written) {
                t.state.born_ns = Some(w);
            }
        }
        info!(file = %path.display(), %id, offset, "new file");
    }

    /// A file the change watcher opened when it was created. Nothing to do when the scan found it (at its path or
    /// renamed) or its content is known; when it is gone already (rotated away and deleted between two scans) it
    /// is read whole from the descriptor, then closed like any deleted file.
    fn found_early(&mut self, early: EarlyFile, scanned: &HashSet<FileKey>, now: Instant) {
        let key = early.key;
        if self.table.live.contains_key(&key) {
            return; // being read
        }
        // Still at a path (seen by the scan but not taken up yet, e.g. settling, or created after the walk passed
        // its directory): held until it is being read or gone.
        if scanned.contains(&key) || fs::metadata(&early.path).is_ok_and(|m| FileKey::of(&m) == key)
        {
            if now.saturating_duration_since(early.since) < EARLY_HOLD {
                self.early.keep(early);
            }
            return;
        }
        let EarlyFile { path, file, .. } = early;
        let path = path.as_path();
        let Ok(meta) = file.metadata() else { return };
        let Ok(head) = read_head(&file) else { return };
        if head.is_empty() || !self.table.content_matches(path, &head).is_empty() {
            return;
        }
        info!(file = %path.display(), bytes = meta.len(), "file rotated away before a scan saw it; reading it from the descriptor opened when it was created");
        let id = self.track_new(path, Some(key), &head, 0, Reader::plain(file, 0), now);
        if let Some(t) = self.table.files.get_mut(&id) {
            t.in_scan = false; // not at any path: drained, then closed (below)
        }
    }

    fn found_gz(&mut self, path: &Path, key: FileKey, stamp: GzStamp, now: Instant) {
        if let Some((seen_stamp, seen)) = self.table.gz_seen.get(&key) {
            let seen = seen.clone();
            let reading = seen
                .as_ref()
                .and_then(|id| self.table.files.get(id))
                .is_some_and(|t| t.reader.is_some());
            // Being read from it: it is the same file (an open file keeps its inode), growing if anything.
            if *seen_stamp == stamp || reading {
                if let Some(t) = seen.as_ref().and_then(|id| self.table.files.get_mut(id)) {
                    seen_at(t, path);
                }
                return;
            }
            // Other content at this inode: a deleted `.gz`'s inode reused by a newer one between two scans, or a
            // `.gz` compressed in place (Docker) that has grown since it was seen. Decide afresh.
            self.table.gz_seen.remove(&key);
        }
        let head = match read_gz_head(path) {
            Ok(h) => h,
            Err(e) => {
                self.gz_attempt_failed(path, key, stamp, &e.to_string());
                return;
            }
        };
        if head.is_empty() {
            // Nothing decompressed yet (Docker creates the `.gz`, then writes it): looked at again once it grows.
            self.table.gz_seen.insert(key, (stamp, None));
            return;
        }
        for id in self.table.content_matches(path, &head) {
            let Some(t) = self.table.files.get(&id) else {
                continue;
            };
            if t.reader.is_some() {
                // The uncompressed file (or another copy) is still being read: decide later. Unless a scan found
                // it at its path, its name is this one now (its path may be its name before the rotation).
                if let Some(t) = self.table.files.get_mut(&id).filter(|t| !t.in_scan) {
                    t.name_hint = Some(path.to_owned());
                }
                return;
            }
            if t.state.finished || t.finish_pending {
                // Drained completely before it was compressed: nothing to read (no need to decompress it).
                self.table.gz_seen.insert(key, (stamp, Some(id.clone())));
                if let Some(t) = self.table.files.get_mut(&id) {
                    seen_at(t, path);
                }
                return;
            }
            let off = t.state.offset;
            match Reader::gz(path, off) {
                Ok(r) => {
                    info!(file = %path.display(), %id, offset = off, "continuing a rotated file from its compressed copy");
                    self.table.gz_seen.insert(key, (stamp, Some(id.clone())));
                    self.start(&id, r, path, None, now);
                }
                Err(e) => self.gz_attempt_failed(path, key, stamp, &e.to_string()),
            }
            return;
        }
        if self.first_start && self.initial_scan && self.opts.read_from_end {
            self.table.gz_seen.insert(key, (stamp, None));
            return;
        }
        match Reader::gz(path, 0) {
            Ok(r) => {
                let id = self.track_new(path, None, &head, 0, r, now);
                info!(file = %path.display(), %id, "new compressed file; reading it whole");
                self.table.gz_seen.insert(key, (stamp, Some(id)));
            }
            Err(e) => self.gz_attempt_failed(path, key, stamp, &e.to_string()),
        }
    }

    /// Counts a failed attempt at a compressed file; attempts count only while the file is unchanged (one still
    /// being written is not broken), and the file is given up after [`GZ_ATTEMPTS`].
    fn gz_attempt_failed(&mut self, path: &Path, key: FileKey, stamp: GzStamp, reason: &str) {
        let (at, n) = self.gz_failures.entry(key).or_insert((stamp, 0));
        if *at != stamp {
            *at = stamp;
            *n = 0;
        }
        *n += 1;
        if *n >= GZ_ATTEMPTS {
            warn!(file = %path.display(), reason, "compressed file unreadable; given up");
            self.metrics.give_up(GiveUp::BadGzip, 1);
            self.table.gz_seen.insert(key, (stamp, None));
        }
    }

    /// A compressed copy failed mid-read: set it aside at its resume offset; a later scan retries it.
    pub(crate) fn gz_failed(&mut self, id: &str) {
        if let Some(t) = self.table.files.get_mut(id) {
            t.detach();
        }
        self.table
            .gz_seen
            .retain(|_, (_, v)| v.as_deref() != Some(id));
    }

    /// The file at this identity's inode was truncated: ship what was read, keep the old identity (without
    /// inode) so a copy of it can be continued, and read the inode's new content from 0 as a new identity.
    pub(crate) fn new_generation(&mut self, id: &str, now: Instant) {
        self.flush_all(id, false);
        let Some(t) = self.table.files.get_mut(id) else {
            return;
        };
        let path = t.state.path.clone();
        let key = t.state.key;
        let (origin, meta) = (t.origin.clone(), t.meta.clone());
        let file = t.reader.take().and_then(Reader::into_file);
        t.detach();
        t.state.key = None;
        if let Some(k) = key {
            self.table.live.remove(&k);
        }
        Metrics::add(&self.metrics.truncations, 1);
        Metrics::add(&self.metrics.rotations, 1);
        info!(file = %path.display(), %id, "file truncated (copytruncate); reading its new content from the start");
        let Some(file) = file else { return };
        let fp = read_head(&file)
            .map(|h| Fingerprint::of(&h))
            .unwrap_or_default();
        let mut nt = self.new_tracked(&path, key, fp, 0, now);
        nt.origin = origin;
        nt.meta = meta;
        // Born at its last write, not with its inode, nor when the truncation was noticed (after a restart that
        // can be after later files were created).
        let written = file.metadata().ok().as_ref().and_then(written_ns);
        nt.state.born_ns =
            Some(written.unwrap_or_else(|| unix_nanos(std::time::SystemTime::now())));
        let nid = nt.state.id.clone();
        self.table.insert(nt);
        self.start(&nid, Reader::plain(file, 0), &path, key, now);
    }

    /// Ships what is buffered and closes the file: it is finished.
    pub(crate) fn finish(&mut self, id: &str, why: &str) {
        self.push_tail(id);
        self.hand_to_successor(id);
        self.flush_all(id, false);
        if let Some(t) = self.table.files.get_mut(id) {
            info!(file = %t.state.path.display(), %id, why, "file finished and closed");
            if let Some(k) = t.state.key {
                if !t.state.gz {
                    self.table.live.remove(&k);
                }
            }
            t.detach();
            // Events it handed over and not yet shipped: a restart must read it (or its compressed copy) again.
            if t.handed.is_empty() {
                t.state.finished = true;
            } else {
                t.finish_pending = true;
            }
            t.state.key = None;
        }
        self.touch();
    }

    /// Deleted files are drained then closed (or given up after `deleted_file_grace`); files renamed out of the
    /// globs are closed once drained and idle for that long.
    pub(crate) fn handle_detached(&mut self, now: Instant) {
        let grace = self.opts.deleted_file_grace;
        let mut actions: Vec<(String, u8, u64)> = Vec::new();
        for t in self.table.files.values() {
            let Some(since) = t.detached_since else {
                continue;
            };
            let Some(f) = t.reader.as_ref().and_then(|r| r.file()) else {
                continue;
            };
            let Ok(m) = f.metadata() else { continue };
            let pos = t.reader.as_ref().map_or(0, |r| r.read_pos());
            let drained = m.len() <= pos;
            if m.nlink() == 0 {
                if drained {
                    actions.push((t.state.id.clone(), 0, 0));
                } else if now - since >= grace {
                    let resume = t.reader.as_ref().map_or(pos, |r| r.line_offset());
                    actions.push((t.state.id.clone(), 1, m.len().saturating_sub(resume)));
                }
            } else if drained && now - since >= grace && now - t.last_growth >= grace {
                actions.push((t.state.id.clone(), 2, 0));
            }
        }
        for (id, what, lost) in actions {
            match what {
                0 if self.awaits_successor(&id, now) => {}
                0 => self.finish(&id, "deleted file drained"),
                1 => {
                    let path = self
                        .table
                        .files
                        .get(&id)
                        .map(|t| t.state.path.clone())
                        .unwrap_or_default();
                    warn!(file = %path.display(), bytes = lost, "deleted file not drained within deleted_file_grace; given up");
                    self.metrics.give_up(GiveUp::DeletedGrace, lost);
                    self.flush_all(&id, false);
                    if let Some(t) = self.table.files.get_mut(&id) {
                        if let Some(k) = t.state.key.take() {
                            self.table.live.remove(&k);
                        }
                        t.detach();
                    }
                    self.touch();
                }
                _ => {
                    self.flush_all(&id, false);
                    if let Some(t) = self.table.files.get_mut(&id) {
                        info!(file = %t.state.path.display(), "file renamed away and idle; closed");
                        if let Some(k) = t.state.key {
                            self.table.live.remove(&k);
                        }
                        t.detach();
                    }
                    self.touch();
                }
            }
        }
    }
}

/// An identity whose compressed copy a scan found at `path`: seen, and at that path now (a stale path, the file's
/// name before it was rotated, would misplace it in rotation order); one being read keeps its path and is placed by
/// this name.
fn seen_at(t: &mut Tracked, path: &Path) {
    t.in_scan = true;
    if t.state.path == path {
        t.name_hint = None;
    } else if t.reader.is_none() {
        t.state.path = path.to_owned();
        t.name_hint = None;
        t.dirty = true;
    } else {
        // Read from its open descriptor: renamed since (Docker shifts `.1.gz` to `.2.gz`), placed by this name.
        t.name_hint = Some(path.to_owned());
    }
}

/// Opens a scanned plain file and reads its head; `None` when it cannot be read or was replaced between the scan's
/// stat (`key`) and the open (the next scan looks again).
fn open_scanned(path: &Path, key: FileKey) -> Option<(fs::File, u64, Vec<u8>)> {
    let (file, fkey, size) = open_plain(&path.to_path_buf()).ok()?;
    let head = read_head(&file).ok()?;
    (fkey == key).then_some((file, size, head))
}

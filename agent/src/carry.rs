//! Continuing events across a rotation. The runtime splits lines over 16 KiB into pieces, and a stack trace is
//! many lines: a rotation can fall inside either. The files rotated from one path are ordered (see [`order`]); a
//! file's first line is read only once the file before it is open (a scan can miss a file being renamed) and read
//! to its end, and an event that file left unfinished is handed over ([`crate::assemble::Assembler::hand_over`])
//! and finished by the new file, then shipped once under the identity and offset where it started. Until it is
//! shipped, the rotated file's checkpoint stays before it and the rotated file is not read further
//! ([`crate::files::Tracked::handed`]), so a crash in between replays both files and hands it over again.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::debug;

use crate::files::{born_ns, live_path, Tracked};
use crate::identity::{is_gz, read_gz_head, read_head, FileKey};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::records::emit;

/// Longest a file waits for the file rotated before it to be read to its end; also how long a rotated file's
/// unfinished event is held for the next file, and a file that handed events over pauses, at most.
pub const LINK_WAIT: Duration = Duration::from_secs(5);

/// Rotation order of the files of one path (see [`Pipeline::ranked`]): the file at the path itself is the newest
/// (after `copytruncate` it keeps an inode born before its copies); the others by birth (a rotated file keeps its
/// inode; the runtime creates the next one after the rename; content a truncation left in an inode is born at its
/// last write), then — births are recorded at clock-tick resolution — by name (see [`name_rank`]), then by
/// identity. Names come second because an identity's path can be stale (the file was renamed and deleted or
/// compressed before a scan saw the new name); birth misleads where an inode `copytruncate` emptied was renamed
/// before the agent saw it. A file compressed before the agent saw it uncompressed has no known birth: it goes
/// right after the last file whose name ranks below its own.
type Key<'a> = (bool, u64, (u8, u64, String), &'a str);

fn order(t: &Tracked) -> Key<'_> {
    let (born, rank) = place(t);
    (t.in_scan && rank.0 == LIVE, born, rank, &t.state.id)
}

/// Where a file stands among the files of its path by birth, then name (see [`order`]).
type Place = (u64, (u8, u64, String));

fn place(t: &Tracked) -> Place {
    (t.state.born_ns.unwrap_or(0), name_rank(t.name()))
}

/// The rank of the file at the path itself (see [`name_rank`]).
const LIVE: u8 = 3;

/// Newer names rank higher (see [`order`]): the path itself ([`LIVE`]); counters (`.1`, Docker and logrotate),
/// a smaller one newer; dates and times (kubelet's `.20240501-100000`, logrotate's `-20240501`, `-%s`), a later
/// one newer; any other name (`.bak`) below those, left to birth order.
fn name_rank(path: &Path) -> (u8, u64, String) {
    let (Some(live), Some(name)) = (live_path(path), path.file_name().and_then(|n| n.to_str()))
    else {
        return (0, 0, String::new());
    };
    let live_len = live.file_name().map_or(0, |n| n.len());
    let suffix = name.get(live_len..).unwrap_or("");
    if suffix.is_empty() {
        return (LIVE, 0, String::new());
    }
    let suffix = suffix[1..].trim_end_matches(".gz");
    let digits = suffix.bytes().filter(u8::is_ascii_digit).count();
    if digits == suffix.len() && digits <= 5 {
        let n = suffix.parse::<u64>().unwrap_or(0);
        (2, u64::MAX - n, String::new())
    } else if digits >= 6
        && suffix
            .bytes()
            .all(|c| c.is_ascii_digit() || b"-_.:T".contains(&c))
    {
        (1, 0, suffix.to_string())
    } else {
        (0, 0, String::new())
    }
}

/// Whether an open file is read to its end (a compressed file: decompressed to its end, also one never seen
/// uncompressed, rotated and compressed before the agent looked).
fn drained(t: &Tracked) -> bool {
    match t.reader.as_ref() {
        None => true,
        Some(r) if r.is_gz() => r.gz_done(),
        Some(r) => r
            .file()
            .is_some_and(|f| f.metadata().is_ok_and(|m| m.len() <= r.read_pos())),
    }
}

/// The streams on which `t` may continue an earlier file's event: nothing read since it was opened and nothing
/// of that stream shipped before (a restart opens every file afresh). A compressed file can, when it was
/// rotated and compressed before the agent saw it uncompressed.
fn accepts(t: &Tracked) -> [bool; 2] {
    let fresh = t.reader.is_some() && t.asm.as_ref().is_some_and(|a| a.is_fresh());
    [
        fresh && t.state.last_emitted[0] == 0,
        fresh && t.state.last_emitted[1] == 0,
    ]
}

impl Pipeline {
    /// Before the first line of a file is read: the file rotated before it from the same path is read to its end
    /// first (at most [`LINK_WAIT`]), and an event it left unfinished (a line split into pieces, a stack trace) is
    /// continued by this one, as the runtime meant. False while this file waits (or has nothing to read yet).
    pub(crate) fn link(&mut self, id: &str, now: Instant) -> bool {
        let Some(t) = self.table.files.get_mut(id) else {
            return true;
        };
        if t.linked {
            return true;
        }
        let Some(r) = t.reader.as_ref() else {
            t.linked = true;
            return true;
        };
        let unread = match r.file() {
            Some(f) => f.metadata().is_ok_and(|m| m.len() > r.read_pos()),
            None => !r.gz_done(),
        };
        if !unread {
            return false; // nothing to read yet: decided when there is
        }
        let accept = accepts(t);
        if accept == [false, false] {
            t.linked = true;
            return true;
        }
        let waited_out = now - *t.link_wait.get_or_insert(now) >= LINK_WAIT;
        let t = &self.table.files[id];
        // The latest file rotated before this one (open or not), whether every earlier one is read, and the
        // latest earlier one whose place is settled (open or finished).
        let (ranked, i) = self.ranked(t);
        let mut settled: Option<Place> = None;
        for o in &ranked[..i] {
            if !waited_out && !drained(o) {
                return false;
            }
            if o.reader.is_some() || o.state.finished {
                settled = settled.max(Some(place(o)));
            }
        }
        let prev = i.checked_sub(1).map(|j| ranked[j]);
        let prev_id = prev.map(|o| o.state.id.clone());
        let from = prev
            .filter(|o| o.reader.is_some() && drained(o))
            .map(|o| o.state.id.clone());
        if !waited_out {
            // A file between the settled one and this one on disk but not open (a scan missed it): this one
            // waits for the next scan, which is asked for at once (the directory is listed again only after it).
            if t.link_scan == Some(self.scans) {
                return false;
            }
            if self.unopened_between(settled.as_ref(), t) {
                let scans = self.scans;
                if let Some(t) = self.table.files.get_mut(id) {
                    t.link_scan = Some(scans);
                }
                self.rescan = true;
                return false;
            }
        }
        if let Some(t) = self.table.files.get_mut(id) {
            t.linked = true;
            debug!(file = %t.state.path.display(), id, prev = ?prev_id, waited_out, "first line of a file: linked after the file before it");
        }
        if let Some(from) = from {
            self.transfer(&from, id, accept, now);
        }
        true
    }

    /// A file that ends (a compressed copy read to its end, a deleted file drained) hands what it left
    /// unfinished to the file rotated right after it, if that one has not started.
    pub(crate) fn hand_to_successor(&mut self, id: &str) {
        let Some(t) = self.table.files.get(id) else {
            return;
        };
        if !t.asm.as_ref().is_some_and(|a| a.has_unfinished()) {
            return;
        }
        let (ranked, i) = self.ranked(t);
        let next = ranked
            .get(i + 1)
            .filter(|o| !o.linked && !self.unopened_between(Some(&place(t)), o))
            .map(|o| (o.state.id.clone(), accepts(o)));
        if let Some((next, accept)) = next {
            if accept != [false, false] {
                if let Some(t) = self.table.files.get_mut(&next) {
                    t.linked = true;
                }
                self.transfer(id, &next, accept, Instant::now());
            }
        }
    }

    /// Whether a file read to its end that will not grow (a compressed file, a deleted one) stays open for the
    /// file after it to continue the event it left unfinished: while no later file has started (the next one may
    /// not be found yet: a short new file is taken up only once its size settles, a file rotated and compressed
    /// between two scans only by the next one), at most [`LINK_WAIT`] after its last read.
    pub(crate) fn awaits_successor(&self, id: &str, now: Instant) -> bool {
        let Some(t) = self.table.files.get(id) else {
            return false;
        };
        if !t.asm.as_ref().is_some_and(|a| a.has_unfinished()) || now - t.last_growth >= LINK_WAIT {
            return false;
        }
        let (ranked, i) = self.ranked(t);
        !ranked[i + 1..].iter().any(|o| o.linked)
    }

    /// The files rotated from `t`'s path, `t` included, in rotation order (see [`order`]), and `t`'s index. A file
    /// without a known birth (compressed before the agent saw it uncompressed) goes right after the last file whose
    /// name ranks below its own, never after the file at the path itself. Identities neither open nor found by the
    /// last scan (finished, their file deleted since) are left out: their last-seen names are stale (Docker renames
    /// every rotated file at each rotation), and they hold nothing to hand over.
    fn ranked<'a>(&'a self, t: &'a Tracked) -> (Vec<&'a Tracked>, usize) {
        let (mut ranked, mut unborn): (Vec<_>, Vec<_>) = self
            .family(t)
            .filter(|o| o.reader.is_some() || o.in_scan)
            .chain(std::iter::once(t))
            .map(|o| (order(o), o))
            .partition(|(_, o)| o.state.born_ns.is_some());
        ranked.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        // The key of a file of unknown birth is (live, 0, name, id): sorted by name, then identity.
        unborn.sort_unstable_by(|a, b| (&a.0 .2, a.0 .3).cmp(&(&b.0 .2, b.0 .3)));
        // Newest first, each inserted after the last file named below it (not after a file of an unknown name
        // such as `.bak`, which says nothing of rotation order): the earlier ones end up before it.
        for u in unborn.into_iter().rev() {
            let rank = &u.0 .2;
            let at = ranked
                .iter()
                .rposition(|(k, _)| !k.0 && k.2 .0 > 0 && k.2 < *rank)
                .map_or(0, |j| j + 1);
            ranked.insert(at, u);
        }
        let i = ranked
            .iter()
            .position(|(_, o)| std::ptr::eq(*o, t))
            .unwrap_or(0);
        (ranked.into_iter().map(|(_, o)| o).collect(), i)
    }

    /// Whether a file of `t`'s family rotated before `t` (and after `after`, if given) is on disk but not open.
    /// A scan can miss a file that is renamed while it lists the directory (and the change watcher may not have
    /// been running when it was created, e.g. at a restart): `t` must not continue an event of a file older than
    /// the one it really follows, nor start without the event of the one it follows. Files before the last one
    /// whose place is settled (`after`: open or finished) do not matter, e.g. an older file the agent cannot read.
    fn unopened_between(&self, after: Option<&Place>, t: &Tracked) -> bool {
        let (Some(live), Some(dir)) = (live_path(&t.state.path), t.state.path.parent()) else {
            return false;
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        let me = place(t);
        entries.flatten().any(|e| {
            let p = e.path();
            if live_path(&p).as_deref() != Some(&*live) || !self.disc.wants(&p) {
                return false;
            }
            let Ok(m) = std::fs::metadata(&p) else {
                return false;
            };
            let key = FileKey::of(&m);
            if !m.is_file() || self.table.live.contains_key(&key) {
                return false;
            }
            // Not a copy of a known file (`copytruncate`'s copy, a compressed copy: its identity continues there,
            // or is read from the original still), nor a compressed file a scan has decided on.
            if is_gz(&p) && self.table.gz_seen.contains_key(&key) {
                return false;
            }
            let head = if is_gz(&p) {
                read_gz_head(&p)
            } else {
                std::fs::File::open(&p).and_then(|f| read_head(&f))
            };
            let copy_of_known = |h: &[u8]| {
                self.table.content_matches(&p, h).iter().any(|id| {
                    self.table.files.get(id).is_some_and(|o| {
                        (o.reader.is_some() || o.state.finished) && o.state.key != Some(key)
                    })
                })
            };
            // (A compressed file still being written cannot be told yet: not waited for.)
            if head.map_or(is_gz(&p), |h| h.is_empty() || copy_of_known(&h)) {
                return false;
            }
            // Rotated before `t`: born before it (a copy made later is no predecessor), not the file at the path.
            // A compressed file's inode is born when it was compressed, after the file that followed it, and a `t`
            // of unknown birth is placed by its name (see [`Pipeline::ranked`]): those compare by name.
            let at = (born_ns(&m).unwrap_or(0), name_rank(&p));
            let by_name = is_gz(&p) || t.state.born_ns.is_none();
            let before = |a: &Place, b: &Place| if by_name { a.1 < b.1 } else { a < b };
            at.1 .0 != LIVE && before(&at, &me) && after.is_none_or(|a| before(a, &at))
        })
    }

    /// The other identities (open or not) of files rotated from the same path as `t`.
    fn family<'a>(&'a self, t: &'a Tracked) -> impl Iterator<Item = &'a Tracked> + 'a {
        let live = live_path(&t.state.path);
        self.table.files.values().filter(move |o| {
            let Some(live) = live.as_deref() else {
                return false;
            };
            // A byte-prefix test first: this runs for every file when many files start at once.
            let (l, p) = (
                live.as_os_str().as_bytes(),
                o.state.path.as_os_str().as_bytes(),
            );
            p.starts_with(l)
                && p.get(l.len()).is_none_or(|c| matches!(c, b'.' | b'-'))
                && !p[l.len()..].contains(&b'/')
                && o.state.id != t.state.id
                && live_path(&o.state.path).as_deref() == Some(live)
        })
    }

    /// Hands the unfinished events of `from` (on the streams `accept` allows) to `to`.
    fn transfer(&mut self, from: &str, to: &str, accept: [bool; 2], now: Instant) {
        if self.table.files.get(to).is_none_or(|t| t.asm.is_none()) {
            return;
        }
        let handover = self.table.files.get_mut(from).and_then(|o| {
            let file: Arc<str> = Arc::from(o.state.id.as_str());
            let h = o.asm.as_mut()?.hand_over(&file, accept)?;
            if !h.offsets.is_empty() {
                o.handed.extend(h.offsets.iter().copied());
                o.handed_at = Some(now);
            }
            o.dirty = true;
            Some(h)
        });
        let Some(h) = handover else { return };
        if let Some(t) = self.table.files.get_mut(to) {
            if let Some(asm) = t.asm.as_mut() {
                asm.adopt(h, now, &mut self.events);
                emit(
                    &mut self.batch,
                    t,
                    &mut self.events,
                    &self.opts,
                    &self.metrics,
                );
                Metrics::add(&self.metrics.events_continued, 1);
                debug!(file = %t.state.path.display(), from, "continuing an event the rotated file left unfinished");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn newer(a: &str, b: &str) -> bool {
        name_rank(Path::new(a)) > name_rank(Path::new(b))
    }

    #[test]
    fn names_rank_in_rotation_order() {
        // The path itself, then counters (smaller newer), compressed or not.
        assert!(newer("/d/0.log", "/d/0.log.20240501-100000"));
        assert!(newer("/d/x-json.log.1", "/d/x-json.log.2.gz"));
        assert!(newer("/d/app.log.2", "/d/app.log.10"));
        // kubelet's and logrotate's dates and times: later newer.
        assert!(newer(
            "/d/0.log.20240501-100001.gz",
            "/d/0.log.20240501-100000"
        ));
        assert!(newer("/d/app.log-20240102", "/d/app.log-20240101.gz"));
        assert!(newer("/d/app.log-2024010213", "/d/app.log-2024010212"));
        assert!(newer("/d/app.log-1704153600", "/d/app.log-1704067200"));
        // Other names rank below those (birth decides among them).
        assert!(newer("/d/app.log.1", "/d/app.log.bak"));
        assert!(newer("/d/app.log-20240101", "/d/app.log.old"));
        assert_eq!(
            name_rank(Path::new("/d/app.log.bak")),
            name_rank(Path::new("/d/app.log.old"))
        );
    }
}

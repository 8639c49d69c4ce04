//! Continuing events across a rotation. The runtime splits lines over 16 KiB into pieces, and a stack trace is
//! many lines: a rotation can fall inside either. The file that follows a rotated one at its path is read only
//! once the rotated one is read to its end; an event the rotated file left unfinished is handed over
//! ([`crate::assemble::Assembler::hand_over`]) and finished by the new file, then shipped once under the identity
//! and offset where it started. Until it is shipped, the rotated file's checkpoint stays before it
//! ([`crate::files::Tracked::handed`]), so a crash in between replays both files and hands it over again.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tracing::debug;

use crate::files::{live_path, Tracked};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::records::emit;

/// Longest a file waits for the files rotated before it to be read to their end.
const LINK_WAIT: Duration = Duration::from_secs(5);

/// Rotation order of the files of one path: by birth (a rotated file keeps its inode; the runtime creates the next
/// one after the rename), then — births are recorded at clock-tick resolution — by name (the file at the path
/// itself is the newest, `.1` is newer than `.2`, a later timestamp suffix is newer), then by identity.
/// See [`order`].
type Key<'a> = (SystemTime, (u8, u64, String), &'a str);

fn order(t: &Tracked) -> Key<'_> {
    let born = t.born.unwrap_or(SystemTime::UNIX_EPOCH);
    (born, name_rank(&t.state.path), &t.state.id)
}

/// Newer names rank higher (see [`order`]).
fn name_rank(path: &Path) -> (u8, u64, String) {
    let (Some(live), Some(name)) = (live_path(path), path.file_name().and_then(|n| n.to_str()))
    else {
        return (0, 0, String::new());
    };
    let live_len = live.file_name().map_or(0, |n| n.len());
    let suffix = name.get(live_len..).unwrap_or("");
    if suffix.is_empty() {
        return (2, 0, String::new());
    }
    let suffix = suffix[1..].trim_end_matches(".gz");
    match suffix.parse::<u64>() {
        Ok(n) => (1, u64::MAX - n, String::new()),
        Err(_) => (1, 0, suffix.to_string()),
    }
}

impl Pipeline {
    /// Before the first line of a file is read: the files rotated before it from the same path are read to their
    /// end first (at most [`LINK_WAIT`]), and an event the one just before it left unfinished (a line split into
    /// pieces, a stack trace) is continued by this one, as the runtime meant. False while this file waits.
    pub(crate) fn link(&mut self, id: &str, now: Instant) -> bool {
        let Some(t) = self.table.files.get_mut(id) else {
            return true;
        };
        if t.linked {
            return true;
        }
        let Some(f) = t.reader.as_ref().and_then(|r| r.file()) else {
            t.linked = true;
            return true;
        };
        let read_pos = t.reader.as_ref().map_or(0, |r| r.read_pos());
        if !f.metadata().is_ok_and(|m| m.len() > read_pos) {
            return true; // nothing to read yet: decided when there is
        }
        if !t.asm.as_ref().is_some_and(|a| a.is_fresh()) {
            t.linked = true;
            return true;
        }
        let waited_out = now - *t.link_wait.get_or_insert(now) >= LINK_WAIT;
        let t = &self.table.files[id];
        let me = order(t);
        // The latest file rotated before this one, and whether it is read to its end.
        let mut prev: Option<(Key<'_>, bool)> = None;
        for o in self.siblings(t) {
            let key = order(o);
            if key >= me {
                continue;
            }
            let drained = match o.reader.as_ref().and_then(|r| r.file().map(|f| (r, f))) {
                Some((r, f)) => f.metadata().is_ok_and(|m| m.len() <= r.read_pos()),
                None => false, // a compressed copy: it hands over when it ends (`finish`)
            };
            if !drained && !waited_out {
                return false;
            }
            if prev.as_ref().is_none_or(|(k, _)| key > *k) {
                prev = Some((key, drained));
            }
        }
        let from = prev.and_then(|((_, _, oid), drained)| drained.then(|| oid.to_string()));
        if let Some(t) = self.table.files.get_mut(id) {
            t.linked = true;
        }
        if let Some(from) = from {
            self.transfer(&from, id);
        }
        true
    }

    /// A file that ends (a compressed copy read to its end, a deleted file drained) hands what it left
    /// unfinished to the file rotated next after it, if that one has not started.
    pub(crate) fn hand_to_successor(&mut self, id: &str) {
        let Some(t) = self.table.files.get(id) else {
            return;
        };
        if !t.asm.as_ref().is_some_and(|a| a.has_unfinished()) {
            return;
        }
        let me = order(t);
        let next = self
            .siblings(t)
            .filter(|o| order(o) > me)
            .min_by(|a, b| order(a).cmp(&order(b)))
            .filter(|o| !o.linked && o.live_plain() && o.asm.as_ref().is_some_and(|a| a.is_fresh()))
            .map(|o| o.state.id.clone());
        if let Some(next) = next {
            if let Some(t) = self.table.files.get_mut(&next) {
                t.linked = true;
            }
            self.transfer(id, &next);
        }
    }

    /// The other open files rotated from the same path as `t`.
    fn siblings<'a>(&'a self, t: &'a Tracked) -> impl Iterator<Item = &'a Tracked> + 'a {
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
                && o.reader.is_some()
                && o.state.id != t.state.id
                && live_path(&o.state.path).as_deref() == Some(live)
        })
    }

    /// Hands the unfinished events of `from` to `to`.
    fn transfer(&mut self, from: &str, to: &str) {
        if self.table.files.get(to).is_none_or(|t| t.asm.is_none()) {
            return;
        }
        let handover = self.table.files.get_mut(from).and_then(|o| {
            let file: Arc<str> = Arc::from(o.state.id.as_str());
            let h = o.asm.as_mut()?.hand_over(&file, &mut self.events)?;
            for (slot, off) in o.handed.iter_mut().zip(h.offsets) {
                *slot = off.or(*slot);
            }
            emit(
                &mut self.batch,
                o,
                &mut self.events,
                &self.opts,
                &self.metrics,
            );
            o.dirty = true;
            Some(h)
        });
        let Some(h) = handover else { return };
        if let Some(t) = self.table.files.get_mut(to) {
            if let Some(asm) = t.asm.as_mut() {
                asm.adopt(h, &mut self.events);
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

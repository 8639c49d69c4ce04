//! Discovery: which files to tail. Include/exclude globs (`globset`, `*` does not cross `/`), a bounded walk
//! of the few base directories the globs start from, and change notifications (`notify`, one recursive watch
//! per base directory — never one per file) that wake the reader early. When notifications are unavailable
//! (no inotify, watch limit reached) the agent polls; it rescans periodically anyway as a safety net.

use std::collections::HashSet;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use notify::{RecursiveMode, Watcher as _};
use tracing::{info, warn};

use crate::error::AgentError;
use crate::identity::FileKey;

/// Deepest directory walk below a base directory.
const MAX_DEPTH: usize = 16;

/// The compiled include/exclude globs and the base directories to walk.
#[derive(Debug, Clone)]
pub struct Discovery {
    include: GlobSet,
    exclude: GlobSet,
    bases: Vec<(PathBuf, usize)>,
}

fn glob(pattern: &str) -> Result<Glob, AgentError> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| AgentError::Glob {
            pattern: pattern.to_string(),
            reason: e.to_string(),
        })
}

/// The literal directory a glob starts from and how deep below it matches can be.
fn base_of(pattern: &str) -> (PathBuf, usize) {
    let mut base = PathBuf::new();
    let comps: Vec<Component<'_>> = Path::new(pattern).components().collect();
    let mut i = 0;
    while i < comps.len() {
        let s = comps[i].as_os_str().to_string_lossy();
        if s.contains(['*', '?', '[', '{']) {
            break;
        }
        base.push(comps[i]);
        i += 1;
    }
    if i == comps.len() {
        // A literal file name: watch its directory.
        base.pop();
        return (base, 1);
    }
    let depth = if pattern.contains("**") {
        MAX_DEPTH
    } else {
        comps.len() - i
    };
    (base, depth)
}

impl Discovery {
    /// Compiles the globs.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, AgentError> {
        let mut inc = GlobSetBuilder::new();
        let mut bases: Vec<(PathBuf, usize)> = Vec::new();
        for p in include {
            inc.add(glob(p)?);
            let (b, d) = base_of(p);
            match bases.iter_mut().find(|(x, _)| *x == b) {
                Some(e) => e.1 = e.1.max(d),
                None => bases.push((b, d)),
            }
        }
        let mut exc = GlobSetBuilder::new();
        for p in exclude {
            exc.add(glob(p)?);
        }
        let build = |b: GlobSetBuilder, what: &[String]| {
            b.build().map_err(|e| AgentError::Glob {
                pattern: what.join(","),
                reason: e.to_string(),
            })
        };
        Ok(Discovery {
            include: build(inc, include)?,
            exclude: build(exc, exclude)?,
            bases,
        })
    }

    /// Base directories the globs start from.
    pub fn bases(&self) -> impl Iterator<Item = &Path> {
        self.bases.iter().map(|(b, _)| b.as_path())
    }

    /// Whether a path is to be tailed (temp files of compression, `*.tmp`, never are).
    pub fn wants(&self, path: &Path) -> bool {
        path.extension().is_none_or(|e| e != "tmp")
            && self.include.is_match(path)
            && !self.exclude.is_match(path)
    }

    /// All regular files currently matching.
    pub fn scan(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for (base, depth) in &self.bases {
            self.walk(base, *depth, &mut out, &mut seen);
        }
        out
    }

    fn walk(&self, dir: &Path, depth: usize, out: &mut Vec<PathBuf>, seen: &mut HashSet<PathBuf>) {
        if depth == 0 {
            return;
        }
        let Ok(rd) = fs::read_dir(dir) else { return };
        for ent in rd.flatten() {
            let path = ent.path();
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                self.walk(&path, depth - 1, out, seen);
            } else if meta.is_file() && self.wants(&path) && seen.insert(path.clone()) {
                out.push(path);
            }
        }
    }
}

/// Most files held by [`EarlyOpens`] at once (more are left to the scan), well below the usual 1,024 descriptors.
const MAX_EARLY: usize = 256;

/// Files opened by the notification handler the moment they were created or renamed. A file rotated away and deleted
/// before the next scan saw it (rotation faster than the scan interval, or the reader busy in an fsync) is then
/// still read whole from this descriptor: an open descriptor keeps a deleted file's content.
#[derive(Clone)]
pub struct EarlyOpens {
    disc: Arc<Discovery>,
    files: Arc<Mutex<Vec<EarlyFile>>>,
}

/// A file held open by [`EarlyOpens`].
pub struct EarlyFile {
    /// The path it was opened at.
    pub path: PathBuf,
    /// The descriptor.
    pub file: fs::File,
    /// Its device and inode.
    pub key: FileKey,
    /// When it was opened (a file the scans see but do not take up is held at most [`EARLY_HOLD`]).
    pub since: std::time::Instant,
}

/// Longest time a file that is still at a path, but not being read, stays held open.
pub const EARLY_HOLD: std::time::Duration = std::time::Duration::from_secs(60);

impl EarlyOpens {
    /// Opens files that `disc` wants (plain ones: compressed copies are recognised by content).
    pub fn new(disc: Discovery) -> Self {
        EarlyOpens {
            disc: Arc::new(disc),
            files: Arc::default(),
        }
    }

    fn created(&self, path: &Path) {
        if crate::identity::is_gz(path)
            || !self.disc.wants(path)
            || !fs::metadata(path).is_ok_and(|m| m.is_file())
        {
            return;
        }
        if self.lock().len() >= MAX_EARLY {
            return;
        }
        // Opened outside the lock: the reader thread takes the list at every scan.
        let Ok(file) = fs::File::open(path) else {
            return;
        };
        let Ok(meta) = file.metadata() else { return };
        let key = FileKey::of(&meta);
        let mut files = self.lock();
        // A rename is reported more than once (`Name(To)` and `Name(Both)`): one descriptor per file.
        if files.len() < MAX_EARLY && !files.iter().any(|f| f.key == key) {
            files.push(EarlyFile {
                path: path.to_owned(),
                file,
                key,
                since: std::time::Instant::now(),
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<EarlyFile>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The files held since the last call.
    pub fn take(&self) -> Vec<EarlyFile> {
        std::mem::take(&mut *self.lock())
    }

    /// Holds a file again until the next scan.
    pub fn keep(&self, f: EarlyFile) {
        let mut files = self.lock();
        if !files.iter().any(|x| x.key == f.key) {
            files.push(f);
        }
    }
}

/// Change notifications for the base directories; falls back to polling when unavailable.
pub struct ChangeWatcher {
    watcher: Option<notify::RecommendedWatcher>,
    /// Set when a file was created, removed or renamed (a scan is needed, not just a read).
    structural: Arc<AtomicBool>,
    watched: HashSet<PathBuf>,
    failed: bool,
}

impl ChangeWatcher {
    /// A watcher that signals `wake` (a bounded channel; a full channel already means "wake up") and opens
    /// created files into `early`.
    pub fn new(wake: SyncSender<()>, early: EarlyOpens) -> Self {
        let structural = Arc::new(AtomicBool::new(true));
        let flag = structural.clone();
        let handler = move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res {
                use notify::event::{EventKind, ModifyKind};
                // Created, or renamed into place (a rename's source path no longer exists and is skipped).
                if matches!(
                    ev.kind,
                    EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_))
                ) {
                    for p in &ev.paths {
                        early.created(p);
                    }
                }
                if !matches!(
                    ev.kind,
                    EventKind::Modify(ModifyKind::Data(_)) | EventKind::Access(_)
                ) {
                    flag.store(true, Ordering::Relaxed);
                }
                // Opening or reading a file or directory (the agent's own reads and listings among them) brings
                // nothing new to read: no wake-up, or a listing while a file waits would wake the reader at once.
                if !matches!(ev.kind, EventKind::Access(_)) {
                    match wake.try_send(()) {
                        Ok(())
                        | Err(TrySendError::Full(()))
                        | Err(TrySendError::Disconnected(())) => {}
                    }
                }
            }
        };
        match notify::recommended_watcher(handler) {
            Ok(w) => ChangeWatcher {
                watcher: Some(w),
                structural,
                watched: HashSet::new(),
                failed: false,
            },
            Err(e) => {
                warn!(error = %e, "file notifications unavailable; polling only");
                ChangeWatcher {
                    watcher: None,
                    structural,
                    watched: HashSet::new(),
                    failed: true,
                }
            }
        }
    }

    /// No notifications (disabled by configuration): the reader polls.
    pub fn polling() -> Self {
        info!("file notifications disabled by configuration; polling only");
        ChangeWatcher {
            watcher: None,
            structural: Arc::new(AtomicBool::new(true)),
            watched: HashSet::new(),
            failed: true,
        }
    }

    /// Whether files were created, removed or renamed since the last call (clears the flag).
    pub fn take_structural(&self) -> bool {
        self.structural.swap(false, Ordering::Relaxed)
    }

    /// Watches every existing base directory not watched yet; returns whether notifications are active.
    pub fn ensure(&mut self, bases: impl Iterator<Item = PathBuf>) -> bool {
        let Some(w) = self.watcher.as_mut() else {
            return false;
        };
        for b in bases {
            if self.watched.contains(&b) || !b.is_dir() {
                continue;
            }
            match w.watch(&b, RecursiveMode::Recursive) {
                Ok(()) => {
                    info!(dir = %b.display(), "watching for changes");
                    self.watched.insert(b);
                }
                Err(e) => {
                    if !self.failed {
                        warn!(dir = %b.display(), error = %e, "cannot watch directory (watch limit?); polling it");
                    }
                    self.failed = true;
                }
            }
        }
        !self.failed
    }
}

/// A wake channel pair for [`ChangeWatcher`].
pub fn wake_channel() -> (SyncSender<()>, Receiver<()>) {
    std::sync::mpsc::sync_channel(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base_dirs_and_depths() {
        assert_eq!(
            base_of("/h/var/log/pods/*/*/*.log*"),
            (PathBuf::from("/h/var/log/pods"), 3)
        );
        assert_eq!(base_of("/a/**/*.log"), (PathBuf::from("/a"), MAX_DEPTH));
        assert_eq!(base_of("/a/b.log"), (PathBuf::from("/a"), 1));
    }

    #[test]
    fn scan_applies_globs_exclusions_and_skips_tmp() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("var/log/pods/ns_pod_uid/app");
        fs::create_dir_all(&c).unwrap();
        for f in [
            "0.log",
            "0.log.20240101-000000.gz",
            "0.log.20240101-000000.gz.tmp",
            "notes.txt",
        ] {
            fs::write(c.join(f), b"x").unwrap();
        }
        let other = dir.path().join("var/log/pods/kube-system_x_u/c");
        fs::create_dir_all(&other).unwrap();
        fs::write(other.join("0.log"), b"x").unwrap();
        let root = dir.path().display();
        let d = Discovery::new(
            &[format!("{root}/var/log/pods/*/*/*.log*")],
            &[format!("{root}/var/log/pods/kube-system_*/**")],
        )
        .unwrap();
        let mut found: Vec<_> = d
            .scan()
            .into_iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        found.sort();
        assert_eq!(found, vec!["0.log", "0.log.20240101-000000.gz"]);
        assert!(Discovery::new(&["/a/[".into()], &[]).is_err());
    }
}

//! Message templates: every message maps to a stable template id at ingest, for "top-N errors" grouping.
//!
//! Flow: take the text the template is built from ([`template_basis`]: the header line of a multi-line event,
//! the message field of a JSON or logfmt line, a plain line without its level word and identifier pairs), cap
//! it ([`MAX_LINE_BYTES`], [`MAX_TOKENS`]), [`mask`] its variables (numbers, hex, UUIDs, IPs, quoted strings,
//! ids in paths, emails, durations) to `<*>`, then cluster the token sequence Drain-style (module `drain`):
//! similar sequences share a cluster whose template generalises (token → `<*>`) as it absorbs messages.
//!
//! Ids: a new cluster's id is a 64-bit hash of its first masked token sequence (probed on collision), so two
//! miners fed the same data mostly agree, and one miner serves all partitions. An id never changes when its
//! template generalises and is never reused for another cluster. [`TemplateMiner::save`] /
//! [`TemplateMiner::open`] persist the clusters (versioned JSON, temp + fsync + rename), so after a restart the
//! same message gets the same id.
//!
//! Bound: at most [`MinerOptions::max_clusters`] clusters. Past it, a message that matches no cluster gets the
//! hash of its masked tokens as id (deterministic, the id a new cluster would have had) and nothing is stored:
//! memory stays bounded, and [`TemplateMiner::text`] returns `None` for such ids (show an example message).
//! A cluster holds at most [`MAX_TOKENS`] tokens masked from at most [`MAX_LINE_BYTES`] of text (masking can
//! at most triple it), so the default 50 000 clusters stay bounded even for pathological input (typical
//! templates are ~100 bytes: ~10 MB in all).

mod drain;
mod extract;
mod mask;
mod persist;

use std::cell::RefCell;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use drain::{Drain, Found};
pub use extract::template_basis;
pub use mask::{first_line, header_line, mask, mask_into, WILDCARD};

/// Bytes of a message's template basis considered (longer text is cut at its last whitespace before).
pub const MAX_LINE_BYTES: usize = 1024;
/// Bytes of a message searched for its template basis (a structured line's message field, a traceback's
/// exception line).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Tokens of a masked line considered for its template.
pub const MAX_TOKENS: usize = 256;

/// Errors of the template store.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// Reading or writing the state file failed.
    #[error(
        "templates: {op} {path}: {source} (check the data directory's permissions and free space)"
    )]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not a template state this version understands.
    #[error("templates: {path}: {reason} (move the file away to start with empty templates)")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Drain parameters; one set for all logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MinerOptions {
    /// Minimum similarity (equal constant tokens / compared positions) to join a cluster.
    pub similarity: f64,
    /// Drain tree depth, root and leaf included (4 = route by token count and first token).
    pub depth: usize,
    /// Maximum children of a tree node; further tokens share a `<*>` child.
    pub max_children: usize,
    /// Maximum clusters kept; see the module docs for what happens past it.
    pub max_clusters: usize,
}

impl Default for MinerOptions {
    fn default() -> Self {
        MinerOptions {
            similarity: 0.6,
            depth: 4,
            max_children: 100,
            max_clusters: 50_000,
        }
    }
}

impl MinerOptions {
    /// Tree levels below the token-count level, as in drain3 (`depth - 2`, at least 1).
    pub(crate) fn max_node_depth(&self) -> usize {
        self.depth.saturating_sub(2).max(1)
    }
}

/// A Drain-style template miner; `Send + Sync`, cheap reads under an internal read-write lock.
#[derive(Debug)]
pub struct TemplateMiner {
    opts: MinerOptions,
    drain: RwLock<Drain>,
    dirty: AtomicBool,
    /// Serialises [`TemplateMiner::save`] calls (they share one temp file).
    save_lock: Mutex<()>,
}

impl Default for TemplateMiner {
    fn default() -> Self {
        Self::new(MinerOptions::default())
    }
}

impl TemplateMiner {
    /// An empty miner.
    pub fn new(opts: MinerOptions) -> Self {
        TemplateMiner {
            opts,
            drain: RwLock::new(Drain::default()),
            dirty: AtomicBool::new(false),
            save_lock: Mutex::new(()),
        }
    }

    /// Loads persisted state from `path` with default options (empty when the file does not exist).
    pub fn open(path: &Path) -> Result<Self, TemplateError> {
        Self::open_with(path, MinerOptions::default())
    }

    /// Loads persisted state from `path` using `opts` (empty when the file does not exist). The options saved
    /// in the file are informational; `opts` apply.
    pub fn open_with(path: &Path, opts: MinerOptions) -> Result<Self, TemplateError> {
        let drain = persist::load(path, &opts)?;
        Ok(TemplateMiner {
            opts,
            drain: RwLock::new(drain),
            dirty: AtomicBool::new(false),
            save_lock: Mutex::new(()),
        })
    }

    /// Persists the clusters to `path` atomically (temp file, fsync, rename, fsync of the directory).
    pub fn save(&self, path: &Path) -> Result<(), TemplateError> {
        let _one_at_a_time = self.save_lock.lock();
        self.dirty.store(false, Ordering::SeqCst);
        let bytes = {
            let drain = self.drain.read();
            persist::encode(&drain, &self.opts)
        };
        let res = persist::write_atomic(path, &bytes);
        if res.is_err() {
            self.dirty.store(true, Ordering::SeqCst);
        }
        res
    }

    /// Whether clusters changed since the last successful [`save`](Self::save) / open.
    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::SeqCst)
    }

    /// The template id of `message` (see the module docs for stability guarantees).
    pub fn assign(&self, message: &str) -> u64 {
        thread_local! {
            static BUF: RefCell<String> = RefCell::new(String::with_capacity(256));
        }
        BUF.with(|buf| match buf.try_borrow_mut() {
            Ok(mut masked) => self.assign_with(message, &mut masked),
            Err(_) => self.assign_with(message, &mut String::new()),
        })
    }

    fn assign_with(&self, message: &str, masked: &mut String) -> u64 {
        let basis = template_basis(cap(message, MAX_MESSAGE_BYTES));
        mask_into(cap(&basis, MAX_LINE_BYTES), masked);
        // Masked text has single spaces and no leading or trailing space.
        let mut tokens: Vec<&str> = Vec::with_capacity(32);
        for t in masked.split(' ') {
            // A list of ids (`blk_<*> blk_<*> …`) is one variable, whatever its length.
            let repeat = tokens
                .last()
                .is_some_and(|&p| p == t && t.contains(WILDCARD));
            if !repeat && !t.is_empty() {
                if tokens.len() == MAX_TOKENS {
                    break;
                }
                tokens.push(t);
            }
        }
        {
            let drain = self.drain.read();
            match drain.search(&tokens, &self.opts) {
                Found::Covered(idx) => return drain.cluster(idx).id,
                // Past the bound a new message changes nothing: no write lock needed.
                Found::None if drain.len() >= self.opts.max_clusters => {
                    return drain::template_hash(&tokens, 0)
                }
                _ => {}
            }
        }
        let mut drain = self.drain.write();
        match drain.search(&tokens, &self.opts) {
            Found::Covered(idx) => drain.cluster(idx).id,
            Found::Similar(idx) => {
                drain.merge(idx, &tokens);
                self.dirty.store(true, Ordering::Relaxed);
                drain.cluster(idx).id
            }
            Found::None => {
                if drain.len() >= self.opts.max_clusters {
                    return drain::template_hash(&tokens, 0);
                }
                let id = drain.fresh_id(&tokens);
                let owned = tokens.iter().map(|&t| Box::<str>::from(t)).collect();
                drain.insert(id, owned, None, &self.opts);
                self.dirty.store(true, Ordering::Relaxed);
                id
            }
        }
    }

    /// The current template text of `id` (variables as `<*>`), `None` for unknown or overflow ids.
    pub fn text(&self, id: u64) -> Option<String> {
        self.drain.read().get(id).map(|c| c.text())
    }

    /// Number of clusters.
    pub fn len(&self) -> usize {
        self.drain.read().len()
    }

    /// Whether there are no clusters yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All `(id, template text)` pairs in creation order (for listing and debugging).
    pub fn templates(&self) -> Vec<(u64, String)> {
        self.drain
            .read()
            .clusters()
            .iter()
            .map(|c| (c.id, c.text()))
            .collect()
    }

    /// The options in use.
    pub fn options(&self) -> &MinerOptions {
        &self.opts
    }
}

/// `line` cut to at most `max` bytes, at the last whitespace when there is one (so no token is cut in two
/// and the same long line always yields the same tokens), else at a char boundary.
fn cap(line: &str, max: usize) -> &str {
    if line.len() <= max {
        return line;
    }
    let head = logmind_protocol::cut(line, max);
    match head.rfind(|c: char| c.is_ascii_whitespace()) {
        Some(ws) if ws > 0 => &head[..ws],
        _ => head,
    }
}

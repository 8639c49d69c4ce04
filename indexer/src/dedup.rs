//! Duplicate batch detection: per agent, the set of recent batch sequences (bounded).
//!
//! Agents send sequences in increasing order, but after a crash retries may arrive out of order, so a plain
//! high-water mark is not enough: each agent keeps its last [`DEFAULT_WINDOW`] sequences. A sequence below a
//! full window's floor is treated as a duplicate (it is older than anything an agent still retries). The table
//! is rebuilt on start from `dedup.json` (saved before WAL segments are deleted) plus the WAL itself.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{IndexerError, Result};

/// Sequences remembered per agent.
pub const DEFAULT_WINDOW: usize = 4096;

/// See the module docs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DedupTable {
    window: usize,
    agents: HashMap<String, BTreeSet<u64>>,
}

impl Default for DedupTable {
    fn default() -> Self {
        Self::new(DEFAULT_WINDOW)
    }
}

impl DedupTable {
    /// An empty table remembering `window` sequences per agent.
    pub fn new(window: usize) -> Self {
        DedupTable {
            window: window.max(1),
            agents: HashMap::new(),
        }
    }

    /// True when `(agent, seq)` was already made durable (or is older than the remembered window).
    pub fn contains(&self, agent: &str, seq: u64) -> bool {
        match self.agents.get(agent) {
            None => false,
            Some(set) => {
                set.contains(&seq)
                    || (set.len() >= self.window && set.first().is_some_and(|&min| seq < min))
            }
        }
    }

    /// Records `(agent, seq)`; returns false when it was already there (a duplicate).
    pub fn insert(&mut self, agent: &str, seq: u64) -> bool {
        if self.contains(agent, seq) {
            return false;
        }
        let set = self.agents.entry(agent.to_string()).or_default();
        set.insert(seq);
        while set.len() > self.window {
            set.pop_first();
        }
        true
    }

    /// Forgets `(agent, seq)` (a write that failed before it became durable).
    pub fn remove(&mut self, agent: &str, seq: u64) {
        if let Some(set) = self.agents.get_mut(agent) {
            set.remove(&seq);
        }
    }

    /// Number of agents known.
    pub fn agents(&self) -> usize {
        self.agents.len()
    }

    /// Loads the table, or an empty one when the file does not exist.
    pub fn load(path: &Path) -> Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| IndexerError::Corrupt {
                what: "dedup table",
                path: path.display().to_string(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(IndexerError::io("read", path)(e)),
        }
    }

    /// Saves the table atomically (temp file, fsync, rename, fsync of the directory).
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = serde_json::to_vec(self).map_err(|e| IndexerError::Corrupt {
            what: "dedup table",
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        crate::fsutil::write_atomic(path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn out_of_order_retries_inside_the_window_are_accepted_once() {
        let mut t = DedupTable::new(4);
        assert!(t.insert("a", 5));
        assert!(t.insert("a", 3));
        assert!(!t.insert("a", 5));
        assert!(t.insert("b", 5));
        for s in 6..9 {
            assert!(t.insert("a", s));
        }
        // window {5,6,7,8}: 3 fell out and is older than the floor, so it is a duplicate
        assert!(t.contains("a", 3));
        assert!(!t.contains("a", 9));
    }

    proptest! {
        #[test]
        fn never_accepts_twice(seqs in proptest::collection::vec(0u64..64, 0..200)) {
            let mut t = DedupTable::new(1000);
            let mut seen = std::collections::HashSet::new();
            for s in seqs {
                prop_assert_eq!(t.insert("a", s), seen.insert(s));
            }
        }
    }
}

//! The read side of the store: time partitions (one tantivy index each) and what queries need from them.
//!
//! Partition `start` covers `[start, start + partition)` (aligned on the epoch, so UTC days by default) and
//! lives in `<data_dir>/partitions/<YYYYMMDDTHHMMSSZ of start>/`. The indexing thread owns the writers; the store
//! holds indexes and readers, which that thread reloads after each commit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use logmind_protocol::time::{civil_from_days, days_from_civil};
use parking_lot::RwLock;
use tantivy::{Index, IndexReader, ReloadPolicy, Searcher};

use crate::error::{IndexerError, Result};
use crate::options::{dur_ns, Clock, RetentionPolicy};
use crate::schema::LogSchema;
use crate::template::TemplateMiner;

const NS: i64 = 1_000_000_000;

/// A searcher over one partition.
pub struct PartitionSearcher {
    /// First ns covered.
    pub start_ns: i64,
    /// First ns not covered.
    pub end_ns: i64,
    /// tantivy searcher (a consistent view of the last commit).
    pub searcher: Searcher,
}

/// One partition on disk.
pub struct Partition {
    /// First ns covered.
    pub start_ns: i64,
    /// First ns not covered.
    pub end_ns: i64,
    /// Directory name.
    pub name: String,
    /// Directory.
    pub dir: PathBuf,
    /// The index.
    pub index: Index,
    /// Its reader (reloaded by the indexing thread after commits).
    pub reader: IndexReader,
    /// WAL LSN up to which this partition's last commit holds everything.
    pub committed_lsn: AtomicU64,
}

/// Directory name of a partition starting at `start_ns`: `YYYYMMDDTHHMMSSZ`.
pub fn partition_name(start_ns: i64) -> String {
    let secs = start_ns.div_euclid(NS);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Parses a partition directory name back to its start (ns); also accepts plain epoch seconds.
pub fn parse_partition_name(name: &str) -> Option<i64> {
    if let Ok(secs) = name.parse::<i64>() {
        return secs.checked_mul(NS);
    }
    let b = name.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| name.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    let days = days_from_civil(y, u32::try_from(m).ok()?, u32::try_from(d).ok()?);
    (days * 86_400 + hh * 3600 + mm * 60 + ss).checked_mul(NS)
}

/// Reads the WAL LSN a commit payload records (`{"lsn":N}`); 0 when absent.
pub fn payload_lsn(index: &Index) -> u64 {
    index
        .load_metas()
        .ok()
        .and_then(|m| m.payload)
        .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
        .and_then(|v| v.get("lsn").and_then(|l| l.as_u64()))
        .unwrap_or(0)
}

/// The partitions, schema, templates and retention rules queries need.
pub struct Store {
    schema: LogSchema,
    root: PathBuf,
    partition_ns: i64,
    partitions: RwLock<BTreeMap<i64, Arc<Partition>>>,
    retention: RetentionPolicy,
    templates: TemplateMiner,
    clock: Arc<dyn Clock>,
}

impl Store {
    /// Opens every partition under `<data_dir>/partitions`.
    pub fn open(
        data_dir: &Path,
        partition: std::time::Duration,
        retention: RetentionPolicy,
        templates: TemplateMiner,
        clock: Arc<dyn Clock>,
    ) -> Result<Store> {
        let root = data_dir.join("partitions");
        std::fs::create_dir_all(&root).map_err(IndexerError::io("create", &root))?;
        let store = Store {
            schema: LogSchema::new(),
            root: root.clone(),
            partition_ns: dur_ns(partition).max(1),
            partitions: RwLock::new(BTreeMap::new()),
            retention,
            templates,
            clock,
        };
        for e in std::fs::read_dir(&root).map_err(IndexerError::io("read directory", &root))? {
            let e = e.map_err(IndexerError::io("read directory", &root))?;
            let name = e.file_name().to_string_lossy().to_string();
            let Some(start) = parse_partition_name(&name) else {
                tracing::warn!(dir = %e.path().display(), "ignoring a directory that is not a partition");
                continue;
            };
            store.open_partition(start)?;
        }
        Ok(store)
    }

    /// The schema.
    pub fn schema(&self) -> &LogSchema {
        &self.schema
    }

    /// Start of the partition holding `ts`.
    pub fn partition_start(&self, ts: i64) -> i64 {
        ts.div_euclid(self.partition_ns) * self.partition_ns
    }

    /// Length of a partition in ns.
    pub fn partition_ns(&self) -> i64 {
        self.partition_ns
    }

    /// The partition starting at `start`, if it exists.
    pub fn partition(&self, start: i64) -> Option<Arc<Partition>> {
        self.partitions.read().get(&start).cloned()
    }

    /// All partitions, oldest first.
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().values().cloned().collect()
    }

    /// Opens (creating when missing) the partition starting at `start`.
    pub fn open_partition(&self, start: i64) -> Result<Arc<Partition>> {
        if let Some(p) = self.partition(start) {
            return Ok(p);
        }
        let name = partition_name(start);
        let dir = self.root.join(&name);
        let index = self
            .schema
            .open_or_create(&dir)
            .map_err(IndexerError::index("open", &dir))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(IndexerError::index("open reader", &dir))?;
        let lsn = payload_lsn(&index);
        let p = Arc::new(Partition {
            start_ns: start,
            end_ns: start.saturating_add(self.partition_ns),
            name,
            dir,
            index,
            reader,
            committed_lsn: AtomicU64::new(lsn),
        });
        self.partitions.write().insert(start, p.clone());
        Ok(p)
    }

    /// Forgets a partition (its directory is removed by the caller).
    pub fn remove_partition(&self, start: i64) -> Option<Arc<Partition>> {
        self.partitions.write().remove(&start)
    }

    /// Searchers of the partitions overlapping `[start_ns, end_ns)`, newest partition first.
    pub fn searchers(&self, start_ns: i64, end_ns: i64) -> Vec<PartitionSearcher> {
        let parts = self.partitions.read();
        parts
            .values()
            .rev()
            .filter(|p| p.start_ns < end_ns && p.end_ns > start_ns)
            .map(|p| PartitionSearcher {
                start_ns: p.start_ns,
                end_ns: p.end_ns,
                searcher: p.reader.searcher(),
            })
            .collect()
    }

    /// Oldest visible ts for a namespace (now − its retention period); queries must filter below it.
    pub fn retention_floor(&self, namespace: &str) -> i64 {
        self.clock
            .now_ns()
            .saturating_sub(dur_ns(self.retention.period_for(namespace)))
    }

    /// The retention policy.
    pub fn retention(&self) -> &RetentionPolicy {
        &self.retention
    }

    /// Template id → text.
    pub fn templates(&self) -> &TemplateMiner {
        &self.templates
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Committed documents over all partitions.
    pub fn num_docs(&self) -> u64 {
        self.partitions
            .read()
            .values()
            .map(|p| p.reader.searcher().num_docs())
            .sum()
    }

    /// Bytes of all partitions on disk.
    pub fn disk_bytes(&self) -> u64 {
        crate::fsutil::dir_size(&self.root)
    }
}

/// Committed document count of one partition (after the last reload).
pub fn partition_docs(p: &Partition) -> u64 {
    p.reader.searcher().num_docs()
}

/// Marks a partition's commit LSN.
pub fn set_committed(p: &Partition, lsn: u64) {
    p.committed_lsn.store(lsn, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_utc_timestamps() {
        assert_eq!(partition_name(0), "19700101T000000Z");
        let t = parse_partition_name("20240229T130500Z").expect("parse");
        assert_eq!(partition_name(t), "20240229T130500Z");
        assert_eq!(parse_partition_name("86400"), Some(86_400 * NS));
        assert_eq!(parse_partition_name("junk"), None);
    }

    proptest! {
        #[test]
        fn names_round_trip(secs in 0i64..8_000_000_000) {
            let ns = secs * NS;
            prop_assert_eq!(parse_partition_name(&partition_name(ns)), Some(ns));
        }
    }
}

//! Snapshots: a consistent copy of the store while ingest continues, and restore into an empty data dir.
//!
//! Taken on the indexing thread: commit, then copy each partition's committed files (segment files are
//! immutable and hard-linked; `meta.json` is copied), the template state, and — under the dedup lock, so the
//! two agree — the dedup table and the WAL up to its current end. A restored store replays that WAL tail, so it
//! holds every batch the dedup table says is durable.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{IndexerError, Result};
use crate::fsutil;
use crate::pipeline::Pipeline;

/// What a snapshot holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotReport {
    /// Where it was written.
    pub dir: PathBuf,
    /// Partition directory names.
    pub partitions: Vec<String>,
    /// Committed documents copied.
    pub docs: u64,
    /// Bytes copied or linked.
    pub bytes: u64,
    /// LSN the partitions are committed through.
    pub lsn: u64,
}

/// What a restore brought back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreReport {
    /// Bytes copied.
    pub bytes: u64,
    /// Partitions restored.
    pub partitions: usize,
}

fn copy_file(src: &Path, dst: &Path, link: bool) -> Result<u64> {
    let len = std::fs::metadata(src)
        .map_err(IndexerError::io("stat", src))?
        .len();
    if link {
        fsutil::link_or_copy(src, dst)?;
    } else {
        std::fs::copy(src, dst).map_err(IndexerError::io("copy", src))?;
    }
    Ok(len)
}

impl Pipeline {
    /// Commits and copies the store into `dir` (which must not exist or be empty).
    pub fn snapshot(&mut self, dir: &Path) -> Result<SnapshotReport> {
        ensure_empty(dir)?;
        let lsn = self.commit()?;
        let mut report = SnapshotReport {
            dir: dir.to_path_buf(),
            lsn,
            ..Default::default()
        };
        let parts_dir = dir.join("partitions");
        for p in self.store.partitions() {
            let to = parts_dir.join(&p.name);
            std::fs::create_dir_all(&to).map_err(IndexerError::io("create", &to))?;
            // Segment files can vanish under a finishing merge between reading meta.json and linking; retry.
            let mut attempt = 0;
            loop {
                attempt += 1;
                match copy_partition(&p.index, &p.dir, &to) {
                    Ok(bytes) => {
                        report.bytes += bytes;
                        break;
                    }
                    Err(e) if attempt < 5 => {
                        tracing::debug!(partition = %p.name, error = %e, "snapshot copy raced a merge; retrying");
                        let _ = std::fs::remove_dir_all(&to);
                        std::fs::create_dir_all(&to).map_err(IndexerError::io("create", &to))?;
                    }
                    Err(e) => return Err(e),
                }
            }
            report.docs += p.reader.searcher().num_docs();
            report.partitions.push(p.name.clone());
        }
        self.store.templates().save(&dir.join("templates.json"))?;
        if let Some(wal) = &self.wal {
            let wal_to = dir.join("wal");
            std::fs::create_dir_all(&wal_to).map_err(IndexerError::io("create", &wal_to))?;
            let (table, segments) = {
                let dedup = wal.dedup.lock();
                (dedup.clone(), wal.segments.lock().clone())
            };
            table.save(&dir.join("dedup.json"))?;
            for s in segments {
                let Some(name) = s.path.file_name() else {
                    continue;
                };
                let dst = wal_to.join(name);
                let mut bytes = Vec::new();
                use std::io::Read;
                std::fs::File::open(&s.path)
                    .and_then(|f| f.take(s.bytes).read_to_end(&mut bytes))
                    .map_err(IndexerError::io("read", &s.path))?;
                std::fs::write(&dst, &bytes).map_err(IndexerError::io("write", &dst))?;
                report.bytes += bytes.len() as u64;
            }
        }
        fsutil::sync_dir(dir)?;
        tracing::info!(dir = %dir.display(), partitions = report.partitions.len(), docs = report.docs, "snapshot written");
        Ok(report)
    }
}

/// Copies the committed files of one index (its `meta.json` and the files of its segments).
fn copy_partition(index: &tantivy::Index, from: &Path, to: &Path) -> Result<u64> {
    let metas = index
        .searchable_segment_metas()
        .map_err(IndexerError::index("read metas", from))?;
    let ids: Vec<String> = metas.iter().map(|m| m.id().uuid_string()).collect();
    let mut bytes = 0;
    let mut found = vec![false; ids.len()];
    for e in std::fs::read_dir(from).map_err(IndexerError::io("read directory", from))? {
        let e = e.map_err(IndexerError::io("read directory", from))?;
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".temp") || name.ends_with(".lock") {
            continue;
        }
        if let Some(i) = ids.iter().position(|id| name.starts_with(id.as_str())) {
            found[i] = true;
            bytes += copy_file(&e.path(), &to.join(&name), true)?;
        }
    }
    if let Some(i) = found.iter().position(|f| !f) {
        return Err(IndexerError::Invalid(format!(
            "segment {} of {} vanished during the snapshot",
            ids[i],
            from.display()
        )));
    }
    bytes += copy_file(&from.join("meta.json"), &to.join("meta.json"), false)?;
    Ok(bytes)
}

fn ensure_empty(dir: &Path) -> Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                return Err(IndexerError::Invalid(format!(
                    "{} is not empty: snapshots and restores need an empty or missing directory",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(IndexerError::io("create", dir))
        }
        Err(e) => Err(IndexerError::io("read directory", dir)(e)),
    }
}

/// Restores a snapshot into an empty (or missing) data dir; start an indexer on it afterwards.
pub fn restore(snapshot: &Path, data_dir: &Path) -> Result<RestoreReport> {
    if !snapshot.join("partitions").is_dir() {
        return Err(IndexerError::Invalid(format!(
            "{} is not a logmind snapshot (no partitions/ directory)",
            snapshot.display()
        )));
    }
    ensure_empty(data_dir)?;
    let bytes = fsutil::copy_tree(snapshot, data_dir, false)?;
    let partitions = std::fs::read_dir(data_dir.join("partitions"))
        .map(|rd| rd.count())
        .unwrap_or(0);
    fsutil::sync_dir(data_dir)?;
    tracing::info!(from = %snapshot.display(), to = %data_dir.display(), bytes, "snapshot restored");
    Ok(RestoreReport { bytes, partitions })
}

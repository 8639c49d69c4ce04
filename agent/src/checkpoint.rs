//! Checkpoints: how far each file identity has been made durable in the spool, plus the next batch
//! sequence. Versioned JSON, written to a temp file, fsynced, renamed over the old one, directory fsynced.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::AgentError;
use crate::identity::{FileKey, Fingerprint};

/// Current checkpoint format version.
pub const VERSION: u32 = 1;
/// File name of the checkpoint inside the data dir.
pub const FILE_NAME: &str = "checkpoint.json";

/// Durable state of one file identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    /// Stable identity used as `source.file` (device, inode, generation).
    pub id: String,
    /// Device + inode of the uncompressed file it was read from.
    pub key: Option<FileKey>,
    /// Head fingerprint of the content.
    pub fp: Fingerprint,
    /// Last path the file was seen under.
    pub path: PathBuf,
    /// Resume offset: everything before it is durably in the spool.
    pub offset: u64,
    /// Per stream (stdout, stderr): end offset of the last event shipped; lines before it are skipped on replay.
    pub last_emitted: [u64; 2],
    /// Drained completely and closed: a compressed copy of it is not read again.
    pub finished: bool,
    /// Currently (or last) read from a gzip copy.
    pub gz: bool,
    /// Unix seconds when a file with this identity was last seen (for pruning).
    pub seen_unix: u64,
    /// Birth of the file's content (ns since the epoch; the modification time where the file system keeps no
    /// birth time, the truncation for content after a `copytruncate`): the rotation order of one path's files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub born_ns: Option<u64>,
    /// Birth time (statx btime, ns since the epoch) of the inode `key` names, where the file system keeps one:
    /// the inode found again with another birth time is another file (ext4 gives a deleted file's inode to the
    /// next file created), however its head looks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_born_ns: Option<u64>,
}

/// The whole checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Checkpoint {
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// Sequence the next sealed batch gets.
    pub next_seq: u64,
    /// Per-file states.
    pub files: Vec<FileState>,
}

/// Loads the checkpoint of `data_dir`; `Ok(None)` when there is none yet (first start).
pub fn load(data_dir: &Path) -> Result<Option<Checkpoint>, AgentError> {
    let path = data_dir.join(FILE_NAME);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AgentError::io("reading checkpoint", path, e)),
    };
    let cp: Checkpoint = serde_json::from_slice(&bytes).map_err(|e| AgentError::Corrupt {
        path: path.clone(),
        reason: format!("checkpoint is not valid JSON: {e}"),
    })?;
    if cp.version != VERSION {
        return Err(AgentError::Corrupt {
            path,
            reason: format!(
                "checkpoint version {} is not supported (expected {VERSION})",
                cp.version
            ),
        });
    }
    Ok(Some(cp))
}

/// Writes the checkpoint atomically (temp + fsync + rename + dir fsync).
pub fn save(data_dir: &Path, cp: &Checkpoint) -> Result<(), AgentError> {
    let path = data_dir.join(FILE_NAME);
    let tmp = data_dir.join(format!("{FILE_NAME}.tmp"));
    let bytes = serde_json::to_vec(cp)
        .map_err(|e| AgentError::Internal(format!("encoding checkpoint: {e}")))?;
    write_durable(&tmp, &path, &[bytes.as_slice()])
}

/// Writes `parts` to `tmp`, fsyncs, renames to `path` and fsyncs the directory.
pub fn write_durable(tmp: &Path, path: &Path, parts: &[&[u8]]) -> Result<(), AgentError> {
    let f = File::create(tmp).map_err(|e| AgentError::io("creating", tmp, e))?;
    write_over_durable(f, tmp, path, parts)
}

/// Writes `parts` from the start of `f` (open for writing at `at`), cuts it to their length, fsyncs it, renames it
/// to `path` and fsyncs the directory.
pub fn write_over_durable(
    mut f: File,
    at: &Path,
    path: &Path,
    parts: &[&[u8]],
) -> Result<(), AgentError> {
    let mut len = 0u64;
    for bytes in parts {
        f.write_all(bytes)
            .map_err(|e| AgentError::io("writing", at, e))?;
        len += bytes.len() as u64;
    }
    f.set_len(len)
        .map_err(|e| AgentError::io("truncating", at, e))?;
    f.sync_all()
        .map_err(|e| AgentError::io("fsyncing", at, e))?;
    drop(f);
    fs::rename(at, path).map_err(|e| AgentError::io("renaming into place", path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Fsyncs a directory so that creations, renames and deletions in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), AgentError> {
    let d = File::open(dir).map_err(|e| AgentError::io("opening dir", dir, e))?;
    d.sync_all()
        .map_err(|e| AgentError::io("fsyncing dir", PathBuf::from(dir), e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn save_then_load_round_trips_and_rejects_other_versions() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        let cp = Checkpoint {
            version: VERSION,
            next_seq: 7,
            files: vec![FileState {
                id: "1-2-3".into(),
                key: Some(FileKey { dev: 1, ino: 2 }),
                fp: Fingerprint::of(b"abc"),
                path: "/x/0.log".into(),
                offset: 99,
                last_emitted: [10, 20],
                finished: false,
                gz: false,
                seen_unix: 5,
                born_ns: Some(1_733_306_400_000_000_001),
                key_born_ns: Some(1_733_306_400_000_000_000),
            }],
        };
        save(dir.path(), &cp).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(cp.clone()));
        let mut bad = cp;
        bad.version = 99;
        std::fs::write(
            dir.path().join(FILE_NAME),
            serde_json::to_vec(&bad).unwrap(),
        )
        .unwrap();
        assert!(matches!(load(dir.path()), Err(AgentError::Corrupt { .. })));
    }
}

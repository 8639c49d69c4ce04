//! Small durable file helpers.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::error::{IndexerError, Result};

/// Fsyncs a directory so renames and unlinks inside it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(IndexerError::io("fsync directory", dir))
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync of the parent.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(IndexerError::io("create", &tmp))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(IndexerError::io("write", &tmp))?;
    fs::rename(&tmp, path).map_err(IndexerError::io("rename", path))?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Total size of the regular files under `dir` (recursively); 0 when it does not exist.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Copies a directory tree; with `link`, hard-links files when possible (only for immutable files).
pub fn copy_tree(from: &Path, to: &Path, link: bool) -> Result<u64> {
    fs::create_dir_all(to).map_err(IndexerError::io("create directory", to))?;
    let mut bytes = 0;
    for e in fs::read_dir(from).map_err(IndexerError::io("read directory", from))? {
        let e = e.map_err(IndexerError::io("read directory", from))?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let meta = e.metadata().map_err(IndexerError::io("stat", &src))?;
        if meta.is_dir() {
            bytes += copy_tree(&src, &dst, link)?;
        } else if link {
            link_or_copy(&src, &dst)?;
            bytes += meta.len();
        } else {
            fs::copy(&src, &dst).map_err(IndexerError::io("copy", &src))?;
            bytes += meta.len();
        }
    }
    Ok(bytes)
}

/// Hard-links `src` to `dst`, falling back to a copy (other file system).
pub fn link_or_copy(src: &Path, dst: &Path) -> Result<()> {
    if fs::hard_link(src, dst).is_ok() {
        return Ok(());
    }
    fs::copy(src, dst)
        .map(|_| ())
        .map_err(IndexerError::io("copy", src))
}

/// Bytes available to this user on the file system holding `path` (None when it cannot be read).
pub fn available_bytes(path: &Path) -> Option<u64> {
    fs4::available_space(path).ok()
}

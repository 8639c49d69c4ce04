//! Template state on disk: versioned JSON (`{"version":1,"options":…,"clusters":[{"id","template","route"}]}`),
//! clusters in creation order so a reload rebuilds the same tree. Written atomically: temp file, fsync,
//! rename, fsync of the directory.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::drain::Drain;
use super::{MinerOptions, TemplateError};

/// The on-disk format version this code writes and reads.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    options: MinerOptions,
    clusters: Vec<ClusterRecord>,
}

#[derive(Serialize, Deserialize)]
struct ClusterRecord {
    id: u64,
    template: Vec<String>,
    route: Vec<String>,
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> TemplateError {
    let path = path.display().to_string();
    move |source| TemplateError::Io { op, path, source }
}

/// Serialises the clusters (the caller holds the read lock).
pub(crate) fn encode(drain: &Drain, opts: &MinerOptions) -> Vec<u8> {
    let state = StateFile {
        version: VERSION,
        options: opts.clone(),
        clusters: drain
            .clusters()
            .iter()
            .map(|c| ClusterRecord {
                id: c.id,
                template: c.tokens.iter().map(|t| t.to_string()).collect(),
                route: c.route.iter().map(|t| t.to_string()).collect(),
            })
            .collect(),
    };
    // Serialising plain strings and numbers cannot fail; fall back to an empty state rather than panic.
    serde_json::to_vec(&state).unwrap_or_default()
}

/// Writes `bytes` to `path` atomically.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TemplateError> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
    f.write_all(bytes).map_err(io_err("write", &tmp))?;
    f.sync_all().map_err(io_err("fsync", &tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io_err("rename to", path))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("fsync directory of", path))?;
    }
    Ok(())
}

/// Loads the clusters from `path`; an absent file is an empty state.
pub(crate) fn load(path: &Path, opts: &MinerOptions) -> Result<Drain, TemplateError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Drain::default()),
        Err(e) => return Err(io_err("read", path)(e)),
    };
    let corrupt = |reason: String| TemplateError::Corrupt {
        path: path.display().to_string(),
        reason,
    };
    let state: StateFile = serde_json::from_slice(&bytes)
        .map_err(|e| corrupt(format!("not a template state file: {e}")))?;
    if state.version != VERSION {
        return Err(corrupt(format!(
            "format version {} (this build reads version {VERSION})",
            state.version
        )));
    }
    let mut drain = Drain::default();
    for c in state.clusters {
        let tokens = c.template.into_iter().map(Box::from).collect();
        let route = c.route.into_iter().map(Box::from).collect();
        if !drain.insert(c.id, tokens, Some(route), opts) {
            return Err(corrupt(format!("cluster id {} appears twice", c.id)));
        }
    }
    Ok(drain)
}

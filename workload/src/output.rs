//! Setting up the host root (directories, Docker configs, pod list) and writing the manifest.

use crate::engine::Engine;
use crate::error::GenerateError;
use crate::fleet::{self, Container, Runtime, Service};
use crate::manifest::{self, FileTruth, Manifest};
use crate::writer::{Framing, LogFile, RotatePolicy, Segment};
use crate::{GenerateOptions, Summary};
use logmind_protocol::time::format_rfc3339_nanos;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Path of the pod list relative to the root.
pub const POD_LIST: &str = "k8s-pods.json";

fn rel(root: &Path, p: &Path) -> String {
    let r = p.strip_prefix(root).unwrap_or(p);
    r.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), GenerateError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| GenerateError::io("creating directory", dir, e))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| GenerateError::io("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| GenerateError::io("renaming", &tmp, e))
}

fn to_json<T: serde::Serialize>(what: &'static str, v: &T) -> Result<Vec<u8>, GenerateError> {
    serde_json::to_vec_pretty(v).map_err(|source| GenerateError::Json { what, source })
}

fn created(start_ns: i64) -> String {
    format_rfc3339_nanos(start_ns - 3_600_000_000_000)
}

fn write_pod_list(
    opts: &GenerateOptions,
    services: &[Service],
    containers: &[Container],
    restarts: &[u32],
    start_ns: i64,
) -> Result<(), GenerateError> {
    if !containers
        .iter()
        .any(|c| services[c.service].runtime == Runtime::Kubernetes)
    {
        return Ok(());
    }
    let list = fleet::pod_list(
        services,
        containers,
        restarts,
        &opts.node_name,
        &created(start_ns),
    );
    write_atomic(&opts.root.join(POD_LIST), &to_json("pod list", &list)?)
}

/// Creates every container's log file (and Docker's `config.v2.json`, and the pod list); returns the
/// files and their directories relative to the root.
pub(crate) fn prepare(
    opts: &GenerateOptions,
    services: &[Service],
    containers: &[Container],
    start_ns: i64,
) -> Result<(Vec<LogFile>, Vec<String>), GenerateError> {
    let policy = RotatePolicy {
        max_bytes: opts.rotate_bytes,
        keep: opts.rotate_keep,
        gzip: opts.gzip,
    };
    let mut files = Vec::with_capacity(containers.len());
    let mut dirs = Vec::with_capacity(containers.len());
    for c in containers {
        let s = &services[c.service];
        let file = match s.runtime {
            Runtime::Kubernetes => {
                let dir = opts
                    .root
                    .join("var/log/pods")
                    .join(format!("{}_{}_{}", s.namespace, c.pod, c.pod_uid))
                    .join(s.container);
                LogFile::create(
                    Framing::Cri,
                    dir,
                    "0.log".to_string(),
                    policy,
                    opts.max_line_bytes,
                )?
            }
            Runtime::Docker => {
                let dir = opts.root.join("var/lib/docker/containers").join(&c.id);
                let name = format!("{}-json.log", c.id);
                let host_path = format!("/var/lib/docker/containers/{}/{name}", c.id);
                let config = fleet::docker_config(s, c, &host_path, &created(start_ns));
                let f = LogFile::create(
                    Framing::Docker,
                    dir.clone(),
                    name,
                    policy,
                    opts.max_line_bytes,
                )?;
                write_atomic(
                    &dir.join("config.v2.json"),
                    &to_json("docker config", &config)?,
                )?;
                f
            }
        };
        dirs.push(rel(&opts.root, &file.dir));
        files.push(file);
    }
    write_pod_list(
        opts,
        services,
        containers,
        &vec![0; containers.len()],
        start_ns,
    )?;
    Ok((files, dirs))
}

fn aux_files(eng: &Engine<'_>) -> Vec<String> {
    let mut v: Vec<String> = eng
        .containers
        .iter()
        .zip(&eng.log_dirs)
        .filter(|(c, _)| eng.services[c.service].runtime == Runtime::Docker)
        .map(|(_, d)| format!("{d}/config.v2.json"))
        .collect();
    if eng
        .containers
        .iter()
        .any(|c| eng.services[c.service].runtime == Runtime::Kubernetes)
    {
        v.push(POD_LIST.to_string());
    }
    v.sort();
    v
}

fn build(
    eng: &Engine<'_>,
    segments: Vec<(usize, Vec<Segment>, Vec<Segment>)>,
    complete: bool,
) -> Manifest {
    let opts = eng.opts;
    let mut m = Manifest {
        version: 1,
        seed: opts.seed,
        mode: if eng.continuous {
            "continuous"
        } else {
            "batch"
        }
        .to_string(),
        complete,
        node_name: opts.node_name.clone(),
        start_ns: eng.start_ns,
        end_ns: eng.last_ns,
        max_line_bytes: opts.max_line_bytes,
        ..Default::default()
    };
    eng.tally
        .fill(&eng.services, &eng.user_ids, &eng.template_texts, &mut m);
    m.totals.rotations = eng.files.iter().map(|f| f.rotations).sum();
    m.containers = manifest::container_truths(
        &eng.services,
        &eng.containers,
        &eng.restarts,
        &eng.container_events,
        &eng.log_dirs,
    );
    m.requests = eng.requests.clone();
    m.aux_files = aux_files(eng);
    for (c, live, deleted) in segments {
        let s = &eng.services[eng.containers[c].service];
        let framing = if s.runtime == Runtime::Kubernetes {
            "cri"
        } else {
            "docker"
        };
        for seg in live {
            m.files.push(FileTruth {
                path: rel(&opts.root, &seg.path),
                format: framing.to_string(),
                compressed: seg.compressed,
                namespace: s.namespace.to_string(),
                app: s.app.to_string(),
                events: seg.events,
                lines: seg.lines,
                file_lines: seg.file_lines,
                bytes: seg.bytes,
            });
        }
        for seg in deleted {
            let d = &mut m.deleted;
            d.events += seg.events;
            d.lines += seg.lines;
            d.file_lines += seg.file_lines;
            d.bytes += seg.bytes;
            d.files.push(rel(&opts.root, &seg.path));
            for e in seg.refs {
                *d.by_app.entry(e.app.clone()).or_default() += 1;
                *d.by_level.entry(e.level.clone()).or_default() += 1;
                d.list.push(e);
            }
        }
    }
    m.files.sort_by(|a, b| a.path.cmp(&b.path));
    m.deleted.files.sort();
    m.deleted.list.sort_by_key(|e| e.seq);
    m
}

/// Rewrites the manifest mid-run (continuous mode), marked `complete: false`.
pub(crate) fn write_interim_manifest(eng: &Engine<'_>) -> Result<(), GenerateError> {
    let segments = eng
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (live, deleted) = f.snapshot();
            (i, live, deleted)
        })
        .collect();
    let m = build(eng, segments, false);
    write_atomic(&eng.opts.manifest_path(), &to_json("manifest", &m)?)
}

/// Closes every file, writes the final pod list and manifest, and summarises the run.
pub(crate) fn finish(mut eng: Engine<'_>, started: Instant) -> Result<Summary, GenerateError> {
    let files = std::mem::take(&mut eng.files);
    let mut rotations = 0;
    let mut segments = Vec::with_capacity(files.len());
    for (i, f) in files.into_iter().enumerate() {
        rotations += f.rotations;
        let (live, deleted) = f.finish()?;
        segments.push((i, live, deleted));
    }
    let mut m = build(&eng, segments, true);
    m.totals.rotations = rotations;
    let opts = eng.opts;
    write_pod_list(
        opts,
        &eng.services,
        &eng.containers,
        &eng.restarts,
        eng.start_ns,
    )?;
    let path = opts.manifest_path();
    write_atomic(&path, &to_json("manifest", &m)?)?;
    tracing::info!(events = m.totals.events, files = m.files.len(), manifest = %path.display(), "workload generated");
    Ok(Summary {
        events: m.totals.events,
        lines: m.totals.file_lines,
        bytes: m.totals.bytes,
        files: m.files.len(),
        manifest: path,
        elapsed: started.elapsed(),
    })
}

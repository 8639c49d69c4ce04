//! An independent reader of the generated files: decodes CRI and Docker lines, merges `P`/`F` and
//! Docker pieces, groups multi-line events, and derives namespace/app/level/ids the way the agent's
//! contract describes. Shared by the integration tests.

#![allow(dead_code)]

use flate2::read::GzDecoder;
use logmind_protocol::time::parse_rfc3339_nanos;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// One event read back.
#[derive(Debug, Clone)]
pub struct Event {
    pub ts: i64,
    pub namespace: String,
    pub app: String,
    pub level: String,
    pub request_id: String,
    pub user_id: String,
    pub message: String,
    pub lines: usize,
}

/// One file read back.
#[derive(Debug, Default)]
pub struct FileStats {
    pub file_lines: u64,
    pub bytes: u64,
    pub lines: u64,
    pub events: u64,
    pub max_piece: usize,
    pub longest_line: usize,
}

pub fn read_maybe_gz(path: &Path) -> Vec<u8> {
    let raw = std::fs::read(path).expect("read file");
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .expect("gunzip");
        out
    } else {
        raw
    }
}

pub fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd {
        let p = e.expect("entry").path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Deployment name from a pod name `<deploy>-<hash>-<suffix>`.
pub fn workload_of(pod: &str) -> String {
    let parts: Vec<&str> = pod.rsplitn(3, '-').collect();
    parts.last().expect("pod name").to_string()
}

fn continues(prev_open_python: bool, line: &str) -> bool {
    prev_open_python
        || line.starts_with('\t')
        || line.starts_with("Caused by: ")
        || line.starts_with("goroutine ")
        || line.starts_with("main.")
}

fn level_of(first: &str) -> String {
    if first.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(first).expect("json app line");
        return v["level"].as_str().unwrap_or("").to_string();
    }
    if let Some(rest) = first.strip_prefix("time=") {
        let lv = rest
            .split(' ')
            .find_map(|kv| kv.strip_prefix("level="))
            .unwrap_or("");
        return lv.to_string();
    }
    if first.starts_with("Traceback ") || first.starts_with("Exception in thread") {
        return "error".into();
    }
    if first.starts_with("panic: ") {
        return "fatal".into();
    }
    match first.split(' ').next().unwrap_or("") {
        "DEBUG" => "debug".into(),
        "INFO" => "info".into(),
        "WARN" => "warn".into(),
        "ERROR" => "error".into(),
        _ => String::new(),
    }
}

fn id_of(first: &str, key: &str) -> String {
    if first.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(first).expect("json app line");
        return v[key].as_str().unwrap_or("").to_string();
    }
    for pat in [format!("{key}="), format!("{key}: ")] {
        if let Some(i) = first.find(&pat) {
            let rest = &first[i + pat.len()..];
            return rest.split(' ').next().unwrap_or("").to_string();
        }
    }
    String::new()
}

/// Groups logical lines `(ts, text)` into events.
fn group(lines: Vec<(i64, String)>, namespace: &str, app: &str, out: &mut Vec<Event>) -> u64 {
    let mut n = 0;
    let mut cur: Option<(i64, Vec<String>)> = None;
    let mut python_open = false;
    for (ts, line) in lines {
        let cont = cur.is_some() && continues(python_open, &line);
        if python_open && !line.starts_with(' ') {
            python_open = false; // the exception line closes the traceback
        }
        if !cont {
            if let Some((t, ls)) = cur.take() {
                out.push(make(t, ls, namespace, app));
                n += 1;
            }
            python_open = line.starts_with("Traceback (most recent call last):");
            cur = Some((ts, vec![line]));
        } else if let Some((_, ls)) = cur.as_mut() {
            ls.push(line);
        }
    }
    if let Some((t, ls)) = cur.take() {
        out.push(make(t, ls, namespace, app));
        n += 1;
    }
    n
}

fn make(ts: i64, ls: Vec<String>, namespace: &str, app: &str) -> Event {
    let first = ls[0].clone();
    Event {
        ts,
        namespace: namespace.to_string(),
        app: app.to_string(),
        level: level_of(&first),
        request_id: id_of(&first, "request_id"),
        user_id: id_of(&first, "user_id"),
        lines: ls.len(),
        message: ls.join("\n"),
    }
}

/// Decodes one CRI file into logical lines.
pub fn decode_cri(data: &[u8], stats: &mut FileStats) -> Vec<(i64, String)> {
    let text = std::str::from_utf8(data).expect("utf8");
    let mut out = Vec::new();
    let mut partial = String::new();
    let mut partial_ts = None;
    for row in text.split_terminator('\n') {
        stats.file_lines += 1;
        let mut it = row.splitn(4, ' ');
        let ts = parse_rfc3339_nanos(it.next().expect("ts").as_bytes()).expect("cri timestamp");
        let stream = it.next().expect("stream");
        assert!(stream == "stdout" || stream == "stderr", "{row}");
        let tag = it.next().expect("tag");
        let content = it.next().expect("content");
        stats.max_piece = stats.max_piece.max(content.len());
        partial.push_str(content);
        partial_ts.get_or_insert(ts);
        match tag {
            "F" => {
                stats.longest_line = stats.longest_line.max(partial.len());
                out.push((partial_ts.take().expect("ts"), std::mem::take(&mut partial)));
            }
            "P" => {}
            other => panic!("bad tag {other}"),
        }
    }
    assert!(partial.is_empty(), "dangling P piece");
    out
}

/// Decodes one Docker json-file into logical lines.
pub fn decode_docker(data: &[u8], stats: &mut FileStats) -> Vec<(i64, String)> {
    let text = std::str::from_utf8(data).expect("utf8");
    let mut out = Vec::new();
    let mut partial = String::new();
    let mut partial_ts = None;
    for row in text.split_terminator('\n') {
        stats.file_lines += 1;
        let v: serde_json::Value = serde_json::from_str(row).expect("docker json line");
        let ts =
            parse_rfc3339_nanos(v["time"].as_str().expect("time").as_bytes()).expect("docker time");
        let log = v["log"].as_str().expect("log");
        assert!(matches!(v["stream"].as_str(), Some("stdout" | "stderr")));
        partial_ts.get_or_insert(ts);
        if let Some(l) = log.strip_suffix('\n') {
            stats.max_piece = stats.max_piece.max(l.len());
            partial.push_str(l);
            stats.longest_line = stats.longest_line.max(partial.len());
            out.push((partial_ts.take().expect("ts"), std::mem::take(&mut partial)));
        } else {
            stats.max_piece = stats.max_piece.max(log.len());
            partial.push_str(log);
        }
    }
    assert!(partial.is_empty(), "dangling docker piece");
    out
}

/// Everything read back from a root.
#[derive(Debug, Default)]
pub struct Readback {
    pub events: Vec<Event>,
    pub files: BTreeMap<String, FileStats>,
}

/// Reads every log file under `root` (current, rotated, gzipped).
pub fn read_root(root: &Path) -> Readback {
    let mut rb = Readback::default();
    let mut paths = Vec::new();
    walk(&root.join("var/log/pods"), &mut paths);
    walk(&root.join("var/lib/docker/containers"), &mut paths);
    paths.sort();
    for p in paths {
        let rel = p
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .replace('\\', "/");
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        if name == "config.v2.json" || name.ends_with(".tmp") {
            continue;
        }
        let data = read_maybe_gz(&p);
        let mut stats = FileStats {
            bytes: data.len() as u64,
            ..Default::default()
        };
        let (namespace, app, lines) = if rel.starts_with("var/log/pods/") {
            let pod_dir = rel.split('/').nth(3).expect("pod dir");
            let mut parts = pod_dir.split('_');
            let ns = parts.next().expect("ns").to_string();
            let pod = parts.next().expect("pod");
            (ns, workload_of(pod), decode_cri(&data, &mut stats))
        } else {
            let dir = p.parent().expect("dir");
            let cfg: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("config.v2.json")).expect("config"))
                    .expect("config json");
            let labels = &cfg["Config"]["Labels"];
            let (ns, app) = match labels["com.docker.compose.service"].as_str() {
                Some(svc) => (
                    labels["com.docker.compose.project"]
                        .as_str()
                        .expect("project")
                        .to_string(),
                    svc.to_string(),
                ),
                None => (
                    "docker".to_string(),
                    cfg["Name"]
                        .as_str()
                        .expect("name")
                        .trim_start_matches('/')
                        .to_string(),
                ),
            };
            (ns, app, decode_docker(&data, &mut stats))
        };
        stats.lines = lines.len() as u64;
        stats.events = group(lines, &namespace, &app, &mut rb.events);
        rb.files.insert(rel, stats);
    }
    rb
}

//! End-to-end tests of the generator over real files: determinism, framing, rotation, and the
//! manifest checked against an independent read-back of everything written.

mod common;

use common::{read_maybe_gz, read_root, walk};
use logmind_workload::{generate, Formats, GenerateOptions, Manifest};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

fn opts(root: &Path) -> GenerateOptions {
    GenerateOptions {
        root: root.to_path_buf(),
        events: 3_000,
        ..Default::default()
    }
}

fn load_manifest(path: &Path) -> Manifest {
    serde_json::from_slice(&std::fs::read(path).expect("manifest file")).expect("manifest json")
}

fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut paths = Vec::new();
    walk(root, &mut paths);
    paths
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            (rel, std::fs::read(&p).expect("read"))
        })
        .collect()
}

/// Compares the manifest with what the files really hold.
fn check_against_files(root: &Path, m: &Manifest) {
    let rb = read_root(root);
    // Per file: every number in the manifest matches the read-back.
    let listed: BTreeSet<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    let found: BTreeSet<&str> = rb.files.keys().map(String::as_str).collect();
    assert_eq!(listed, found, "manifest file list vs files on disk");
    for f in &m.files {
        let s = &rb.files[&f.path];
        assert_eq!(
            (f.events, f.lines, f.file_lines, f.bytes),
            (s.events, s.lines, s.file_lines, s.bytes),
            "{}",
            f.path
        );
        assert!(
            s.max_piece <= m.max_line_bytes,
            "{}: piece {} > max",
            f.path,
            s.max_piece
        );
    }
    // Totals = retained + deleted.
    let d = &m.deleted;
    assert_eq!(rb.events.len() as u64 + d.events, m.totals.events);
    let sum = |g: fn(&common::FileStats) -> u64| rb.files.values().map(g).sum::<u64>();
    assert_eq!(sum(|s| s.lines) + d.lines, m.totals.lines);
    assert_eq!(sum(|s| s.file_lines) + d.file_lines, m.totals.file_lines);
    assert_eq!(sum(|s| s.bytes) + d.bytes, m.totals.bytes);
    assert_eq!(d.list.len() as u64, d.events);
    // Breakdowns from the read-back (namespace/app derived from paths and Docker configs).
    let mut by_nal: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for e in &rb.events {
        *by_nal
            .entry((e.namespace.clone(), e.app.clone(), e.level.clone()))
            .or_default() += 1;
    }
    for e in &d.list {
        *by_nal
            .entry((e.namespace.clone(), e.app.clone(), e.level.clone()))
            .or_default() += 1;
    }
    let mut expected = BTreeMap::new();
    for (ns, apps) in &m.by_namespace_app_level {
        for (app, levels) in apps {
            for (lvl, n) in levels {
                expected.insert((ns.clone(), app.clone(), lvl.clone()), *n);
            }
        }
    }
    assert_eq!(by_nal, expected);
    let multiline = rb.events.iter().filter(|e| e.lines > 1).count() as u64;
    let deleted_multi = d.list.iter().filter(|e| e.lines > 1).count() as u64;
    assert_eq!(multiline + deleted_multi, m.totals.multiline_events);
    // Requests: the events found under each listed request id are exactly the manifest's.
    let mut by_req: BTreeMap<&str, Vec<&common::Event>> = BTreeMap::new();
    for e in rb.events.iter().filter(|e| !e.request_id.is_empty()) {
        by_req.entry(e.request_id.as_str()).or_default().push(e);
    }
    let deleted_seqs: BTreeSet<u64> = d.list.iter().map(|e| e.seq).collect();
    if d.events == 0 {
        assert_eq!(by_req.len() as u64, m.totals.requests);
    }
    // Requests: what is left of each one in the files is its manifest list minus deleted events.
    for r in &m.requests {
        let mut got = by_req
            .get(r.request_id.as_str())
            .cloned()
            .unwrap_or_default();
        got.sort_by_key(|e| e.ts);
        let got_view: Vec<(i64, &str, &str, &str)> = got
            .iter()
            .map(|e| {
                (
                    e.ts,
                    e.app.as_str(),
                    e.level.as_str(),
                    e.message.lines().next().unwrap_or(""),
                )
            })
            .collect();
        let want: Vec<(i64, &str, &str, &str)> = r
            .events
            .iter()
            .filter(|e| !deleted_seqs.contains(&e.seq))
            .map(|e| {
                (
                    e.ts,
                    e.app.as_str(),
                    e.level.as_str(),
                    e.first_line.as_str(),
                )
            })
            .collect();
        assert_eq!(got_view, want, "request {} (after deletions)", r.request_id);
    }
    // Users: counts by app from the text, plus the deleted events.
    let mut users: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (u, app) in rb
        .events
        .iter()
        .map(|e| (&e.user_id, &e.app))
        .chain(d.list.iter().map(|e| (&e.user_id, &e.app)))
        .filter(|(u, _)| !u.is_empty())
    {
        *users
            .entry(u.clone())
            .or_default()
            .entry(app.clone())
            .or_default() += 1;
    }
    let want: BTreeMap<String, BTreeMap<String, u64>> = m
        .users
        .iter()
        .map(|(u, t)| (u.clone(), t.by_app.clone()))
        .collect();
    assert_eq!(users, want);
    if d.events == 0 {
        for r in &m.requests {
            let mut got = by_req[r.request_id.as_str()].clone();
            got.sort_by_key(|e| e.ts);
            let got_view: Vec<(i64, &str, &str, &str)> = got
                .iter()
                .map(|e| {
                    (
                        e.ts,
                        e.app.as_str(),
                        e.level.as_str(),
                        e.message.lines().next().unwrap_or(""),
                    )
                })
                .collect();
            let want: Vec<(i64, &str, &str, &str)> = r
                .events
                .iter()
                .map(|e| {
                    (
                        e.ts,
                        e.app.as_str(),
                        e.level.as_str(),
                        e.first_line.as_str(),
                    )
                })
                .collect();
            assert_eq!(got_view, want, "request {}", r.request_id);
            if m.mode == "batch" {
                assert!(
                    r.apps.len() >= 2,
                    "request {} crosses {:?}",
                    r.request_id,
                    r.apps
                );
            }
            assert!(r.events.windows(2).all(|w| w[0].ts < w[1].ts));
            assert_eq!(
                r.has_error,
                r.events
                    .iter()
                    .any(|e| e.level == "error" || e.level == "fatal")
            );
        }
        // Users: counts by app and level from the text.
        let mut users: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for e in rb.events.iter().filter(|e| !e.user_id.is_empty()) {
            *users
                .entry(e.user_id.clone())
                .or_default()
                .entry(e.app.clone())
                .or_default() += 1;
        }
        let want: BTreeMap<String, BTreeMap<String, u64>> = m
            .users
            .iter()
            .map(|(u, t)| (u.clone(), t.by_app.clone()))
            .collect();
        assert_eq!(users, want);
        // Error templates: every error/fatal event holds exactly one template instance.
        let regexes: Vec<(String, regex::Regex)> = m
            .error_templates
            .iter()
            .map(|t| {
                let pat = t
                    .template
                    .split("<*>")
                    .map(regex::escape)
                    .collect::<Vec<_>>()
                    .join(r"\S+");
                (t.template.clone(), regex::Regex::new(&pat).expect("regex"))
            })
            .collect();
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for e in rb
            .events
            .iter()
            .filter(|e| e.level == "error" || e.level == "fatal")
        {
            // Groups differ by their framing (`charge failed: …` vs `…`): the most specific match wins.
            let mut hits: Vec<&String> = regexes
                .iter()
                .filter(|(_, r)| r.is_match(&e.message))
                .map(|(t, _)| t)
                .collect();
            hits.sort_by_key(|t| std::cmp::Reverse(t.len()));
            assert!(!hits.is_empty(), "{:?} matched no template", e.message);
            assert!(
                hits.len() == 1 || hits[0].len() > hits[1].len(),
                "{:?} matched {hits:?} equally",
                e.message
            );
            *counts.entry(hits[0].clone()).or_default() += 1;
        }
        let want: BTreeMap<String, u64> = m
            .error_templates
            .iter()
            .map(|t| (t.template.clone(), t.count))
            .collect();
        assert_eq!(counts, want);
        assert_eq!(counts.values().sum::<u64>(), m.totals.error_events);
    }
}

#[test]
fn same_options_give_identical_bytes() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let mut o = opts(a.path());
    o.rotate_bytes = Some(40_000);
    o.rotate_keep = 3;
    o.gzip = true;
    generate(&o, None).expect("first run");
    o.root = b.path().to_path_buf();
    generate(&o, None).expect("second run");
    let (ta, tb) = (tree(a.path()), tree(b.path()));
    assert!(ta.len() > 20);
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (k, v) in &ta {
        assert!(v == &tb[k], "{k} differs");
    }
    let c = tempfile::tempdir().expect("tempdir");
    o.root = c.path().to_path_buf();
    o.seed = 43;
    generate(&o, None).expect("other seed");
    assert_ne!(ta["manifest.json"], tree(c.path())["manifest.json"]);
}

#[test]
fn default_run_matches_its_manifest() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = GenerateOptions {
        root: tmp.path().to_path_buf(),
        ..Default::default()
    };
    let summary = generate(&o, None).expect("generate");
    let m = load_manifest(&summary.manifest);
    assert_eq!(summary.events, 10_000);
    assert_eq!(m.totals.events, 10_000);
    assert!(m.complete);
    assert_eq!(m.start_ns, logmind_workload::DEFAULT_START_NS);
    assert!(m.totals.multiline_events > 10, "{:?}", m.totals);
    assert!(m.totals.restarts >= 1);
    assert!(m.totals.requests > 500);
    assert!(m.requests.iter().any(|r| r.has_error));
    assert!(m.requests.iter().any(|r| r.apps.len() >= 3));
    assert!(m.error_templates.len() >= 12, "{}", m.error_templates.len());
    let ratio = m.totals.error_events as f64 / m.totals.events as f64;
    assert!((0.03..0.15).contains(&ratio), "error ratio {ratio}");
    for ns in ["shop-prod", "payments-prod", "platform", "shop", "docker"] {
        assert!(m.by_namespace[ns] > 0, "{ns}");
    }
    assert_eq!(m.deleted.events, 0);
    // A restart leaves 1.log next to 0.log.
    let inventory = m
        .containers
        .iter()
        .find(|c| c.app == "inventory")
        .expect("inventory");
    assert!(inventory.restarts >= 1);
    assert!(tmp.path().join(&inventory.log_dir).join("1.log").is_file());
    assert!(tmp.path().join(&inventory.log_dir).join("0.log").is_file());
    check_against_files(tmp.path(), &m);
}

#[test]
fn long_lines_are_split_and_reassemble() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut o = opts(tmp.path());
    o.long_line_ratio = 0.05;
    o.max_line_bytes = 1024;
    let m = load_manifest(&generate(&o, None).expect("generate").manifest);
    assert!(m.totals.long_events > 20, "{:?}", m.totals);
    let rb = read_root(tmp.path());
    for (path, s) in &rb.files {
        assert!(s.max_piece <= 1024, "{path}");
    }
    assert!(rb.files.values().any(|s| s.longest_line > 2048));
    // Reassembled long JSON lines are whole JSON objects again (pieces joined in the right order).
    let long_json: Vec<&common::Event> = rb
        .events
        .iter()
        .filter(|e| e.message.starts_with('{') && e.message.len() > 1024)
        .collect();
    assert!(!long_json.is_empty());
    for e in long_json {
        let v: serde_json::Value = serde_json::from_str(&e.message).expect("reassembled JSON line");
        assert!(v["payload"].as_str().expect("payload").len() >= 1024);
    }
    check_against_files(tmp.path(), &m);
}

#[test]
fn rotation_uses_kubelet_and_docker_names_and_loses_nothing_unaccounted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut o = opts(tmp.path());
    o.events = 20_000;
    o.rotate_bytes = Some(60_000);
    o.rotate_keep = 4;
    o.gzip = true;
    let m = load_manifest(&generate(&o, None).expect("generate").manifest);
    assert!(m.totals.rotations > 10);
    let kubelet = regex::Regex::new(r"^\d+\.log\.\d{8}-\d{6}(\.gz)?$").expect("re");
    let docker = regex::Regex::new(r"^[0-9a-f]{64}-json\.log\.\d+\.gz$").expect("re");
    let (mut k_gz, mut k_plain, mut d_gz) = (0, 0, 0);
    for f in &m.files {
        let name = f.path.rsplit('/').next().expect("name");
        if f.path.starts_with("var/log/pods/") && name.contains(".log.") {
            assert!(kubelet.is_match(name), "{name}");
            if f.compressed {
                k_gz += 1
            } else {
                k_plain += 1
            }
        }
        if f.path.starts_with("var/lib/docker/") && name.contains("-json.log.") {
            assert!(docker.is_match(name), "{name}");
            d_gz += 1;
        }
        if f.compressed {
            assert!(!read_maybe_gz(&tmp.path().join(&f.path)).is_empty());
        }
    }
    assert!(
        k_gz > 0 && k_plain > 0 && d_gz > 0,
        "{k_gz} {k_plain} {d_gz}"
    );
    assert!(
        m.deleted.events > 0,
        "keep 4 with this volume deletes something"
    );
    assert!(!m.deleted.files.is_empty());
    // kubelet names are unique (timestamped); Docker reuses `.N` names, so only check kubelet's.
    for f in m
        .deleted
        .files
        .iter()
        .filter(|f| f.starts_with("var/log/pods/"))
    {
        assert!(!tmp.path().join(f).exists(), "{f} still exists");
    }
    // No leftover temporary files.
    let mut all = Vec::new();
    walk(tmp.path(), &mut all);
    assert!(all.iter().all(|p| !p.to_string_lossy().ends_with(".tmp")));
    check_against_files(tmp.path(), &m);
}

#[test]
fn kubernetes_only_writes_a_pod_list_matching_the_layout() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut o = opts(tmp.path());
    o.format = Formats::Kubernetes;
    o.node_name = "worker-7".into();
    let m = load_manifest(&generate(&o, None).expect("generate").manifest);
    assert!(!tmp.path().join("var/lib/docker").exists());
    let pods: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("k8s-pods.json")).expect("pods"))
            .expect("json");
    assert_eq!(pods["kind"], "PodList");
    assert_eq!(pods["apiVersion"], "v1");
    let items = pods["items"].as_array().expect("items");
    assert_eq!(items.len(), m.containers.len());
    for c in &m.containers {
        let item = items
            .iter()
            .find(|i| i["metadata"]["name"] == c.pod.as_str())
            .expect("pod listed");
        assert_eq!(item["metadata"]["namespace"], c.namespace.as_str());
        assert_eq!(item["metadata"]["uid"], c.pod_uid.as_str());
        let labels = &item["metadata"]["labels"];
        let app = labels["app.kubernetes.io/name"]
            .as_str()
            .or(labels["app"].as_str())
            .expect("app label");
        assert_eq!(app, c.app);
        assert_eq!(item["spec"]["nodeName"], "worker-7");
        assert_eq!(item["spec"]["containers"][0]["name"], c.container.as_str());
        assert_eq!(item["status"]["phase"], "Running");
        assert_eq!(
            item["status"]["containerStatuses"][0]["restartCount"],
            c.restarts
        );
        assert_eq!(
            c.log_dir,
            format!(
                "var/log/pods/{}_{}_{}/{}",
                c.namespace, c.pod, c.pod_uid, c.container
            )
        );
    }
    check_against_files(tmp.path(), &m);
}

#[test]
fn docker_only_writes_configs_in_docker_shape() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut o = opts(tmp.path());
    o.format = Formats::Docker;
    let m = load_manifest(&generate(&o, None).expect("generate").manifest);
    assert!(!tmp.path().join("var/log/pods").exists());
    assert!(!tmp.path().join("k8s-pods.json").exists());
    let mut compose = 0;
    for c in &m.containers {
        assert_eq!(c.container_id.len(), 64);
        let cfg: serde_json::Value = serde_json::from_slice(
            &std::fs::read(tmp.path().join(&c.log_dir).join("config.v2.json")).expect("config"),
        )
        .expect("json");
        assert_eq!(cfg["ID"], c.container_id.as_str());
        assert_eq!(cfg["Name"], format!("/{}", c.container));
        assert_eq!(cfg["State"]["Running"], true);
        assert!(cfg["Created"].as_str().is_some() && cfg["Config"]["Image"].as_str().is_some());
        if cfg["Config"]["Labels"]["com.docker.compose.project"].is_string() {
            compose += 1;
        }
    }
    assert_eq!(compose, 2);
    assert_eq!(m.containers.len(), 4);
    check_against_files(tmp.path(), &m);
}

#[test]
fn continuous_mode_uses_the_wall_clock_and_stops() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut o = opts(tmp.path());
    o.rate = Some(3_000.0);
    o.duration = Some(Duration::from_millis(1_200));
    let before = logmind_protocol::time::now_nanos();
    let stop = Arc::new(AtomicBool::new(false));
    let summary = generate(&o, Some(stop)).expect("generate");
    let after = logmind_protocol::time::now_nanos();
    let m = load_manifest(&summary.manifest);
    assert_eq!(m.mode, "continuous");
    assert!(m.complete);
    assert!(
        summary.lines >= 1_500 && summary.lines <= 6_000,
        "{}",
        summary.lines
    );
    assert!(m.start_ns >= before && m.end_ns <= after + 1_000_000);
    check_against_files(tmp.path(), &m);
}

#[test]
fn invalid_options_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut o = opts(tmp.path());
    o.error_ratio = 1.5;
    let err = generate(&o, None).expect_err("refused");
    assert!(err.to_string().contains("error_ratio"), "{err}");
    o.error_ratio = 0.1;
    o.rate = Some(0.0);
    assert!(generate(&o, None).is_err());
}

#[test]
fn continuous_mode_rewrites_the_manifest_and_honours_the_stop_flag() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut o = opts(tmp.path());
    o.rate = Some(2_000.0);
    o.duration = Some(Duration::from_secs(25));
    let manifest = o.manifest_path();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || generate(&o, Some(flag)));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let interim = loop {
        assert!(std::time::Instant::now() < deadline, "no interim manifest");
        if let Ok(bytes) = std::fs::read(&manifest) {
            break serde_json::from_slice::<Manifest>(&bytes)
                .expect("interim manifest is complete JSON");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!interim.complete);
    assert!(interim.totals.events > 0);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let summary = handle.join().expect("thread").expect("generate");
    assert!(
        summary.elapsed < Duration::from_secs(20),
        "stop flag ignored"
    );
    let m = load_manifest(&summary.manifest);
    assert!(m.complete);
    assert!(m.totals.events >= interim.totals.events);
    check_against_files(tmp.path(), &m);
}

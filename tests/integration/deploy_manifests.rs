//! The deploy manifests agree with the binary and with each other: every YAML document under
//! `deploy/kubernetes/` and `deploy/docker-compose.yml` parses, the expected objects are there, every
//! `--flag` a container passes exists in `logmind <command> --help`, the ConfigMap's `logmind.toml`
//! passes `logmind config check`, and ports 3100 (indexer) / 3101 (agent) match across containers,
//! Services, probes and the configuration.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use yaml_rust2::{Yaml, YamlLoader};

const BIN: &str = env!("CARGO_BIN_EXE_logmind");
const NAMESPACE: &str = "logmind";
const INDEXER_PORT: i64 = 3100;
const AGENT_PORT: i64 = 3101;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn load(path: &Path) -> Vec<Yaml> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// Every non-empty document of every `*.yaml` file under deploy/kubernetes, with its file name.
fn k8s_docs() -> Vec<(String, Yaml)> {
    let dir = deploy_dir().join("kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 7,
        "expected the 7 manifests, found {files:?}"
    );
    let mut out = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for doc in load(&f) {
            if !doc.is_null() {
                out.push((name.clone(), doc));
            }
        }
    }
    out
}

fn compose() -> Yaml {
    let docs = load(&deploy_dir().join("docker-compose.yml"));
    assert_eq!(docs.len(), 1, "docker-compose.yml holds one document");
    docs.into_iter().next().unwrap()
}

fn s(y: &Yaml) -> &str {
    y.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {y:?}"))
}

fn list(y: &Yaml) -> &[Yaml] {
    y.as_vec()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("expected a list, got {y:?}"))
}

fn find<'a>(docs: &'a [(String, Yaml)], kind: &str, name: &str) -> &'a Yaml {
    docs.iter()
        .map(|(_, d)| d)
        .find(|d| d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {kind} named {name} under deploy/kubernetes"))
}

/// The one container of a workload's pod template.
fn container<'a>(workload: &'a Yaml, name: &str) -> &'a Yaml {
    list(&workload["spec"]["template"]["spec"]["containers"])
        .iter()
        .find(|c| c["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// A container's `args` (or a compose service's `command`) as strings.
fn strings(y: &Yaml) -> Vec<String> {
    list(y).iter().map(|a| s(a).to_string()).collect()
}

fn args(c: &Yaml) -> Vec<String> {
    strings(&c["args"])
}

/// The value of `--name=V` or `--name V` in `args`.
fn flag(args: &[String], name: &str) -> Option<String> {
    let long = format!("--{name}");
    args.iter().enumerate().find_map(|(i, a)| {
        if a == &long {
            args.get(i + 1).cloned()
        } else {
            a.strip_prefix(&format!("{long}=")).map(str::to_string)
        }
    })
}

fn port_of_addr(addr: &str) -> i64 {
    let port = addr
        .rsplit(':')
        .next()
        .unwrap_or_else(|| panic!("{addr}: no port"));
    port.trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("{addr}: bad port: {e}"))
}

/// A probe's or Service's port (number or container port name) as a number.
fn resolve_port(c: &Yaml, port: &Yaml) -> i64 {
    if let Some(n) = port.as_i64() {
        return n;
    }
    let name = s(port);
    list(&c["ports"])
        .iter()
        .find(|p| p["name"].as_str() == Some(name))
        .and_then(|p| p["containerPort"].as_i64())
        .unwrap_or_else(|| {
            panic!(
                "port name {name} is not a port of container {:?}",
                c["name"]
            )
        })
}

fn run(args: &[&str], env: &[(String, String)]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(env.iter().cloned())
        .output()
        .unwrap_or_else(|e| panic!("running logmind {args:?}: {e}"))
}

/// Asserts every `--flag` of `args` (a logmind command line) is listed by `logmind <command> --help`.
fn assert_flags_exist(args: &[String]) {
    let command = args.first().expect("a command").as_str();
    let out = run(&[command, "--help"], &[]);
    assert!(out.status.success(), "logmind {command} --help failed");
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let used: Vec<&str> = args
        .iter()
        .filter(|a| a.starts_with("--"))
        .map(|a| a.split('=').next().unwrap_or(a))
        .collect();
    assert!(!used.is_empty(), "{args:?} passes no flag");
    for f in used {
        let whole_word = help.match_indices(f).any(|(i, _)| {
            !help[i + f.len()..]
                .chars()
                .next()
                .is_some_and(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        });
        assert!(whole_word, "logmind {command} has no flag {f}:\n{help}");
    }
}

fn configmap_toml(docs: &[(String, Yaml)]) -> String {
    s(&find(docs, "ConfigMap", "logmind-config")["data"]["logmind.toml"]).to_string()
}

/// The environment variables a container takes from the logmind-tokens Secret, with the example values.
fn token_env(docs: &[(String, Yaml)], c: &Yaml) -> Vec<(String, String)> {
    let secret = find(docs, "Secret", "logmind-tokens");
    list(&c["env"])
        .iter()
        .filter_map(|e| {
            let r = &e["valueFrom"]["secretKeyRef"];
            r.as_hash()?;
            assert_eq!(s(&r["name"]), "logmind-tokens", "secret of {:?}", e["name"]);
            let value = s(&secret["stringData"][s(&r["key"])]);
            assert!(!value.is_empty(), "example token {:?} is empty", r["key"]);
            Some((s(&e["name"]).to_string(), value.to_string()))
        })
        .collect()
}

/// Parses a Kubernetes memory quantity (`128Mi`, `2Gi`) or a logmind size (`16GiB`) into bytes.
fn bytes(q: &str) -> u64 {
    let q = q.trim_end_matches('B');
    let (num, mul) = [
        ("Ki", 1u64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
    ]
    .iter()
    .find_map(|(u, m)| q.strip_suffix(u).map(|n| (n, *m)))
    .unwrap_or((q, 1));
    num.parse::<u64>().unwrap_or_else(|e| panic!("{q}: {e}")) * mul
}

#[test]
fn manifests_parse_and_hold_every_object_in_the_logmind_namespace() {
    let docs = k8s_docs();
    let kinds: BTreeSet<(String, String)> = docs
        .iter()
        .filter(|(f, _)| f != "kustomization.yaml")
        .map(|(f, d)| {
            assert!(
                d["apiVersion"].as_str().is_some(),
                "{f}: a document without apiVersion"
            );
            let kind = s(&d["kind"]).to_string();
            let ns = d["metadata"]["namespace"].as_str();
            match kind.as_str() {
                "Namespace" | "ClusterRole" | "ClusterRoleBinding" => assert_eq!(ns, None, "{f}"),
                _ => assert_eq!(ns, Some(NAMESPACE), "{f}: {kind} outside {NAMESPACE}"),
            }
            (kind, s(&d["metadata"]["name"]).to_string())
        })
        .collect();
    for (kind, name) in [
        ("Namespace", "logmind"),
        ("ServiceAccount", "logmind-agent"),
        ("ClusterRole", "logmind-agent"),
        ("ClusterRoleBinding", "logmind-agent"),
        ("ConfigMap", "logmind-config"),
        ("Secret", "logmind-tokens"),
        ("StatefulSet", "logmind-indexer"),
        ("Service", "logmind-indexer"),
        ("DaemonSet", "logmind-agent"),
    ] {
        assert!(
            kinds.contains(&(kind.into(), name.into())),
            "missing {kind} {name}"
        );
    }
    for (kind, name) in [
        ("StatefulSet", "logmind-indexer"),
        ("DaemonSet", "logmind-agent"),
    ] {
        let w = find(&docs, kind, name);
        let labels = &w["spec"]["template"]["metadata"]["labels"];
        for (k, v) in w["spec"]["selector"]["matchLabels"]
            .as_hash()
            .expect("matchLabels")
        {
            assert_eq!(
                &labels[s(k)],
                v,
                "{kind} selector {k:?} does not select its pods"
            );
        }
        for c in list(&w["spec"]["template"]["spec"]["containers"]) {
            assert_eq!(s(&c["image"]), "logmind:latest");
        }
    }
    assert!(compose()["services"]["logmind"].as_hash().is_some());
}

#[test]
fn kustomization_lists_every_manifest_but_the_example_secret() {
    let dir = deploy_dir().join("kubernetes");
    let k = &load(&dir.join("kustomization.yaml"))[0];
    let listed: BTreeSet<String> = list(&k["resources"]).iter().map(|r| s(r).into()).collect();
    let files: BTreeSet<String> = k8s_docs()
        .into_iter()
        .map(|(f, _)| f)
        .filter(|f| f != "kustomization.yaml" && f != "secret.example.yaml")
        .collect();
    assert_eq!(listed, files);
}

#[test]
fn every_container_flag_exists_in_the_binary() {
    let docs = k8s_docs();
    let indexer = args(container(
        find(&docs, "StatefulSet", "logmind-indexer"),
        "indexer",
    ));
    let agent = args(container(
        find(&docs, "DaemonSet", "logmind-agent"),
        "agent",
    ));
    assert_eq!(indexer[0], "indexer");
    assert_eq!(agent[0], "agent");
    assert_flags_exist(&indexer);
    assert_flags_exist(&agent);
    let up = strings(&compose()["services"]["logmind"]["command"]);
    assert_eq!(up[0], "up");
    assert_flags_exist(&up);
}

#[test]
fn configmap_passes_config_check_with_and_without_the_secret() {
    let docs = k8s_docs();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("logmind.toml");
    std::fs::write(&file, configmap_toml(&docs)).unwrap();
    let path = file.to_str().unwrap();

    let out = run(&["config", "check", path], &[]);
    assert!(
        out.status.success(),
        "logmind config check failed on the ConfigMap:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let indexer = container(find(&docs, "StatefulSet", "logmind-indexer"), "indexer");
    let agent = container(find(&docs, "DaemonSet", "logmind-agent"), "agent");
    for c in [indexer, agent] {
        let env = token_env(&docs, c);
        assert!(env.iter().any(|(k, _)| k == "LOGMIND_AUTH_INGEST_TOKENS"));
        let out = run(&["config", "check", path], &env);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for (k, v) in &env {
            assert!(
                stdout.contains(&format!("<redacted: env {k}>")),
                "{k} is not a token variable:\n{stdout}"
            );
            assert!(!stdout.contains(v.as_str()), "token printed");
        }
    }
}

#[test]
fn ports_agree_between_containers_services_probes_and_config() {
    let docs = k8s_docs();
    let cfg: toml::Table = configmap_toml(&docs).parse().unwrap();
    assert_eq!(
        port_of_addr(cfg["indexer"]["listen"].as_str().unwrap()),
        INDEXER_PORT
    );
    assert_eq!(
        port_of_addr(cfg["agent"]["listen"].as_str().unwrap()),
        AGENT_PORT
    );

    let sts = find(&docs, "StatefulSet", "logmind-indexer");
    let indexer = container(sts, "indexer");
    let agent = container(find(&docs, "DaemonSet", "logmind-agent"), "agent");
    for (c, port, probes) in [
        (
            indexer,
            INDEXER_PORT,
            &["startupProbe", "livenessProbe", "readinessProbe"][..],
        ),
        (agent, AGENT_PORT, &["livenessProbe", "readinessProbe"][..]),
    ] {
        let ports: Vec<i64> = list(&c["ports"])
            .iter()
            .map(|p| p["containerPort"].as_i64().unwrap())
            .collect();
        assert_eq!(ports, vec![port]);
        assert_eq!(
            port_of_addr(&flag(&args(c), "listen").expect("--listen")),
            port
        );
        for p in probes {
            let get = &c[*p]["httpGet"];
            assert_eq!(resolve_port(c, &get["port"]), port, "{p}");
            assert!(["/health", "/ready"].contains(&s(&get["path"])), "{p} path");
        }
    }
    assert_eq!(s(&indexer["readinessProbe"]["httpGet"]["path"]), "/ready");

    for name in ["logmind-indexer", s(&sts["spec"]["serviceName"])] {
        let svc = find(&docs, "Service", name);
        let p = &list(&svc["spec"]["ports"])[0];
        assert_eq!(p["port"].as_i64(), Some(INDEXER_PORT), "{name}");
        assert_eq!(
            resolve_port(indexer, &p["targetPort"]),
            INDEXER_PORT,
            "{name}"
        );
        assert_eq!(
            &svc["spec"]["selector"], &sts["spec"]["selector"]["matchLabels"],
            "{name}"
        );
    }
    let server = format!("http://logmind-indexer:{INDEXER_PORT}");
    assert_eq!(
        flag(&args(agent), "server").as_deref(),
        Some(server.as_str())
    );
    assert_eq!(cfg["agent"]["server"].as_str(), Some(server.as_str()));

    // docker compose: the published port is the one `up` listens on, and Grafana's data source finds it.
    let c = compose();
    let logmind = &c["services"]["logmind"];
    let up = strings(&logmind["command"]);
    assert_eq!(
        port_of_addr(&flag(&up, "listen").expect("--listen")),
        INDEXER_PORT
    );
    assert!(list(&logmind["ports"])
        .iter()
        .any(|p| s(p).ends_with(&format!(":{INDEXER_PORT}"))));
    let ds = load(&deploy_dir().join("grafana/provisioning/datasources/logmind.yaml"));
    let url = s(&list(&ds[0]["datasources"])[0]["url"]);
    assert_eq!(
        url,
        format!("http://logmind:{INDEXER_PORT}"),
        "Grafana data source"
    );
}

#[test]
fn agent_reads_the_host_read_only_on_every_node_with_pod_read_rbac() {
    let docs = k8s_docs();
    let ds = find(&docs, "DaemonSet", "logmind-agent");
    let pod = &ds["spec"]["template"]["spec"];
    let c = container(ds, "agent");
    let a = args(c);
    assert!(list(&pod["tolerations"])
        .iter()
        .any(|t| t["operator"].as_str() == Some("Exists") && t["key"].is_badvalue()));

    let volume = |name: &str| {
        list(&pod["volumes"])
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("volumeMount {name} has no volume"))
            .clone()
    };
    let mount = |path: &str| {
        list(&c["volumeMounts"])
            .iter()
            .find(|m| m["mountPath"].as_str() == Some(path))
            .unwrap_or_else(|| panic!("nothing mounted at {path}"))
            .clone()
    };
    let host_root = flag(&a, "host-root").expect("--host-root");
    assert_eq!(host_root, "/host");
    for host_path in ["/var/log/pods", "/var/lib/docker/containers"] {
        let m = mount(&format!("{host_root}{host_path}"));
        assert_eq!(
            m["readOnly"].as_bool(),
            Some(true),
            "{host_path} must be read-only"
        );
        assert_eq!(s(&volume(s(&m["name"]))["hostPath"]["path"]), host_path);
    }
    let data = mount(&flag(&a, "data-dir").expect("--data-dir"));
    assert!(
        volume(s(&data["name"]))["hostPath"]["path"]
            .as_str()
            .is_some(),
        "the spool survives the pod"
    );
    let config = flag(&a, "config").expect("--config");
    let cm = mount(Path::new(&config).parent().unwrap().to_str().unwrap());
    assert_eq!(
        s(&volume(s(&cm["name"]))["configMap"]["name"]),
        "logmind-config"
    );

    assert_eq!(flag(&a, "node-name").as_deref(), Some("$(NODE_NAME)"));
    let node = list(&c["env"])
        .iter()
        .find(|e| e["name"].as_str() == Some("NODE_NAME"))
        .expect("NODE_NAME");
    assert_eq!(
        s(&node["valueFrom"]["fieldRef"]["fieldPath"]),
        "spec.nodeName"
    );

    let sa = s(&pod["serviceAccountName"]);
    find(&docs, "ServiceAccount", sa);
    let binding = find(&docs, "ClusterRoleBinding", "logmind-agent");
    let subject = &list(&binding["subjects"])[0];
    assert_eq!(
        (s(&subject["name"]), s(&subject["namespace"])),
        (sa, NAMESPACE)
    );
    let role = find(&docs, "ClusterRole", s(&binding["roleRef"]["name"]));
    let rule = list(&role["rules"])
        .iter()
        .find(|r| list(&r["resources"]).contains(&Yaml::String("pods".into())))
        .expect("pods rule");
    let verbs: BTreeSet<&str> = list(&rule["verbs"]).iter().map(s).collect();
    assert_eq!(verbs, BTreeSet::from(["get", "list", "watch"]));
}

#[test]
fn resources_fit_the_memory_targets_and_the_volume_fits_retention() {
    let docs = k8s_docs();
    let sts = find(&docs, "StatefulSet", "logmind-indexer");
    let res = |c: &Yaml, k: &str| bytes(s(&c["resources"][k]["memory"]));
    let agent = container(find(&docs, "DaemonSet", "logmind-agent"), "agent");
    assert!(res(agent, "limits") <= 128 << 20 && res(agent, "requests") <= res(agent, "limits"));
    let indexer = container(sts, "indexer");
    assert!((1 << 30..=2 << 30).contains(&res(indexer, "limits")));
    assert!(res(indexer, "requests") <= res(indexer, "limits"));

    let cfg: toml::Table = configmap_toml(&docs).parse().unwrap();
    let cap = bytes(
        cfg["indexer"]["retention"]["max_disk_bytes"]
            .as_str()
            .expect("a disk cap"),
    );
    let pvc = &list(&sts["spec"]["volumeClaimTemplates"])[0];
    assert!(
        cap < bytes(s(&pvc["spec"]["resources"]["requests"]["storage"])),
        "disk cap below the PVC size"
    );
}

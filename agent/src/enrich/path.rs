//! Where a log file came from, read off its path alone (pure, no I/O), and the workload name derived from a
//! pod name.
//!
//! Kubernetes (kubelet, CRI): `<root>/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log`, rotated to
//! `<restart>.log.<YYYYMMDD-hhmmss>` and later `<restart>.log.<YYYYMMDD-hhmmss>.gz`.
//! Docker json-file: `<root>/var/lib/docker/containers/<id>/<id>-json.log`, rotated to `-json.log.<N>` and
//! optionally `.gz`. Any host-root prefix is accepted: only the last three (Kubernetes) or two (Docker) path
//! components are looked at, and each is validated strictly, so an unrelated path yields `None`.

use std::path::Path;

/// Where a log file came from, as far as its path tells.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A kubelet-managed pod log.
    Kubernetes {
        /// Pod namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// Pod uid (for static pods: the kubelet's config hash, which the mirror pod carries as an annotation).
        uid: String,
        /// Container name.
        container: String,
        /// Container restart count (the `N` of `N.log`).
        restart: u32,
    },
    /// A Docker json-file container log.
    Docker {
        /// The 64-hex container id.
        container_id: String,
    },
}

/// Parses a Kubernetes or Docker log path (any prefix); `None` when it is neither layout.
pub fn origin_from_path(path: &Path) -> Option<Origin> {
    let file = path.file_name()?.to_str()?;
    let dir = path.parent()?;
    let dir_name = dir.file_name()?.to_str()?;
    if let Some(origin) = docker_origin(dir_name, file) {
        return Some(origin);
    }
    let pod_dir = dir.parent()?.file_name()?.to_str()?;
    kubernetes_origin(pod_dir, dir_name, file)
}

fn docker_origin(dir_name: &str, file: &str) -> Option<Origin> {
    if !is_docker_id(dir_name) {
        return None;
    }
    let rest = file.strip_prefix(dir_name)?.strip_prefix("-json.log")?;
    let rest = rest.strip_suffix(".gz").unwrap_or(rest);
    if !rest.is_empty() {
        let n = rest.strip_prefix('.')?;
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    Some(Origin::Docker {
        container_id: dir_name.to_owned(),
    })
}

fn kubernetes_origin(pod_dir: &str, container: &str, file: &str) -> Option<Origin> {
    // `<ns>_<pod>_<uid>`: neither a namespace nor a pod name may contain '_', so exactly two separators.
    let mut parts = pod_dir.split('_');
    let (namespace, pod, uid) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !is_dns_label(namespace) || !is_dns_subdomain(pod) || !is_uid(uid)
    {
        return None;
    }
    if !is_dns_label(container) {
        return None;
    }
    let restart = parse_restart_file(file)?;
    Some(Origin::Kubernetes {
        namespace: namespace.to_owned(),
        pod: pod.to_owned(),
        uid: uid.to_owned(),
        container: container.to_owned(),
        restart,
    })
}

/// `<restart>.log[.<ts>][.gz]` → restart count.
fn parse_restart_file(file: &str) -> Option<u32> {
    let (digits, rest) = file.split_once(".log")?;
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let restart: u32 = digits.parse().ok()?;
    let rest = rest.strip_suffix(".gz").unwrap_or(rest);
    if !rest.is_empty() {
        // kubelet's rotation timestamp, `20240102-150405`; accept digits and '-' only.
        let ts = rest.strip_prefix('.')?;
        if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            return None;
        }
    }
    Some(restart)
}

fn is_docker_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// RFC 1123 label: lowercase alphanumerics and '-', starting and ending alphanumeric, at most 63 bytes.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1123 subdomain: dot-separated labels, at most 253 bytes.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Pod uids are UUIDs; static pods use a hex config hash. Accept alphanumerics and '-'.
fn is_uid(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The alphabet of Kubernetes' generated name suffixes and pod-template hashes (`rand.SafeEncodeString`:
/// no vowels, no `0`, `1`, `3`, so that generated strings never spell words).
fn is_safe_alphabet(s: &str) -> bool {
    s.bytes()
        .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
}

fn is_lower_alnum(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A ReplicaSet pod-template hash (6–10 generated chars) or a CronJob's scheduled time in minutes (digits).
fn is_controller_hash(s: &str) -> bool {
    if s.len() >= 6 && is_digits(s) {
        return true;
    }
    // Generated hashes may lack digits (`bcdfghjkl`); other alphanumerics need one so words are not hashes.
    (6..=10).contains(&s.len())
        && is_lower_alnum(s)
        && (is_safe_alphabet(s) || s.bytes().any(|b| b.is_ascii_digit()))
}

/// Workload name from a pod name: strips what the controllers append.
///
/// `backend-7d9f8c6b5-x2x4z` → `backend` (Deployment: ReplicaSet hash + random suffix),
/// `report-28391234-abcde` → `report` (CronJob: scheduled time + random suffix), `db-0` → `db` (StatefulSet
/// ordinal), `fluent-x2x4z` → `fluent` (DaemonSet/Job random suffix, recognised only in Kubernetes' vowel-free
/// alphabet so that `web-nginx` stays whole). Anything else is returned unchanged.
pub fn workload_name(pod: &str) -> &str {
    let segments: Vec<&str> = pod.split('-').collect();
    let n = segments.len();
    let keep = if n >= 3
        && segments[n - 1].len() == 5
        && is_lower_alnum(segments[n - 1])
        && is_controller_hash(segments[n - 2])
    {
        n - 2
    } else if n >= 2
        && (is_digits(segments[n - 1])
            || (segments[n - 1].len() == 5 && is_safe_alphabet(segments[n - 1])))
    {
        // StatefulSet ordinal, or a DaemonSet/Job generated suffix.
        n - 1
    } else {
        n
    };
    let len = segments[..keep].iter().map(|s| s.len()).sum::<usize>() + keep.saturating_sub(1);
    let name = &pod[..len.min(pod.len())];
    if name.is_empty() {
        pod
    } else {
        name
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::PathBuf;

    const UID: &str = "8f3b2c1a-9d4e-4f6a-b7c8-1234567890ab";
    const DOCKER_ID: &str = "3f4e9a1b2c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7";

    fn k8s(ns: &str, pod: &str, container: &str, restart: u32) -> Option<Origin> {
        Some(Origin::Kubernetes {
            namespace: ns.into(),
            pod: pod.into(),
            uid: UID.into(),
            container: container.into(),
            restart,
        })
    }

    #[test]
    fn kubernetes_paths_with_every_rotation_suffix_and_prefix() {
        let dir = format!("var/log/pods/shop_backend-7d9f8c6b5-x2x4z_{UID}/app");
        for prefix in ["/", "/host/", "/tmp/.tmpAbC/root/", ""] {
            for (file, restart) in [
                ("0.log", 0),
                ("3.log", 3),
                ("0.log.20240102-150405", 0),
                ("12.log.20240102-150405.gz", 12),
                ("1.log.gz", 1),
            ] {
                let path = PathBuf::from(format!("{prefix}{dir}/{file}"));
                assert_eq!(
                    origin_from_path(&path),
                    k8s("shop", "backend-7d9f8c6b5-x2x4z", "app", restart),
                    "{}",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn pod_names_with_dots_and_static_pod_hash_uids() {
        let path = Path::new(
            "/var/log/pods/kube-system_kube-apiserver-node1.example_0f1e2d3c4b5a69788796a5b4c3d2e1f0/kube-apiserver/2.log",
        );
        assert_eq!(
            origin_from_path(path),
            Some(Origin::Kubernetes {
                namespace: "kube-system".into(),
                pod: "kube-apiserver-node1.example".into(),
                uid: "0f1e2d3c4b5a69788796a5b4c3d2e1f0".into(),
                container: "kube-apiserver".into(),
                restart: 2,
            })
        );
    }

    #[test]
    fn docker_paths_with_rotation_suffixes() {
        for file in [
            "-json.log",
            "-json.log.1",
            "-json.log.12",
            "-json.log.2.gz",
            "-json.log.gz",
        ] {
            let path = PathBuf::from(format!(
                "/host/var/lib/docker/containers/{DOCKER_ID}/{DOCKER_ID}{file}"
            ));
            assert_eq!(
                origin_from_path(&path),
                Some(Origin::Docker {
                    container_id: DOCKER_ID.into()
                }),
                "{}",
                path.display()
            );
        }
    }

    #[test]
    fn invalid_paths_are_none() {
        let other_id = DOCKER_ID.replace('3', "4");
        let cases = [
            String::new(),
            "/".into(),
            "0.log".into(),
            "/var/log/pods/0.log".into(),
            format!("/var/log/pods/shop_backend_{UID}/app/x.log"),
            format!("/var/log/pods/shop_backend_{UID}/app/0.log.tmp"),
            format!("/var/log/pods/shop_backend_{UID}/app/0.log.20240102-150405.gz.tmp"),
            format!("/var/log/pods/shop_backend_{UID}/app/0.txt"),
            format!("/var/log/pods/shop_backend_{UID}/app/.log"),
            format!("/var/log/pods/shop_backend_{UID}/app/99999999999.log"),
            format!("/var/log/pods/shop_backend_{UID}/App/0.log"),
            format!("/var/log/pods/Shop_backend_{UID}/app/0.log"),
            format!("/var/log/pods/shop_backend_{UID}_x/app/0.log"),
            "/var/log/pods/shop_backend/app/0.log".into(),
            "/var/log/pods/shop__uid/app/0.log".into(),
            format!("/var/log/pods/shop_backend_{UID}/0.log"),
            format!("/var/lib/docker/containers/{DOCKER_ID}/{other_id}-json.log"),
            format!("/var/lib/docker/containers/{DOCKER_ID}/{DOCKER_ID}-json.log.x"),
            format!("/var/lib/docker/containers/{DOCKER_ID}/{DOCKER_ID}-json.log."),
            format!("/var/lib/docker/containers/{DOCKER_ID}/config.v2.json"),
            "/var/lib/docker/containers/abc/abc-json.log".into(),
        ];
        for case in cases {
            assert_eq!(origin_from_path(Path::new(&case)), None, "{case}");
        }
    }

    #[test]
    fn workload_names() {
        let table = [
            ("backend-7d9f8c6b5-x2x4z", "backend"),
            ("checkout-api-5c8d7f6b49-q7w2k", "checkout-api"),
            ("db-0", "db"),
            ("kafka-broker-12", "kafka-broker"),
            ("fluent-x2x4z", "fluent"),
            ("fluent-bit-2hq5v", "fluent-bit"),
            ("report-28391234-abcde", "report"),
            ("nightly-report-28391234-z9k2m", "nightly-report"),
            ("migrate-x7k2p", "migrate"),
            ("api-bcdfghjkl-x2x4z", "api"),
            ("web-frontend-x2x4z", "web-frontend"),
            ("web-frontend-abcde", "web-frontend-abcde"),
            ("web-nginx", "web-nginx"),
            ("my-redis", "my-redis"),
            ("nginx", "nginx"),
            ("kube-apiserver-node1", "kube-apiserver-node1"),
            ("0", "0"),
            ("-0", "-0"),
            ("", ""),
        ];
        for (pod, want) in table {
            assert_eq!(workload_name(pod), want, "{pod}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_paths_never_panic(s in "\\PC{0,200}") {
            let _ = origin_from_path(Path::new(&s));
            let _ = workload_name(&s);
        }

        #[test]
        fn path_like_strings_never_panic(
            parts in proptest::collection::vec("[a-z0-9_.-]{0,20}", 0..6),
            file in "[0-9]{0,3}(\\.log)?(\\.[0-9-]{0,16})?(\\.gz)?",
        ) {
            let path = format!("/{}/{}", parts.join("/"), file);
            if let Some(Origin::Kubernetes { namespace, pod, container, .. }) = origin_from_path(Path::new(&path)) {
                let pod_dir = format!("{namespace}_{pod}_");
                let container_dir = format!("/{container}/");
                prop_assert!(path.contains(&pod_dir));
                prop_assert!(path.contains(&container_dir));
            }
        }

        #[test]
        fn deployment_and_statefulset_pod_names_give_back_the_workload(
            app in "[a-z][a-z0-9]{0,10}(-[a-z0-9]{1,10}){0,3}",
            hash in "[bcdfghjklmnpqrstvwxz2456789]{6,10}",
            suffix in "[bcdfghjklmnpqrstvwxz2456789]{5}",
            ordinal in 0u32..1000,
        ) {
            let deployment_pod = format!("{app}-{hash}-{suffix}");
            prop_assert_eq!(workload_name(&deployment_pod), app.as_str());
            let statefulset_pod = format!("{app}-{ordinal}");
            prop_assert_eq!(workload_name(&statefulset_pod), app.as_str());
        }

        #[test]
        fn workload_name_is_a_prefix_of_the_pod_name(pod in "[a-z0-9-]{0,40}") {
            let name = workload_name(&pod);
            prop_assert!(pod.starts_with(name));
            prop_assert!(!name.is_empty() || pod.is_empty());
        }
    }
}

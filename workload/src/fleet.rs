//! The simulated fleet: which services exist, how they log, where their containers live, and how
//! requests travel between them.
//!
//! Kubernetes (`Formats::Kubernetes`): namespaces `shop-prod` (gateway, backend ×2, worker, inventory),
//! `payments-prod` (payments) and `platform` (auth). Docker (`Formats::Docker`): compose project `shop`
//! (storefront, cart) and two plain containers (`nginx-edge`, `legacy-billing`, namespace `docker`).

use crate::rng::Rng;
use crate::Formats;
use serde_json::json;

/// How a service writes its log lines (see the crate docs for the exact shapes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// One JSON object per line.
    Json,
    /// logfmt `key=value` pairs.
    Logfmt,
    /// nginx-style access log (plain text; level empty).
    Access,
    /// Free text starting with the level word: `ERROR request_id: … user_id: … <verb>: <reason>`.
    Text,
}

/// The multi-line events a service occasionally writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trace {
    /// None.
    None,
    /// Python tracebacks.
    Python,
    /// Java stack traces.
    Java,
    /// Go panics (followed by a container restart on Kubernetes).
    GoPanic,
}

/// Which runtime a container belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// CRI log files under `var/log/pods`.
    Kubernetes,
    /// Docker json-file logs under `var/lib/docker/containers`.
    Docker,
}

/// One service (an app), possibly with several replicas.
#[derive(Debug, Clone)]
pub struct Service {
    /// Runtime it runs on.
    pub runtime: Runtime,
    /// Namespace as the agent must report it (compose project or `docker` for Docker).
    pub namespace: &'static str,
    /// App name as the agent must report it.
    pub app: &'static str,
    /// Log line style.
    pub style: Style,
    /// Multi-line events it writes.
    pub trace: Trace,
    /// For [`Style::Text`]: the phrase before an error reason (`payment failed`).
    pub verb: &'static str,
    /// Container name (Kubernetes) or container name without the leading `/` (Docker).
    pub container: &'static str,
    /// Image reference.
    pub image: &'static str,
    /// Pod label key carrying the app name (Kubernetes), or whether compose labels exist (Docker:
    /// non-empty means compose).
    pub label: &'static str,
    /// Number of replicas (pods or containers).
    pub replicas: usize,
    /// Relative weight of background (non-request) events.
    pub weight: u32,
}

// A row constructor for the fleet table below: positional on purpose, one line per service.
#[allow(clippy::too_many_arguments)]
const fn svc(
    runtime: Runtime,
    namespace: &'static str,
    app: &'static str,
    style: Style,
    trace: Trace,
    verb: &'static str,
    container: &'static str,
    image: &'static str,
    label: &'static str,
    replicas: usize,
    weight: u32,
) -> Service {
    Service {
        runtime,
        namespace,
        app,
        style,
        trace,
        verb,
        container,
        image,
        label,
        replicas,
        weight,
    }
}

use Runtime::{Docker, Kubernetes};
use Style::{Access, Json, Logfmt, Text};

const APP_LABEL: &str = "app.kubernetes.io/name";

/// Every service the generator knows, in a fixed order.
#[rustfmt::skip]
pub fn all_services() -> Vec<Service> {
    vec![
        svc(Kubernetes, "shop-prod", "gateway", Access, Trace::None, "", "nginx", "nginx:1.25.3", APP_LABEL, 1, 3),
        svc(Kubernetes, "shop-prod", "backend", Json, Trace::None, "", "backend", "registry.example.com/shop/backend:1.14.2", APP_LABEL, 2, 5),
        svc(Kubernetes, "shop-prod", "worker", Logfmt, Trace::None, "", "worker", "registry.example.com/shop/worker:1.14.2", APP_LABEL, 1, 3),
        svc(Kubernetes, "shop-prod", "inventory", Logfmt, Trace::GoPanic, "", "inventory", "registry.example.com/shop/inventory:0.9.1", APP_LABEL, 1, 2),
        svc(Kubernetes, "payments-prod", "payments", Text, Trace::Java, "payment failed", "payments", "registry.example.com/payments/payments:3.2.0", APP_LABEL, 1, 3),
        svc(Kubernetes, "platform", "auth", Text, Trace::Python, "login failed", "auth", "registry.example.com/platform/auth:2.0.7", "app", 1, 2),
        svc(Docker, "shop", "storefront", Json, Trace::None, "", "storefront", "registry.example.com/shop/storefront:5.1.0", "compose", 1, 4),
        svc(Docker, "shop", "cart", Logfmt, Trace::None, "", "cart", "registry.example.com/shop/cart:5.1.0", "compose", 1, 3),
        svc(Docker, "docker", "nginx-edge", Access, Trace::None, "", "nginx-edge", "nginx:1.25.3", "", 1, 2),
        svc(Docker, "docker", "legacy-billing", Text, Trace::Java, "charge failed", "legacy-billing", "registry.example.com/billing/legacy:7.4", "", 1, 2),
    ]
}

/// A request path: inner hops in order, then (optionally) the edge proxy's access-log line last.
#[derive(Debug, Clone)]
pub struct Route {
    /// Apps called one after the other.
    pub hops: &'static [&'static str],
    /// Edge proxy app logging the request when it completes.
    pub edge: Option<&'static str>,
}

/// The request routes, by runtime; each crosses 2–4 services.
pub fn routes(runtime: Runtime) -> Vec<Route> {
    match runtime {
        Kubernetes => vec![
            Route {
                hops: &["backend", "payments", "worker"],
                edge: Some("gateway"),
            },
            Route {
                hops: &["backend", "inventory"],
                edge: Some("gateway"),
            },
            Route {
                hops: &["auth", "backend"],
                edge: Some("gateway"),
            },
            Route {
                hops: &["backend"],
                edge: Some("gateway"),
            },
            Route {
                hops: &["worker", "payments"],
                edge: None,
            },
        ],
        Docker => vec![
            Route {
                hops: &["storefront", "cart"],
                edge: Some("nginx-edge"),
            },
            Route {
                hops: &["storefront", "legacy-billing"],
                edge: Some("nginx-edge"),
            },
            Route {
                hops: &["cart", "legacy-billing"],
                edge: None,
            },
        ],
    }
}

/// One running container (a replica of a service).
#[derive(Debug, Clone)]
pub struct Container {
    /// Index into the service list.
    pub service: usize,
    /// Pod name (Kubernetes) or empty.
    pub pod: String,
    /// Pod UID (Kubernetes) or empty.
    pub pod_uid: String,
    /// Container id: 64 hex digits (Docker id, or the containerd id of restart 0).
    pub id: String,
    /// Docker container name (no leading `/`) or empty.
    pub docker_name: String,
    /// Pod template hash (Kubernetes).
    pub template_hash: String,
}

const K8S_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Instantiates the containers of every service enabled by `formats`, deterministically from `rng`.
pub fn containers(services: &[Service], formats: Formats, rng: &mut Rng) -> Vec<Container> {
    let mut out = Vec::new();
    for (i, s) in services.iter().enumerate() {
        let enabled = match s.runtime {
            Kubernetes => formats != Formats::Docker,
            Docker => formats != Formats::Kubernetes,
        };
        if !enabled {
            continue;
        }
        let mut hash = String::new();
        rng.push_from(&mut hash, K8S_ALPHABET, 9);
        for r in 0..s.replicas {
            let mut id = String::new();
            rng.push_hex(&mut id, 64);
            let (pod, pod_uid, docker_name) = match s.runtime {
                Kubernetes => {
                    let mut pod = format!("{}-{}-", s.app, hash);
                    rng.push_from(&mut pod, K8S_ALPHABET, 5);
                    (pod, rng.uuid(), String::new())
                }
                Docker if !s.label.is_empty() => (
                    String::new(),
                    String::new(),
                    format!("{}-{}-{}", s.namespace, s.app, r + 1),
                ),
                Docker => (String::new(), String::new(), s.container.to_string()),
            };
            out.push(Container {
                service: i,
                pod,
                pod_uid,
                id,
                docker_name,
                template_hash: hash.clone(),
            });
        }
    }
    out
}

/// The Kubernetes `PodList` (as `GET /api/v1/pods` returns it) for the Kubernetes containers.
pub fn pod_list(
    services: &[Service],
    containers: &[Container],
    restarts: &[u32],
    node: &str,
    created: &str,
) -> serde_json::Value {
    let items: Vec<serde_json::Value> = containers
        .iter()
        .enumerate()
        .filter(|(_, c)| services[c.service].runtime == Kubernetes)
        .map(|(i, c)| {
            let s = &services[c.service];
            let mut labels = serde_json::Map::new();
            labels.insert(s.label.to_string(), json!(s.app));
            labels.insert("pod-template-hash".into(), json!(c.template_hash));
            json!({
                "metadata": {
                    "name": c.pod,
                    "generateName": format!("{}-{}-", s.app, c.template_hash),
                    "namespace": s.namespace,
                    "uid": c.pod_uid,
                    "creationTimestamp": created,
                    "labels": labels,
                    "ownerReferences": [{
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": format!("{}-{}", s.app, c.template_hash),
                        "controller": true
                    }]
                },
                "spec": {
                    "nodeName": node,
                    "containers": [{ "name": s.container, "image": s.image }]
                },
                "status": {
                    "phase": "Running",
                    "containerStatuses": [{
                        "name": s.container,
                        "image": s.image,
                        "containerID": format!("containerd://{}", c.id),
                        "restartCount": restarts.get(i).copied().unwrap_or(0),
                        "ready": true
                    }]
                }
            })
        })
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "PodList",
        "metadata": { "resourceVersion": "1" },
        "items": items
    })
}

/// Docker's `config.v2.json` for one container, in the daemon's real shape (subset of fields).
pub fn docker_config(
    s: &Service,
    c: &Container,
    root_log_path: &str,
    created: &str,
) -> serde_json::Value {
    let mut labels = serde_json::Map::new();
    if !s.label.is_empty() {
        labels.insert("com.docker.compose.project".into(), json!(s.namespace));
        labels.insert("com.docker.compose.service".into(), json!(s.app));
        labels.insert("com.docker.compose.container-number".into(), json!("1"));
        labels.insert("com.docker.compose.oneoff".into(), json!("False"));
    }
    labels.insert("maintainer".into(), json!("platform@example.com"));
    json!({
        "StreamConfig": {},
        "State": {
            "Running": true, "Paused": false, "Restarting": false, "OOMKilled": false,
            "RemovalInProgress": false, "Dead": false, "Pid": 4242, "ExitCode": 0, "Error": "",
            "StartedAt": created, "FinishedAt": "0001-01-01T00:00:00Z", "Health": null
        },
        "ID": c.id,
        "Created": created,
        "Managed": false,
        "Path": "/entrypoint.sh",
        "Args": [],
        "Config": {
            "Hostname": &c.id[..12],
            "Domainname": "",
            "User": "",
            "AttachStdin": false, "AttachStdout": true, "AttachStderr": true,
            "Tty": false, "OpenStdin": false, "StdinOnce": false,
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/entrypoint.sh"],
            "Image": s.image,
            "Volumes": null,
            "WorkingDir": "/app",
            "Entrypoint": null,
            "OnBuild": null,
            "Labels": labels
        },
        "Image": format!("sha256:{}", &c.id.chars().rev().collect::<String>()),
        "LogPath": root_log_path,
        "Name": format!("/{}", c.docker_name),
        "Driver": "overlay2",
        "OS": "linux",
        "RestartCount": 0,
        "HasBeenStartedBefore": false,
        "HasBeenManuallyStopped": false,
        "MountPoints": {},
        "AppArmorProfile": "docker-default"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_name_known_apps_and_cross_two_to_four_services() {
        let services = all_services();
        for rt in [Kubernetes, Docker] {
            for r in routes(rt) {
                let n = r.hops.len() + usize::from(r.edge.is_some());
                assert!((2..=4).contains(&n), "{r:?}");
                for app in r.hops.iter().chain(r.edge.iter()) {
                    assert!(
                        services.iter().any(|s| s.app == *app && s.runtime == rt),
                        "{app}"
                    );
                }
            }
        }
    }

    #[test]
    fn pod_names_carry_deployment_and_hash() {
        let services = all_services();
        let mut rng = Rng::new(1);
        let cs = containers(&services, Formats::Kubernetes, &mut rng);
        assert!(cs.iter().all(|c| services[c.service].runtime == Kubernetes));
        let backend: Vec<_> = cs
            .iter()
            .filter(|c| services[c.service].app == "backend")
            .collect();
        assert_eq!(backend.len(), 2);
        let parts: Vec<&str> = backend[0].pod.rsplitn(3, '-').collect();
        assert_eq!(parts[2], "backend");
        assert_eq!(parts[1].len(), 9);
        assert_eq!(parts[0].len(), 5);
        assert_ne!(backend[0].pod, backend[1].pod);
        assert_eq!(backend[0].id.len(), 64);
    }
}

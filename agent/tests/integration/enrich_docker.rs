//! Docker enrichment over real files: a `containers/<id>/` tree with `config.v2.json` (the shape Docker 24
//! writes) next to `<id>-json.log`, read through [`Enricher`] exactly as the runtime does.

use logmind_agent::enrich::{origin_from_path, DockerMetadata, Enricher, MetadataSource, Origin};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const ID: &str = "9c2d4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d";

fn config_json(name: &str, labels: &str) -> String {
    format!(
        r#"{{"StreamConfig":{{}},"State":{{"Running":true,"Paused":false,"Restarting":false,"OOMKilled":false,"Dead":false,"Pid":911,"ExitCode":0,"Error":"","StartedAt":"2024-05-01T10:00:00.1Z","FinishedAt":"0001-01-01T00:00:00Z","Health":null}},"ID":"{ID}","Created":"2024-05-01T09:59:59.9Z","Managed":false,"Path":"python","Args":["app.py"],"Config":{{"Hostname":"9c2d4e6f8a0b","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/local/bin:/usr/bin:/bin"],"Cmd":["python","app.py"],"Image":"shop/api:2.1","Volumes":null,"WorkingDir":"/app","Entrypoint":null,"OnBuild":null,"Labels":{labels}}},"Image":"sha256:5f1e","NetworkSettings":{{"Bridge":"","Networks":{{}}}},"LogPath":"/var/lib/docker/containers/{ID}/{ID}-json.log","Name":"{name}","Driver":"overlay2","OS":"linux","RestartCount":1,"HasBeenStartedBefore":true,"HasBeenManuallyStopped":false,"MountPoints":{{}},"AppArmorProfile":"docker-default"}}"#
    )
}

const COMPOSE: &str = r#"{"com.docker.compose.project":"shop","com.docker.compose.service":"api","com.docker.compose.container-number":"1","com.docker.compose.oneoff":"False"}"#;

/// `<root>/var/lib/docker/containers/<ID>/` with an (empty) rotated and a live log file.
fn layout(root: &Path) -> (PathBuf, PathBuf) {
    let dir = root.join("var/lib/docker/containers").join(ID);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join(format!("{ID}-json.log"));
    std::fs::write(&log, b"").unwrap();
    (dir, log)
}

fn write_config(dir: &Path, body: &str, mtime: SystemTime) {
    let path = dir.join("config.v2.json");
    std::fs::write(&path, body).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

#[test]
fn compose_labels_cache_and_reread_on_change() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, log) = layout(tmp.path());
    let enricher = Enricher::new(None, "node-a".into());
    let origin = origin_from_path(&log).unwrap();
    assert_eq!(
        origin,
        Origin::Docker {
            container_id: ID.into()
        }
    );

    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    write_config(&dir, &config_json("/shop-api-1", COMPOSE), t0);
    let meta = enricher.meta_for(&log, &origin).unwrap();
    assert_eq!(
        (meta.namespace.as_str(), meta.app.as_str()),
        ("shop", "api")
    );
    assert_eq!(
        (meta.container.as_str(), meta.container_id.as_str()),
        ("shop-api-1", ID)
    );
    assert_eq!((meta.restart, meta.node.as_str()), (1, "node-a"));

    // Unchanged file: served from the cache.
    let rotated = dir.join(format!("{ID}-json.log.1"));
    assert_eq!(
        enricher.meta_for(&rotated, &origin_from_path(&rotated).unwrap()),
        Some(meta)
    );
    let stats = enricher.stats();
    assert_eq!((stats.docker_configs_read, stats.docker_cache_hits), (1, 1));

    // Renamed and taken out of compose: mtime changes, the file is re-read.
    write_config(
        &dir,
        &config_json("/api-debug", r#"{"maintainer":"x"}"#),
        t0 + Duration::from_secs(60),
    );
    let meta = enricher.meta_for(&log, &origin).unwrap();
    assert_eq!(
        (meta.namespace.as_str(), meta.app.as_str()),
        ("docker", "api-debug")
    );
    assert_eq!(meta.container, "api-debug");
    assert_eq!(enricher.stats().docker_configs_read, 2);
}

#[test]
fn missing_and_garbage_configs_fall_back_and_are_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, log) = layout(tmp.path());
    let enricher = Enricher::new(None, "node-a".into());
    let origin = origin_from_path(&log).unwrap();

    let meta = enricher.meta_for(&log, &origin).unwrap();
    assert_eq!(
        (meta.namespace.as_str(), meta.app.as_str()),
        ("docker", &ID[..12])
    );
    assert_eq!(meta.container_id, ID);
    assert_eq!(enricher.stats().docker_configs_missing, 1);

    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    write_config(&dir, "{\"ID\": \"trunc", t0);
    let meta = enricher.meta_for(&log, &origin).unwrap();
    assert_eq!(
        (meta.namespace.as_str(), meta.app.as_str()),
        ("docker", &ID[..12])
    );
    // The invalid file is not re-parsed while unchanged.
    enricher.meta_for(&log, &origin).unwrap();
    let stats = enricher.stats();
    assert_eq!(
        (stats.docker_configs_invalid, stats.docker_cache_hits),
        (1, 1)
    );

    // Docker finishes writing it: picked up.
    write_config(
        &dir,
        &config_json("/shop-api-1", COMPOSE),
        t0 + Duration::from_secs(1),
    );
    assert_eq!(enricher.meta_for(&log, &origin).unwrap().app, "api");
}

#[test]
fn metadata_source_with_a_containers_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _log) = layout(tmp.path());
    write_config(
        &dir,
        &config_json("/shop-api-1", COMPOSE),
        SystemTime::now(),
    );
    let docker = DockerMetadata::new("node-b")
        .with_containers_dir(tmp.path().join("var/lib/docker/containers"));
    let meta = docker
        .get(&Origin::Docker {
            container_id: ID.into(),
        })
        .unwrap();
    assert_eq!(
        (
            meta.namespace.as_str(),
            meta.app.as_str(),
            meta.node.as_str()
        ),
        ("shop", "api", "node-b")
    );
    assert_eq!(docker.stats().configs_read.load(Ordering::Relaxed), 1);
    let k8s = Origin::Kubernetes {
        namespace: "a".into(),
        pod: "b".into(),
        uid: "c".into(),
        container: "d".into(),
        restart: 0,
    };
    assert_eq!(docker.get(&k8s), None);
}

#[tokio::test]
async fn resolve_reads_docker_configs_off_the_reactor() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, log) = layout(tmp.path());
    write_config(
        &dir,
        &config_json("/shop-api-1", COMPOSE),
        SystemTime::now(),
    );
    let enricher = Arc::new(Enricher::new(None, "node-a".into()));
    let origin = origin_from_path(&log).unwrap();
    let meta = enricher
        .resolve(&log, &origin, Duration::from_secs(5))
        .await;
    assert_eq!(
        (meta.namespace.as_str(), meta.app.as_str()),
        ("shop", "api")
    );
}

//! `logmind demo`: the all-in-one server (indexer + query + Loki API + agent) fed by the built-in workload
//! generator writing Kubernetes and Docker logs under a temporary host root, with rotation.

use crate::cli::DemoArgs;
use crate::commands::server::{run_up, shutdown_signal};
use anyhow::{Context, Result};
use logmind_config::{process_env, Config, Overrides};
use logmind_protocol::units::parse_duration;
use logmind_workload::{generate, GenerateOptions, Manifest};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn demo_dir(args: &DemoArgs) -> Result<PathBuf> {
    match &args.data_dir {
        Some(d) => Ok(d.clone()),
        None => {
            let base = std::env::temp_dir().join(format!("logmind-demo-{}", std::process::id()));
            Ok(base)
        }
    }
}

/// Prints what to try, with a real request id and user id from the workload once it has some.
fn print_next_steps(addr: &str, root: &Path) {
    let manifest: Option<Manifest> = std::fs::read(root.join("manifest.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let (request, user) = manifest
        .as_ref()
        .map(|m| {
            (
                m.requests
                    .first()
                    .map(|r| r.request_id.clone())
                    .unwrap_or_else(|| "REQUEST_ID".into()),
                m.users
                    .keys()
                    .next()
                    .cloned()
                    .unwrap_or_else(|| "USER_ID".into()),
            )
        })
        .unwrap_or_else(|| ("REQUEST_ID".into(), "USER_ID".into()));
    let server = if addr == "127.0.0.1:3100" {
        String::new()
    } else {
        format!(" --server http://{addr}")
    };
    let tries: [(String, &str); 8] = [
        (format!("logmind errors --since 15m{server}"), "top error groups"),
        (format!("logmind count --since 15m --by app{server}"), "errors over time, by app"),
        (format!("logmind trace {request}{server}"), "one request across services"),
        (format!("logmind user {user}{server}"), "one user's activity"),
        (format!("logmind search 'payment failed' --since 15m{server}"), "full-text search"),
        (format!("logmind tail --level error{server}"), "follow live"),
        (
            format!(
                "logmind query 'sum by (app) (count_over_time({{namespace=~\".+\"}} | level=\"error\" [1m]))'{server}"
            ),
            "LogQL",
        ),
        (format!("curl -s http://{addr}/loki/api/v1/labels"), "the Loki API Grafana uses"),
    ];
    let width = tries.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
    println!("\nlogmind demo is running: an agent tails a generated Kubernetes + Docker fleet into the indexer.\n");
    println!("  API and Grafana Loki data source URL:  http://{addr}");
    println!(
        "  host root (generated logs):           {}\n",
        root.display()
    );
    println!("Try, in another terminal:\n");
    for (cmd, what) in &tries {
        println!("  {cmd:<width$}   # {what}");
    }
    println!("\nIn Grafana: add a Loki data source with URL http://{addr} (or use deploy/grafana/).\nCtrl-C stops.\n");
}

/// Runs the demo until Ctrl-C or `--duration`.
pub fn run(args: &DemoArgs) -> Result<()> {
    let dir = demo_dir(args)?;
    let root = dir.join("host");
    let data = dir.join("data");
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let duration = args
        .duration
        .as_deref()
        .map(|d| parse_duration(d).with_context(|| format!("--duration {d:?}")))
        .transpose()?;
    let overrides = Overrides::new()
        .with("data_dir", data.display().to_string())
        .with("indexer.listen", args.listen.to_string())
        .with("agent.host_root", root.display().to_string())
        .with("agent.kubernetes.enabled", "off");
    let cfg = Config::load(None, &process_env, &overrides).map_err(|e| anyhow::anyhow!("{e}"))?;

    // The workload: continuous, wall-clock timestamps, rotating like kubelet and Docker.
    let stop = Arc::new(AtomicBool::new(false));
    let gen_opts = GenerateOptions {
        root: root.clone(),
        rate: Some(args.rate),
        duration,
        rotate_bytes: Some(4 << 20),
        gzip: true,
        progress: false,
        ..GenerateOptions::default()
    };
    let gen_stop = stop.clone();
    let generator = std::thread::Builder::new()
        .name("workload".into())
        .spawn(move || generate(&gen_opts, Some(gen_stop)))
        .context("starting the workload thread")?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let addr = args.listen.to_string();
    let printed_root = root.clone();
    let result = rt.block_on(async move {
        let stop_after = async move {
            match duration {
                Some(d) => {
                    tokio::select! {
                        _ = shutdown_signal() => {},
                        _ = tokio::time::sleep(d + Duration::from_secs(2)) => {},
                    }
                }
                None => shutdown_signal().await,
            }
        };
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(4)).await;
            print_next_steps(&addr, &printed_root);
        });
        run_up(cfg, None, stop_after).await
    });
    stop.store(true, Ordering::SeqCst);
    match generator.join() {
        Ok(Ok(s)) => eprintln!(
            "workload wrote {} events ({:.1} MB); data kept in {}",
            s.events,
            s.bytes as f64 / 1e6,
            dir.display()
        ),
        Ok(Err(e)) => eprintln!("workload stopped with an error: {e}"),
        Err(_) => eprintln!("workload thread panicked"),
    }
    result
}

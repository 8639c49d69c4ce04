//! [`run`]: starts the reader thread, the shipper task and the HTTP endpoints, and stops them on shutdown.

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{oneshot, watch};
use tracing::{info, warn};

use crate::discover::{wake_channel, ChangeWatcher};
use crate::enrich::{Enricher, KubeMetadata};
use crate::error::AgentError;
use crate::http::{serve, HttpState};
use crate::metrics::Metrics;
use crate::options::{AgentOptions, KubeMode};
use crate::pipeline::Pipeline;
use crate::ship::{run_shipper, ShipConfig};
use crate::spool::Spool;

/// Runs the agent until `shutdown` completes (or the reader fails). Unshipped batches stay in the spool and
/// are sent at the next start.
pub async fn run(
    mut opts: AgentOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AgentError> {
    if !(opts.server.starts_with("http://") || opts.server.starts_with("https://")) {
        return Err(AgentError::Options(format!(
            "server {:?} is not an http(s) URL (expected e.g. http://127.0.0.1:3100)",
            opts.server
        )));
    }
    if opts.batch_max_bytes == 0 || opts.spool_max_bytes == 0 {
        return Err(AgentError::Options(
            "batch_max_bytes and spool_max_bytes must be > 0".into(),
        ));
    }
    if opts.node_name.is_empty() {
        opts.node_name = hostname();
    }
    if opts.agent_id.is_empty() {
        opts.agent_id = format!("agent-{}", opts.node_name);
    }
    std::fs::create_dir_all(&opts.data_dir)
        .map_err(|e| AgentError::io("creating data dir", &opts.data_dir, e))?;
    let metrics = Arc::new(Metrics::default());
    let (spool, spooled) = {
        let (dir, m) = (opts.data_dir.clone(), metrics.clone());
        tokio::task::spawn_blocking(move || Spool::open(&dir, m))
            .await
            .map_err(|e| AgentError::Internal(format!("spool open task: {e}")))??
    };
    let kube = start_kube(&opts).await?;
    let enricher = Arc::new(Enricher::new(kube, opts.node_name.clone()));
    let opts = Arc::new(opts);
    let pipeline = Pipeline::new(
        opts.clone(),
        spool.clone(),
        &spooled,
        metrics.clone(),
        enricher.clone(),
    )?;
    info!(agent = %opts.agent_id, server = %opts.server, data_dir = %opts.data_dir.display(), "agent starting");

    let stop = Arc::new(AtomicBool::new(false));
    let reader_alive = Arc::new(AtomicBool::new(true));
    let (done_tx, mut done_rx) = oneshot::channel();
    {
        let (stop, alive) = (stop.clone(), reader_alive.clone());
        let notify = opts.notify;
        std::thread::Builder::new()
            .name("logmind-reader".into())
            .spawn(move || {
                let (wake_tx, wake_rx) = wake_channel();
                let watcher = if notify {
                    ChangeWatcher::new(wake_tx, pipeline.early_opens())
                } else {
                    ChangeWatcher::polling()
                };
                let res = pipeline.run(stop, wake_rx, watcher);
                alive.store(false, Ordering::Relaxed);
                let _ = done_tx.send(res);
            })
            .map_err(|e| AgentError::Internal(format!("cannot start reader thread: {e}")))?;
    }
    let (sd_tx, sd_rx) = watch::channel(false);
    let ship_cfg = ShipConfig {
        server: opts.server.clone(),
        agent_id: opts.agent_id.clone(),
        token: opts.token.clone(),
        max_backoff: opts.retry_max_backoff,
    };
    let shipper = tokio::spawn(run_shipper(
        spool.clone(),
        ship_cfg,
        metrics.clone(),
        sd_rx.clone(),
    ));
    if let Some(addr) = opts.listen {
        let state = HttpState {
            metrics: metrics.clone(),
            enricher: enricher.clone(),
            reader_alive: reader_alive.clone(),
        };
        if let Err(e) = serve(addr, state, sd_rx.clone()).await {
            stop.store(true, Ordering::Relaxed);
            let _ = sd_tx.send(true);
            return Err(e);
        }
    }

    let early = tokio::select! {
        _ = shutdown => None,
        r = &mut done_rx => Some(r),
    };
    stop.store(true, Ordering::Relaxed);
    let reader_result = match early {
        Some(r) => r,
        None => done_rx.await,
    };
    let _ = sd_tx.send(true);
    let _ = shipper.await;
    info!("agent stopped");
    match reader_result {
        Ok(r) => r,
        Err(_) => Err(AgentError::Internal(
            "reader thread ended without a result".into(),
        )),
    }
}

async fn start_kube(opts: &AgentOptions) -> Result<Option<Arc<KubeMetadata>>, AgentError> {
    let node = opts.node_name.clone();
    let attempt = match (opts.kubernetes, &opts.kube_api_url) {
        (KubeMode::Off, _) => return Ok(None),
        (_, Some(url)) => KubeMetadata::connect(url, node).await,
        (KubeMode::On, None) => KubeMetadata::from_env(node).await,
        (KubeMode::Auto, None) => {
            if !kube_env_present() {
                info!("no kubernetes environment or kubeconfig; enriching from paths only");
                return Ok(None);
            }
            KubeMetadata::from_env(node).await
        }
    };
    match attempt {
        Ok(k) => Ok(Some(k)),
        Err(e) if opts.kubernetes == KubeMode::On => Err(AgentError::Kube(e.to_string())),
        Err(e) => {
            warn!(error = %e, "kubernetes api unavailable; enriching from paths only");
            Ok(None)
        }
    }
}

fn kube_env_present() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
        || std::env::var_os("KUBECONFIG").is_some()
        || std::env::var_os("HOME").is_some_and(|h| Path::new(&h).join(".kube/config").exists())
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

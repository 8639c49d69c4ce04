//! `logmind indexer`, `agent`, `up`: configuration → the crates' options → running services on one listener.

use crate::cli::ServerArgs;
use crate::commands::config::{load, overrides, Role};
use anyhow::{Context, Result};
use logmind_agent::{AgentOptions, KubeMode};
use logmind_config::{Config, KubernetesMode, ReadFrom};
use logmind_indexer::{AuthTokens, Indexer, IndexerOptions, RetentionPolicy};
use logmind_query::{Engine, QueryOptions};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}

fn secrets(tokens: &[logmind_config::Token]) -> Vec<String> {
    tokens
        .iter()
        .map(|t| t.secret.expose().to_string())
        .collect()
}

/// The indexer's options from the configuration.
pub fn indexer_options(cfg: &Config, data_dir: &Path) -> IndexerOptions {
    let i = &cfg.indexer;
    IndexerOptions {
        data_dir: data_dir.to_path_buf(),
        partition: i.partition.0,
        commit_interval: i.commit_interval.0,
        retention: RetentionPolicy {
            period: i.retention.period.0,
            namespaces: i
                .retention
                .namespaces
                .iter()
                .map(|(k, v)| (k.clone(), v.0))
                .collect(),
            max_disk_bytes: i.retention.max_disk_bytes.map(|b| b.0),
            check_interval: i.retention.check_interval.0,
        },
        max_body_bytes: usize::try_from(i.max_batch_bytes.0).unwrap_or(usize::MAX),
        max_decompressed_bytes: usize::try_from(i.max_decompressed_bytes.0).unwrap_or(usize::MAX),
        max_pending_bytes: i.max_pending_bytes.0,
        writer_heap_bytes: usize::try_from(i.writer_heap_bytes.0).unwrap_or(usize::MAX),
        wal_segment_bytes: i.wal_segment_bytes.0,
        ingest_tokens: secrets(&cfg.auth.ingest_tokens),
        query_tokens: secrets(&cfg.auth.query_tokens),
        admin_tokens: secrets(&cfg.auth.admin_tokens),
        ..IndexerOptions::default()
    }
}

/// The query engine's options from the configuration.
pub fn query_options(cfg: &Config) -> QueryOptions {
    let q = &cfg.query;
    QueryOptions {
        max_range: q.max_range.0,
        max_lines: usize::try_from(q.max_lines).unwrap_or(usize::MAX),
        default_limit: usize::try_from(q.default_limit).unwrap_or(usize::MAX),
        timeout: q.timeout.0,
        max_regex_bytes: usize::try_from(q.max_regex_bytes.0).unwrap_or(usize::MAX),
        max_tails: usize::try_from(q.max_tails).unwrap_or(usize::MAX),
        ..QueryOptions::default()
    }
}

/// The agent's options from the configuration.
pub fn agent_options(cfg: &Config, data_dir: &Path) -> AgentOptions {
    let a = &cfg.agent;
    let mut extract = logmind_agent::parse::ExtractOptions {
        request_id_keys: a.extract.request_id_keys.clone(),
        user_id_keys: a.extract.user_id_keys.clone(),
        trace_id_keys: a.extract.trace_id_keys.clone(),
        ..Default::default()
    };
    extract.patterns = a
        .extract
        .patterns
        .iter()
        .map(|p| p.pattern.regex().clone())
        .collect();
    AgentOptions {
        server: a.server.as_str().to_string(),
        data_dir: data_dir.to_path_buf(),
        host_root: a.host_root.clone(),
        node_name: cfg.node_name.clone(),
        agent_id: a.id.clone(),
        include: a.include_globs(),
        exclude: a.exclude.clone(),
        listen: Some(a.listen),
        read_from_end: a.read_from == ReadFrom::End,
        poll_interval: a.poll_interval.0,
        batch_max_bytes: usize::try_from(a.batch_max_bytes.0).unwrap_or(usize::MAX),
        batch_max_wait: a.batch_max_wait.0,
        spool_max_bytes: a.spool_max_bytes.0,
        max_event_bytes: usize::try_from(a.max_event_bytes.0).unwrap_or(usize::MAX),
        multiline_timeout: a.multiline_timeout.0,
        notify: a.notify,
        deleted_file_grace: a.deleted_file_grace.0,
        kubernetes: match a.kubernetes.enabled {
            KubernetesMode::Auto => KubeMode::Auto,
            KubernetesMode::On => KubeMode::On,
            KubernetesMode::Off => KubeMode::Off,
        },
        pod_wait: a.kubernetes.pod_wait.0,
        kube_api_url: None,
        extract,
        token: cfg
            .auth
            .ingest_tokens
            .first()
            .map(|t| t.secret.expose().to_string()),
        retry_max_backoff: a.retry_max_backoff.0,
    }
}

/// A running indexer + query server.
pub struct Server {
    /// The indexer.
    pub indexer: Arc<Indexer>,
    /// The address actually bound.
    pub addr: SocketAddr,
    listener: TcpListener,
    router: axum::Router,
}

impl Server {
    /// Opens the store (replaying the WAL) and binds the listener.
    pub async fn start(cfg: &Config, data_dir: &Path, listen: SocketAddr) -> Result<Server> {
        let opts = indexer_options(cfg, data_dir);
        let auth = AuthTokens {
            ingest: opts.ingest_tokens.clone(),
            query: opts.query_tokens.clone(),
            admin: opts.admin_tokens.clone(),
        };
        let indexer = Indexer::open(opts)
            .await
            .with_context(|| format!("opening the store in {}", data_dir.display()))?;
        let engine = Engine::new(indexer.store(), query_options(cfg));
        let router = indexer
            .router()
            .merge(logmind_query::router(engine.clone(), auth.clone()))
            .merge(logmind_query::loki::router(
                engine,
                auth,
                Some(indexer.clone()),
            ));
        let listener = TcpListener::bind(listen).await.with_context(|| {
            format!("listening on {listen} (is another logmind or Loki running there?)")
        })?;
        let addr = listener.local_addr().context("reading the bound address")?;
        Ok(Server {
            indexer,
            addr,
            listener,
            router,
        })
    }

    /// Serves until `shutdown` resolves, then commits and closes the store.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        tracing::info!(addr = %self.addr, "serving api, loki api and ingest");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .context("http server failed")?;
        self.indexer.shutdown().await.context("closing the store")?;
        Ok(())
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// `logmind indexer`.
pub fn indexer(args: &ServerArgs, log: Option<&str>) -> ExitCode {
    let cfg = match load(args.config.as_deref(), &overrides(args, Role::Indexer)) {
        Ok(c) => c,
        Err(code) => return code,
    };
    crate::init_tracing(log, Some(&cfg));
    crate::report(runtime().and_then(|rt| {
        rt.block_on(async {
            let server = Server::start(&cfg, &cfg.data_dir, cfg.indexer.listen).await?;
            server.serve(shutdown_signal()).await
        })
    }))
}

/// `logmind agent`.
pub fn agent(args: &ServerArgs, log: Option<&str>) -> ExitCode {
    let cfg = match load(args.config.as_deref(), &overrides(args, Role::Agent)) {
        Ok(c) => c,
        Err(code) => return code,
    };
    crate::init_tracing(log, Some(&cfg));
    let opts = agent_options(&cfg, &cfg.data_dir);
    crate::report(runtime().and_then(|rt| {
        rt.block_on(async {
            logmind_agent::run(opts, shutdown_signal())
                .await
                .context("agent failed")
        })
    }))
}

/// `logmind up`: indexer + query on one listener, plus the agent tailing the host's logs into it.
pub fn up(args: &ServerArgs, log: Option<&str>) -> ExitCode {
    let cfg = match load(args.config.as_deref(), &overrides(args, Role::Indexer)) {
        Ok(c) => c,
        Err(code) => return code,
    };
    crate::init_tracing(log, Some(&cfg));
    let agent_listen = Some(cfg.agent.listen);
    crate::report(
        runtime().and_then(|rt| rt.block_on(run_up(cfg, agent_listen, shutdown_signal()))),
    )
}

/// Runs indexer, query API and agent until `shutdown`; the agent serves its metrics on `agent_listen`.
pub async fn run_up(
    cfg: Config,
    agent_listen: Option<SocketAddr>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let server = Server::start(&cfg, &cfg.data_dir, cfg.indexer.listen).await?;
    let mut agent_opts = agent_options(&cfg, &cfg.data_dir.join("agent"));
    agent_opts.server = format!("http://{}", server.addr);
    agent_opts.listen = agent_listen;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut agent_stop = stop_rx.clone();
    let agent = tokio::spawn(async move {
        logmind_agent::run(agent_opts, async move {
            let _ = agent_stop.wait_for(|s| *s).await;
        })
        .await
    });
    let mut server_stop = stop_rx;
    let serve = tokio::spawn(server.serve(async move {
        let _ = server_stop.wait_for(|s| *s).await;
    }));
    shutdown.await;
    let _ = stop_tx.send(true);
    // Agent first (it flushes into the still-running server), then the server.
    match agent.await {
        Ok(Err(e)) => tracing::error!(error = %e, "agent stopped with an error"),
        Err(e) => tracing::error!(error = %e, "agent task failed"),
        Ok(Ok(())) => {}
    }
    serve.await.context("server task failed")?
}

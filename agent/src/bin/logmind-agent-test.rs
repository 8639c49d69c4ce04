//! Test harness binary: runs the agent from a few flags until SIGINT/SIGTERM (used by the kill -9 tests).
//! `LOGMIND_AGENT_LOG=logmind_agent=debug` logs to stderr.

use std::path::PathBuf;
use std::time::Duration;

use logmind_agent::{AgentOptions, KubeMode};

/// The allocator of the shipped `logmind` binary, so that the e2e benchmark measures the agent as it runs there.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    // Logs to stderr when asked (the kill -9 tests send it to `LOGMIND_AGENT_LOGFILE`).
    if let Ok(filter) = std::env::var("LOGMIND_AGENT_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .try_init();
    }
    let mut opts = AgentOptions {
        kubernetes: KubeMode::Off,
        listen: None,
        poll_interval: Duration::from_millis(200),
        batch_max_wait: Duration::from_millis(50),
        multiline_timeout: Duration::from_millis(200),
        retry_max_backoff: Duration::from_millis(500),
        pod_wait: Duration::ZERO,
        ..AgentOptions::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            eprintln!("flag {flag} needs a value");
            std::process::exit(2);
        };
        match flag.as_str() {
            "--server" => opts.server = value,
            "--data-dir" => opts.data_dir = PathBuf::from(value),
            "--host-root" => opts.host_root = Some(PathBuf::from(value)),
            "--agent-id" => opts.agent_id = value,
            "--node-name" => opts.node_name = value,
            "--multiline-timeout-ms" => {
                if let Ok(ms) = value.parse() {
                    opts.multiline_timeout = Duration::from_millis(ms);
                }
            }
            "--batch-max-bytes" => {
                opts.batch_max_bytes = value.parse().unwrap_or(opts.batch_max_bytes)
            }
            _ => {
                eprintln!("unknown flag {flag}");
                std::process::exit(2);
            }
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            std::process::exit(1);
        }
    };
    let res = rt.block_on(logmind_agent::run(opts, async {
        let _ = tokio::signal::ctrl_c().await;
    }));
    if let Err(e) = res {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

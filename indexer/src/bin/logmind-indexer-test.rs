//! A minimal indexer server for process-level tests (crash safety): runs the indexer router from flags.
//!
//! `logmind-indexer-test --listen 127.0.0.1:0 --data-dir DIR [--commit-ms N] [--wal-segment-bytes N]`
//! prints `listening on ADDR` on stdout once it serves.

use std::io::Write;
use std::time::Duration;

use logmind_indexer::{Indexer, IndexerOptions};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(data_dir) = arg(&args, "--data-dir") else {
        eprintln!("usage: logmind-indexer-test --data-dir DIR [--listen ADDR] [--commit-ms N]");
        return std::process::ExitCode::from(2);
    };
    let listen = arg(&args, "--listen").unwrap_or_else(|| "127.0.0.1:0".into());
    let mut opts = IndexerOptions::new(data_dir);
    if let Some(ms) = arg(&args, "--commit-ms").and_then(|v| v.parse().ok()) {
        opts.commit_interval = Duration::from_millis(ms);
    }
    if let Some(b) = arg(&args, "--wal-segment-bytes").and_then(|v| v.parse().ok()) {
        opts.wal_segment_bytes = b;
    }
    opts.retention.period = Duration::from_secs(3650 * 86_400);
    let idx = match Indexer::open(opts).await {
        Ok(i) => i,
        Err(e) => {
            eprintln!("open failed: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bind {listen}: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
    if let Err(e) = axum::serve(listener, idx.router()).await {
        eprintln!("serve: {e}");
        return std::process::ExitCode::from(1);
    }
    std::process::ExitCode::SUCCESS
}

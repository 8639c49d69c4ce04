//! Batch-mode throughput:
//! `cargo run --release -p logmind-workload --example throughput -- <root> [events] [rotate_bytes]`
//! (with `rotate_bytes`, rotated files are gzipped and 5 files are kept per container).

use logmind_workload::{generate, GenerateOptions};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(args.next().ok_or("usage: throughput <root> [events]")?);
    let events: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let rotate_bytes: Option<u64> = args.next().map(|s| s.parse()).transpose()?;
    let opts = GenerateOptions {
        root,
        events,
        progress: true,
        rotate_bytes,
        gzip: rotate_bytes.is_some(),
        ..Default::default()
    };
    let s = generate(&opts, None)?;
    let secs = s.elapsed.as_secs_f64();
    println!(
        "{} events, {} lines, {:.1} MB in {:.2}s: {:.1} MB/s, {:.0} events/s, {} files",
        s.events,
        s.lines,
        s.bytes as f64 / 1e6,
        secs,
        s.bytes as f64 / 1e6 / secs,
        s.events as f64 / secs,
        s.files
    );
    Ok(())
}

//! `logmind generate`: the deterministic workload generator.

use crate::cli::{GenerateArgs, LayoutArg};
use anyhow::{Context, Result};
use logmind_protocol::time::{now_nanos, parse_time};
use logmind_protocol::units::{parse_duration, parse_size};
use logmind_workload::{generate, Formats, GenerateOptions};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Maps the flags onto [`GenerateOptions`].
pub fn options(a: &GenerateArgs) -> Result<GenerateOptions> {
    let mut o = GenerateOptions {
        root: a.root.clone(),
        seed: a.seed,
        events: a.events,
        rate: a.rate,
        format: match a.format {
            LayoutArg::Kubernetes => Formats::Kubernetes,
            LayoutArg::Docker => Formats::Docker,
            LayoutArg::Both => Formats::Both,
        },
        rotate_keep: a.rotate_keep,
        gzip: a.gzip,
        manifest: a.manifest.clone(),
        node_name: a.node_name.clone(),
        progress: !a.quiet,
        ..GenerateOptions::default()
    };
    if let Some(d) = &a.duration {
        o.duration = Some(parse_duration(d).with_context(|| format!("--duration {d:?}"))?);
    }
    if let Some(s) = &a.start {
        o.start_ns = parse_time(s, now_nanos()).with_context(|| format!("--start {s:?}"))?;
    }
    if let Some(r) = &a.rotate_bytes {
        o.rotate_bytes = Some(parse_size(r).with_context(|| format!("--rotate-bytes {r:?}"))?);
    }
    if let Some(e) = a.error_ratio {
        o.error_ratio = e;
    }
    o.validate().context("invalid generate options")?;
    Ok(o)
}

/// Runs the generator until done (batch) or interrupted / `--duration` (continuous).
pub fn run(a: &GenerateArgs) -> Result<()> {
    let opts = options(a)?;
    let stop = Arc::new(AtomicBool::new(false));
    if opts.rate.is_some() {
        let flag = stop.clone();
        // Ctrl-C stops a continuous run cleanly (the manifest is written at exit).
        std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    let _ = tokio::signal::ctrl_c().await;
                });
                flag.store(true, Ordering::SeqCst);
            }
        });
    }
    let s = generate(&opts, Some(stop)).context("generate failed")?;
    eprintln!(
        "generated {} events ({} lines, {:.1} MB) in {} files in {:.2}s; manifest: {}",
        s.events,
        s.lines,
        s.bytes as f64 / 1e6,
        s.files,
        s.elapsed.as_secs_f64(),
        s.manifest.display()
    );
    Ok(())
}

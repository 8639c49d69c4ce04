//! The query commands (`trace`, `user`, `errors`, `count`, `search`, `tail`, `query`) and the admin commands.

use crate::cli::{ClientArgs, OutputArg, QueryArgs};
use anyhow::{bail, Context, Result};
use logmind_query::client::{self as qc, CommonArgs, OutputFormat};
use std::path::Path;
use std::process::ExitCode;

/// The shared query flags as the client library takes them.
pub fn common(q: &QueryArgs, level: Option<String>, pod: Option<String>) -> CommonArgs {
    CommonArgs {
        server: q.client.server.clone(),
        token: q.client.token.clone(),
        since: q.since.clone().or_else(|| Some("1h".to_string())),
        from: q.from.clone(),
        to: q.to.clone(),
        namespace: q.namespace.clone(),
        app: q.app.clone(),
        pod,
        level,
        output: match q.output {
            OutputArg::Table => OutputFormat::Table,
            OutputArg::Json => OutputFormat::Json,
            OutputArg::Ndjson => OutputFormat::Ndjson,
        },
    }
}

/// Runs a client future: exit 0 ok, 1 when the thing asked for does not exist, 2 on usage/server errors.
pub fn run<F>(fut: F) -> ExitCode
where
    F: std::future::Future<Output = Result<i32, qc::ClientError>>,
{
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("logmind: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(fut) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(2)),
        Err(e) => {
            eprintln!("logmind: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
        }
    }
}

fn post(client: &ClientArgs, path: &str, body: serde_json::Value) -> Result<serde_json::Value> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let url = format!("{}{path}", client.server.trim_end_matches('/'));
        let mut req = reqwest::Client::new().post(&url).json(&body);
        if let Some(t) = &client.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.with_context(|| format!("POST {url}"))?;
        let status = resp.status();
        let text = resp.text().await.context("reading the answer")?;
        if !status.is_success() {
            let msg = serde_json::from_str::<logmind_protocol::ErrorBody>(&text)
                .map(|e| e.error)
                .unwrap_or(text);
            bail!("server answered {status}: {msg}");
        }
        serde_json::from_str(&text).context("the server's answer is not JSON")
    })
}

/// `logmind retention run`.
pub fn retention_run(client: &ClientArgs) -> Result<()> {
    let report = post(client, "/api/v1/admin/retention", serde_json::json!({}))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// `logmind snapshot create DIR`.
pub fn snapshot_create(client: &ClientArgs, dir: &Path) -> Result<()> {
    let report = post(
        client,
        "/api/v1/admin/snapshot",
        serde_json::json!({ "dir": dir }),
    )?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// `logmind snapshot restore DIR --data-dir D` (offline).
pub fn snapshot_restore(dir: &Path, data_dir: &Path) -> Result<()> {
    let r = logmind_indexer::restore(dir, data_dir)
        .with_context(|| format!("restoring {} into {}", dir.display(), data_dir.display()))?;
    println!(
        "restored {} partitions ({:.1} MB) into {}",
        r.partitions,
        r.bytes as f64 / 1e6,
        data_dir.display()
    );
    Ok(())
}

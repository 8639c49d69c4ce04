//! logmind: the one binary. Parses the command line and composes the crates; no business logic.

mod cli;
mod commands;

use clap::Parser;
use cli::{Cli, Command};
use logmind_query::client as qc;
use std::process::ExitCode;

/// jemalloc instead of glibc malloc (as Vector and Quickwit do): the agent and indexer allocate and free many
/// small strings per event, and memory given back to the kernel and faulted in again cost ~10% of indexer CPU;
/// jemalloc keeps freed pages for reuse for a few seconds.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Installs the log subscriber: RUST_LOG > `--log` > the config's `log_level` > `info`; JSON lines when the
/// config says `log_format = "json"`; ANSI colours only on a terminal.
pub(crate) fn init_tracing(flag: Option<&str>, cfg: Option<&logmind_config::Config>) {
    use std::io::IsTerminal;
    let fallback = flag
        .map(str::to_string)
        .or_else(|| cfg.map(|c| c.log_level.clone()))
        .unwrap_or_else(|| "info".to_string());
    let env = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&fallback))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = cfg.is_some_and(|c| c.log_format == logmind_config::LogFormat::Json);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second call (tests, demo) keeps the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Prints an error chain and maps it to exit code 2.
pub(crate) fn report(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("logmind: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = cli.log.clone();
    if !matches!(
        cli.command,
        Command::Up(_) | Command::Indexer(_) | Command::Agent(_)
    ) {
        init_tracing(log.as_deref(), None);
    }
    match cli.command {
        Command::Demo(a) => report(commands::demo::run(&a)),
        Command::Up(a) => commands::server::up(&a, log.as_deref()),
        Command::Indexer(a) => commands::server::indexer(&a, log.as_deref()),
        Command::Agent(a) => commands::server::agent(&a, log.as_deref()),
        Command::Generate(a) => report(commands::generate::run(&a)),
        Command::Trace { request_id, common } => {
            let c = commands::client::common(&common, None, None);
            commands::client::run(async move { qc::run_trace(&c, &request_id).await })
        }
        Command::User { user_id, common } => {
            let c = commands::client::common(&common, None, None);
            commands::client::run(async move { qc::run_user(&c, &user_id, None).await })
        }
        Command::Errors { top, common } => {
            let c = commands::client::common(&common, None, None);
            commands::client::run(async move { qc::run_errors(&c, top).await })
        }
        Command::Count { step, by, common } => {
            let c = commands::client::common(&common, None, None);
            let args = qc::CountArgs { by, step };
            commands::client::run(async move { qc::run_count(&c, &args).await })
        }
        Command::Search {
            text,
            level,
            request_id,
            user_id,
            pod,
            limit,
            forward,
            common,
        } => {
            let c = commands::client::common(&common, level, pod);
            let args = qc::SearchArgs {
                text,
                limit: Some(limit),
                forward,
                request_id,
                user_id,
            };
            commands::client::run(async move { qc::run_search(&c, &args).await })
        }
        Command::Tail {
            text,
            level,
            common,
        } => {
            let mut c = commands::client::common(&common, level, None);
            // Tail starts at "now" unless told otherwise.
            if common.since.is_none() && common.from.is_none() {
                c.since = Some("10s".into());
            }
            let args = qc::TailArgs {
                text,
                ..Default::default()
            };
            commands::client::run(async move { qc::run_tail(&c, &args).await })
        }
        Command::Query {
            logql,
            limit,
            step,
            common,
        } => {
            let c = commands::client::common(&common, None, None);
            let args = qc::QueryArgs {
                query: logql,
                limit: Some(limit),
                step,
            };
            commands::client::run(async move { qc::run_query(&c, &args).await })
        }
        Command::Config(cli::ConfigCommand::Check { file }) => {
            commands::config::check(file.as_deref())
        }
        Command::Retention(cli::RetentionCommand::Run { client }) => {
            report(commands::client::retention_run(&client))
        }
        Command::Snapshot(cli::SnapshotCommand::Create { dir, client }) => {
            report(commands::client::snapshot_create(&client, &dir))
        }
        Command::Snapshot(cli::SnapshotCommand::Restore { dir, data_dir }) => {
            report(commands::client::snapshot_restore(&dir, &data_dir))
        }
    }
}

//! logmind: the one binary. Parses the command line and composes the crates; no business logic.

mod cli;
mod commands;

use clap::Parser;
use cli::{Cli, Command};
use logmind_query::client as qc;
use std::process::ExitCode;

fn init_tracing(filter: &str) {
    let env = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(env)
        .with_writer(std::io::stderr)
        .init();
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
    init_tracing(&cli.log);
    match cli.command {
        Command::Demo(a) => report(commands::demo::run(&a)),
        Command::Up(a) => commands::server::up(&a),
        Command::Indexer(a) => commands::server::indexer(&a),
        Command::Agent(a) => commands::server::agent(&a),
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

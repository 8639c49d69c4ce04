//! logmind: the one binary. Parses the command line and composes the crates; no business logic.

mod cli;

use clap::Parser;
use cli::{Cli, Command};
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

/// A command whose capability has not landed yet: say so, exit 2. Never faked.
fn not_landed(command: &str, issue: u32) -> ExitCode {
    eprintln!(
        "logmind {command}: not available yet in this build (tracked in issue {issue}); nothing was done"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log);
    match cli.command {
        Command::Demo(_) => not_landed("demo", 5),
        Command::Up(_) => not_landed("up", 5),
        Command::Indexer(_) => not_landed("indexer", 4),
        Command::Agent(_) => not_landed("agent", 3),
        Command::Generate(_) => not_landed("generate", 2),
        Command::Trace { .. } => not_landed("trace", 5),
        Command::User { .. } => not_landed("user", 5),
        Command::Errors { .. } => not_landed("errors", 5),
        Command::Count { .. } => not_landed("count", 5),
        Command::Search { .. } => not_landed("search", 5),
        Command::Tail { .. } => not_landed("tail", 5),
        Command::Query { .. } => not_landed("query", 6),
        Command::Config(_) => not_landed("config check", 2),
        Command::Retention(_) => not_landed("retention run", 4),
        Command::Snapshot(_) => not_landed("snapshot", 4),
    }
}

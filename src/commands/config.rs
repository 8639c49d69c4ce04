//! `logmind config check` and the shared config loading of the server commands.

use crate::cli::ServerArgs;
use logmind_config::{process_env, Config, Overrides};
use std::path::Path;
use std::process::ExitCode;

/// Which server command is loading (decides what `--listen` overrides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `indexer` / `up`: `--listen` is the API address.
    Indexer,
    /// `agent`: `--listen` is the agent's metrics address.
    Agent,
}

/// Flags → dotted-key overrides (flag > env > file > default).
pub fn overrides(args: &ServerArgs, role: Role) -> Overrides {
    let listen_key = match role {
        Role::Indexer => "indexer.listen",
        Role::Agent => "agent.listen",
    };
    Overrides::new()
        .with_opt(listen_key, args.listen)
        .with_opt("data_dir", args.data_dir.as_ref().map(|p| p.display()))
        .with_opt(
            "agent.host_root",
            args.host_root.as_ref().map(|p| p.display()),
        )
        .with_opt("agent.server", args.server.as_deref())
        .with_opt("node_name", args.node_name.as_deref())
        .with_opt("indexer.retention.period", args.retention.as_deref())
}

/// Loads the effective configuration, printing every error on failure.
pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ExitCode> {
    Config::load(file, &process_env, overrides).map_err(|errors| {
        eprintln!(
            "logmind: invalid configuration ({} error(s)):",
            errors.len()
        );
        for e in errors.iter() {
            eprintln!("  {e}");
        }
        ExitCode::from(2)
    })
}

/// `logmind config check [FILE]`: prints the effective configuration (secrets redacted) or every error.
pub fn check(file: Option<&Path>) -> ExitCode {
    match load(file, &Overrides::new()) {
        Ok(cfg) => {
            print!("{}", cfg.to_effective_toml());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

//! The `clap` command tree: every command and flag of logmind, with help a newcomer can follow.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// logmind: log aggregation and analysis for Kubernetes and Docker hosts.
///
/// A per-node agent tails container logs and ships them to an indexer; the indexer makes them durable and
/// searchable; query commands answer error counts, top errors, request traces and user activity, and Grafana
/// reads it all through a Loki-compatible API.
#[derive(Debug, Parser)]
#[command(
    name = "logmind",
    version,
    propagate_version = true,
    max_term_width = 110
)]
pub struct Cli {
    /// Log filter for logmind's own logs (e.g. `info`, `logmind_agent=debug`). Default: the config's
    /// `log_level` for server commands, else `info`; RUST_LOG, when set, wins.
    #[arg(long, global = true, env = "LOGMIND_LOG")]
    pub log: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// All-in-one with a built-in realistic workload; prints what to try next.
    Demo(DemoArgs),
    /// All-in-one server: indexer + query API (+ agent when a host root or agent config is given).
    Up(ServerArgs),
    /// Ingest + query server (the agent's destination, the API and Grafana's Loki data source).
    Indexer(ServerArgs),
    /// Per-node agent: tails Kubernetes and Docker container logs and ships them to an indexer.
    Agent(ServerArgs),
    /// Deterministic workload: CRI/Docker log files with rotation, plus a ground-truth manifest.
    Generate(GenerateArgs),
    /// Every event of one request across services, in time order.
    Trace {
        /// The request id to follow.
        request_id: String,
        #[command(flatten)]
        common: QueryArgs,
    },
    /// One user's activity: events plus counts by app and level.
    User {
        /// The user id.
        user_id: String,
        #[command(flatten)]
        common: QueryArgs,
    },
    /// Top-N error groups (messages with variable parts masked and clustered).
    Errors {
        /// How many groups to show.
        #[arg(long, default_value_t = 10)]
        top: usize,
        #[command(flatten)]
        common: QueryArgs,
    },
    /// Event/error counts over time.
    Count {
        /// Bucket width, e.g. `5m`, `1h` (default: range / 20).
        #[arg(long)]
        step: Option<String>,
        /// Group by a keyword field: app, namespace, pod, level, …
        #[arg(long)]
        by: Option<String>,
        #[command(flatten)]
        common: QueryArgs,
    },
    /// Filtered full-text search (terms, "phrases", prefix*, AND/OR/NOT).
    Search {
        /// Full-text query; omit to list events matching the filters only.
        text: Option<String>,
        /// Exact level filter (error, warn, …).
        #[arg(long)]
        level: Option<String>,
        /// Exact request id filter.
        #[arg(long)]
        request_id: Option<String>,
        /// Exact user id filter.
        #[arg(long)]
        user_id: Option<String>,
        /// Exact pod filter.
        #[arg(long)]
        pod: Option<String>,
        /// Maximum number of events.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Oldest first instead of newest first.
        #[arg(long)]
        forward: bool,
        #[command(flatten)]
        common: QueryArgs,
    },
    /// Follow live events (like `docker compose logs -f`), reconnecting on errors.
    Tail {
        /// Full-text filter.
        text: Option<String>,
        /// Exact level filter.
        #[arg(long)]
        level: Option<String>,
        #[command(flatten)]
        common: QueryArgs,
    },
    /// Run a raw LogQL query (log or metric) against the Loki-compatible API.
    Query {
        /// The LogQL expression, e.g. `{namespace="shop-prod"} |= "timeout"`.
        logql: String,
        /// Maximum number of log lines.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Step for metric queries, e.g. `1m`.
        #[arg(long)]
        step: Option<String>,
        #[command(flatten)]
        common: QueryArgs,
    },
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Retention: apply the retention policy now.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Snapshots: consistent copies of the data directory.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
}

/// `logmind config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (file + LOGMIND_* env + defaults), or every error and exit 2.
    Check {
        /// The TOML file to check (optional: defaults and environment alone are checked without it).
        file: Option<PathBuf>,
    },
}

/// `logmind retention …`
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Apply the retention policy now on a running indexer and print what was removed.
    Run {
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `logmind snapshot …`
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Make a consistent copy of a running indexer's data into DIR (ingest continues meanwhile).
    Create {
        /// Destination directory (created; must be empty or absent). A path on the server's machine.
        dir: PathBuf,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Restore a snapshot DIR into an empty data directory (offline: the indexer must not be running).
    Restore {
        /// The snapshot directory.
        dir: PathBuf,
        /// The (empty) data directory to restore into.
        #[arg(long, env = "LOGMIND_DATA_DIR")]
        data_dir: PathBuf,
    },
}

/// Flags shared by the server commands (`up`, `indexer`, `agent`). Every one also runs from flags alone.
#[derive(Debug, Args, Clone, Default)]
pub struct ServerArgs {
    /// TOML configuration file (see logmind.example.toml). Flags override it.
    #[arg(long, short = 'c', env = "LOGMIND_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (indexer/up: API, default 127.0.0.1:3100; agent: metrics, default 127.0.0.1:3101).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Directory for the write-ahead log, partitions, spool and checkpoints.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Prefix of the host's log locations (`<root>/var/log/pods`, `<root>/var/lib/docker/containers`).
    #[arg(long)]
    pub host_root: Option<PathBuf>,
    /// Indexer URL the agent ships to (agent only).
    #[arg(long, env = "LOGMIND_SERVER")]
    pub server: Option<String>,
    /// This node's name (Kubernetes enrichment watches pods with spec.nodeName=NAME).
    #[arg(long, env = "NODE_NAME")]
    pub node_name: Option<String>,
    /// Global retention period, e.g. `7d`.
    #[arg(long)]
    pub retention: Option<String>,
}

/// Flags of the `generate` command.
#[derive(Debug, Args, Clone)]
pub struct GenerateArgs {
    /// Host root to write under (`<root>/var/log/pods/…`, `<root>/var/lib/docker/containers/…`).
    #[arg(long)]
    pub root: PathBuf,
    /// Seed: the same seed and options give byte-identical files and manifest.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of events to write in batch mode.
    #[arg(long, default_value_t = 10_000)]
    pub events: u64,
    /// Write continuously at this many lines per second (timestamps from the wall clock) instead of a batch.
    #[arg(long)]
    pub rate: Option<f64>,
    /// With --rate: stop after this long (e.g. `10m`); default runs until interrupted.
    #[arg(long)]
    pub duration: Option<String>,
    /// Batch-mode clock start (RFC 3339 or Unix time); default 2024-01-15T10:00:00Z.
    #[arg(long)]
    pub start: Option<String>,
    /// Which layouts to write.
    #[arg(long, value_enum, default_value_t = LayoutArg::Both)]
    pub format: LayoutArg,
    /// Rotate a log file when it exceeds this size (e.g. `10MiB`), as kubelet/Docker do.
    #[arg(long)]
    pub rotate_bytes: Option<String>,
    /// Rotated files to keep per container.
    #[arg(long, default_value_t = 5)]
    pub rotate_keep: usize,
    /// Gzip rotated files (kubelet: all but the newest rotated file; Docker: `.1` onwards).
    #[arg(long)]
    pub gzip: bool,
    /// Where to write the ground-truth manifest (default `<root>/manifest.json`).
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// Node name written into the Kubernetes pod list.
    #[arg(long, default_value = "node-1")]
    pub node_name: String,
    /// Share of events that are errors (0..1).
    #[arg(long)]
    pub error_ratio: Option<f64>,
    /// Suppress the progress line.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Layouts the generator writes.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LayoutArg {
    /// Kubernetes CRI files under /var/log/pods.
    Kubernetes,
    /// Docker json-file logs under /var/lib/docker/containers.
    Docker,
    /// Both.
    Both,
}

/// How to reach a server.
#[derive(Debug, Args, Clone)]
pub struct ClientArgs {
    /// The logmind server to ask.
    #[arg(long, env = "LOGMIND_SERVER", default_value = "http://127.0.0.1:3100")]
    pub server: String,
    /// Bearer token (query or admin role, when the server requires one).
    #[arg(long, env = "LOGMIND_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Flags shared by the query commands.
#[derive(Debug, Args, Clone)]
pub struct QueryArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Look back this far, e.g. `15m`, `1h`, `7d` (default 1h; ignored with --from).
    #[arg(long)]
    pub since: Option<String>,
    /// Start time: RFC 3339, Unix seconds/nanoseconds or `now-2h`.
    #[arg(long)]
    pub from: Option<String>,
    /// End time (default now).
    #[arg(long)]
    pub to: Option<String>,
    /// Only this namespace.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Only this app.
    #[arg(long, short = 'a')]
    pub app: Option<String>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputArg::Table)]
    pub output: OutputArg,
}

/// Output formats of the query commands.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputArg {
    /// Aligned table (coloured on a terminal).
    Table,
    /// One JSON document.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// Flags of `demo`.
#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Address for the API and the Grafana data source.
    #[arg(long, default_value = "127.0.0.1:3100")]
    pub listen: SocketAddr,
    /// Data directory (default: a fresh temporary directory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Lines per second the built-in workload writes.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Stop after this long (e.g. `5m`); default runs until Ctrl-C.
    #[arg(long)]
    pub duration: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}

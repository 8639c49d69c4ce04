//! logmind's store: durable ingest (write-ahead log), time-partitioned tantivy indexes, error templates,
//! retention and snapshots.
//!
//! Data flow: an ingest request ([`http`]) is decoded and checked, then queued to the WAL writer thread
//! ([`wal_writer`]), which group-commits queued batches with one fsync, answers them, and forwards them to the
//! indexing thread ([`pipeline`]). That thread assigns templates ([`template`]), writes the time partition of
//! each record ([`store`]), commits every `commit_interval` with the WAL position as the commit payload, and
//! lets the WAL drop what every partition has committed. On start the WAL is replayed past each partition's
//! payload. Retention ([`retention`]) and snapshots ([`snapshot`]) run on the indexing thread too.

pub mod auth;
pub mod dedup;
pub mod error;
pub mod fsutil;
pub mod http;
pub mod indexer;
pub mod metrics;
pub mod options;
pub mod pipeline;
pub mod retention;
pub mod schema;
pub mod snapshot;
pub mod store;
pub mod template;
pub mod tokenizer;
pub mod wal;
pub mod wal_writer;

pub use auth::{check_token, AuthError, AuthTokens, Role};
pub use error::IndexerError;
pub use indexer::{Indexer, IngestOutcome};
pub use options::{Clock, Faults, IndexerOptions, ManualClock, RetentionPolicy, SystemClock};
pub use retention::RetentionReport;
pub use snapshot::{restore, RestoreReport, SnapshotReport};
pub use store::{PartitionSearcher, Store};
pub use template::TemplateMiner;

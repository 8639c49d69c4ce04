//! logmind's query layer: the engine that answers operators' questions from the indexer's partitions, the native
//! HTTP API over it, and the HTTP client the CLI commands use.
//!
//! Data flows request → [`http`] (parse, authenticate) → [`Engine`] (pick the partitions overlapping the time
//! range, scan them on a blocking thread with a deadline and a cancellation flag, merge per-partition partial
//! results) → JSON. Every answer is computed from fast fields where it can (counts, groups) and loads stored
//! documents only for the events it returns.

pub mod catalog;
pub mod client;
pub mod engine;
pub mod error;
pub mod http;
pub mod logql;
pub mod loki;

pub use catalog::{Catalog, PartitionView};
pub use engine::{Engine, QueryOptions};
pub use error::QueryError;
pub use http::router;

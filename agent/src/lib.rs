//! logmind agent: discovers container log files, tails them across every kind of rotation, decodes CRI and
//! Docker framing, merges partial and multi-line events, extracts level and identifiers, enriches with
//! Kubernetes/Docker metadata and ships batches exactly once to the indexer.
//!
//! Data flow: `discover` → `identity`/`files`/`reconcile` (which identity a path is) → `tail` → `assemble`
//! (decode + merge) → `parse` → `enrich` → `records` → `spool` → `ship`, driven by the reader thread in
//! `pipeline`, with `checkpoint` remembering how far each file identity was made durable. Entry point: [`run`].

pub mod assemble;
pub mod carry;
pub mod checkpoint;
pub mod decode;
pub mod discover;
pub mod enrich;
pub mod error;
pub mod files;
pub mod http;
pub mod identity;
pub mod lz4;
pub mod merge;
pub mod metrics;
pub mod options;
pub mod parse;
pub mod pipeline;
pub mod reconcile;
pub mod records;
pub mod runtime;
pub mod ship;
pub mod spool;
pub mod tail;

pub use error::AgentError;
pub use options::{AgentOptions, KubeMode};
pub use runtime::run;

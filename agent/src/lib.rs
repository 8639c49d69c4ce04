//! logmind agent: discovers container log files, tails them across every kind of rotation, decodes CRI and
//! Docker framing, merges partial and multi-line events, extracts level and identifiers, enriches with
//! Kubernetes/Docker metadata and ships batches exactly once to the indexer.
//!
//! Data flow: `discover` → `identity` → `tail` → `assemble` (decode + merge) → `parse` → `enrich` → `spool` →
//! `ship`, with `checkpoint` remembering how far each file identity was made durable.

pub mod assemble;
pub mod checkpoint;
pub mod decode;
pub mod discover;
pub mod enrich;
pub mod error;
pub mod files;
pub mod http;
pub mod identity;
pub mod merge;
pub mod metrics;
pub mod options;
pub mod parse;
pub mod pipeline;
pub mod reconcile;
pub mod runtime;
pub mod ship;
pub mod spool;
pub mod tail;

pub use error::AgentError;
pub use options::{AgentOptions, KubeMode};
pub use runtime::run;

//! logmind's store: durable ingest (write-ahead log), time-partitioned tantivy indexes, error templates,
//! retention and snapshots.

pub mod schema;
pub mod template;
pub mod tokenizer;

//! The indexer's integration tests: real HTTP ingest, real WAL and tantivy indexes on disk, real processes.
//! One binary for all of them (tests that need a process to themselves keep their own): a binary per file
//! linked all the dependencies again for each, tens of MB apiece.

mod common;
mod crash_kill9;
mod index_failure;
mod ingest_http;
mod retention;
mod snapshot;
mod template_extract;
mod template_loghub;
mod template_mask;
mod template_miner;
mod template_shapes;
mod wal_truncation;

//! The query layer's integration tests: the HTTP API, the CLI client and the Loki API over real indexes.
//! One binary for all of them (tests that need a process to themselves keep their own): a binary per file
//! linked all the dependencies again for each, tens of MB apiece.

mod api;
mod client;
mod client_logql;
mod common;
mod engine;
mod loki_api;
mod loki_clients;
mod loki_common;
mod loki_grafana_provisioning;
mod loki_meta;
mod loki_metrics;
mod loki_push;
mod loki_tail;
mod pagination;
mod through_indexer;

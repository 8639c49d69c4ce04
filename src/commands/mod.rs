//! One module per command: maps parsed flags onto the crates' option types and runs them.

pub mod client;
pub mod config;
pub mod demo;
pub mod generate;
pub mod server;

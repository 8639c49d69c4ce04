//! One module per command: maps parsed flags onto the crates' option types and runs them.

pub mod config;
pub mod generate;

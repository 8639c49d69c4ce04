//! logmind: the one binary. Parses the command line and composes the crates; no business logic.
fn main() {}

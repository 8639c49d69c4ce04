//! Writer benchmark (placeholder until written).
fn main() {}

//! placeholder

pub mod logql;

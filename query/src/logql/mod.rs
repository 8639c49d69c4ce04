//! LogQL: Loki's query language — lexer, AST and parser.
//!
//! [`parse`] turns a query into an [`ast::Expr`]; every error names the line, column and what was expected, in
//! the shape Loki uses (`parse error at line 1, col 12: …`).

pub mod ast;
pub mod lexer;
pub mod parser;

pub use ast::*;
pub mod eval;
pub use parser::{parse, parse_log};

/// A query that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse error at line {line}, col {col}: {message}")]
pub struct ParseError {
    /// Byte offset in the query.
    pub pos: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
    /// What was expected and what was found.
    pub message: String,
}

impl ParseError {
    /// Builds an error at byte offset `pos` of `src`.
    pub fn new(src: &str, pos: usize, message: &str) -> Self {
        let pos = pos.min(src.len());
        let before = src.get(..pos).unwrap_or(src);
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ParseError {
            pos,
            line,
            col,
            message: message.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;

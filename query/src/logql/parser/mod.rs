//! LogQL parser: recursive descent over [`lexer`](super::lexer) tokens, with Prometheus operator precedence.
//!
//! This module holds the entry points ([`parse`], [`parse_log`]) and the token cursor; the grammar is split by
//! concept: `metric` (binary operators, range and vector aggregations), `selector` (log queries and stream
//! selectors) and `pipeline` (pipeline stages and label filters).

mod metric;
mod pipeline;
mod selector;

use super::ast::*;
use super::lexer::{lex, Spanned, Tok};
use super::ParseError;

/// Parses a whole LogQL query.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    let toks = lex(src)?;
    let mut p = Parser {
        src,
        toks,
        i: 0,
        depth: 0,
        operators: 0,
    };
    let e = p.expr_any(0)?;
    p.expect_eof()?;
    match e {
        Any::Log(l) => Ok(Expr::Log(l)),
        Any::Metric(m) => Ok(Expr::Metric(m)),
    }
}

/// Parses a query that must be a log query (stream selector + pipeline).
pub fn parse_log(src: &str) -> Result<LogExpr, ParseError> {
    match parse(src)? {
        Expr::Log(l) => Ok(l),
        Expr::Metric(_) => Err(ParseError::new(
            src,
            0,
            "expected a log query (stream selector), found a metric query",
        )),
    }
}

enum Any {
    Log(LogExpr),
    Metric(MetricExpr),
}

/// Deepest nesting of parentheses, unary signs, `^` chains and label-filter groups a query may have: the parser
/// recurses once per level, and a query of a few hundred KB of `(` or `-` would otherwise overflow the stack and
/// take the whole server down.
pub const MAX_DEPTH: usize = 128;

/// Most binary operators, label-filter `and`/`or`/`,`, pipeline stages, line-filter alternatives, regex selector
/// matchers and `drop`/`keep` matchers one query may have together. Operator loops build a tree one level deeper per operator, which
/// evaluation, cloning and freeing walk recursively (`1*1*…` with 3,000 terms overflowed the stack there); every
/// stage, alternative and matcher may compile a regex (up to 16 MiB each).
pub const MAX_OPERATORS: usize = 256;

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Spanned>,
    i: usize,
    /// Current recursion depth (see [`MAX_DEPTH`]).
    depth: usize,
    /// Operators so far (see [`MAX_OPERATORS`]).
    operators: usize,
}

impl<'a> Parser<'a> {
    /// Runs `f` one nesting level deeper, refusing past [`MAX_DEPTH`].
    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(ParseError::new(
                self.src,
                self.pos(),
                &format!("query nested too deeply (more than {MAX_DEPTH} levels)"),
            ));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }
    /// Counts one more operator, refusing past [`MAX_OPERATORS`].
    fn operator(&mut self) -> Result<(), ParseError> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(ParseError::new(
                self.src,
                self.pos(),
                &format!(
                    "query has more than {MAX_OPERATORS} operators, pipeline stages, filter alternatives and \
                     regex matchers together"
                ),
            ));
        }
        Ok(())
    }
    fn peek(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)].tok
    }
    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.i + n).min(self.toks.len() - 1)].tok
    }
    fn pos(&self) -> usize {
        self.toks[self.i.min(self.toks.len() - 1)].pos
    }
    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }
    fn err<T>(&self, expected: &str) -> Result<T, ParseError> {
        Err(ParseError::new(
            self.src,
            self.pos(),
            &format!("expected {expected}, found {}", self.peek().describe()),
        ))
    }
    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.bump();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, t: Tok, what: &str) -> Result<(), ParseError> {
        if self.eat(&t) {
            Ok(())
        } else {
            self.err(what)
        }
    }
    fn is_ident(&self, name: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == name)
    }
    fn ident(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek().clone() {
            Tok::Ident(s) => {
                self.bump();
                Ok(s)
            }
            _ => self.err(what),
        }
    }
    fn string(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                Ok(s)
            }
            _ => self.err(what),
        }
    }
    fn duration(&mut self, what: &str) -> Result<i64, ParseError> {
        match self.peek().clone() {
            Tok::Duration(d) => {
                self.bump();
                Ok(d)
            }
            // A bare number in a range is seconds ([300]).
            Tok::Num(n) if n >= 0.0 => {
                self.bump();
                Ok((n * 1e9) as i64)
            }
            _ => self.err(what),
        }
    }
    fn expect_eof(&self) -> Result<(), ParseError> {
        if *self.peek() == Tok::Eof {
            Ok(())
        } else {
            self.err("end of query or a binary operator")
        }
    }

    fn number(&mut self, what: &str) -> Result<f64, ParseError> {
        let neg = self.eat(&Tok::Minus);
        match self.peek().clone() {
            Tok::Num(v) => {
                self.bump();
                Ok(if neg { -v } else { v })
            }
            _ => self.err(what),
        }
    }
}

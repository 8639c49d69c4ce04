//! Log queries: a stream selector (`{app="backend"}`) and its matchers, followed by a pipeline; also the
//! `{…}[5m]` form a range aggregation takes.

use super::Parser;
use crate::logql::ast::*;
use crate::logql::lexer::Tok;
use crate::logql::ParseError;

impl<'a> Parser<'a> {
    pub(super) fn log_expr(&mut self) -> Result<LogExpr, ParseError> {
        let selector = self.selector()?;
        let mut pipeline = Vec::new();
        self.pipeline(&mut pipeline)?;
        Ok(LogExpr { selector, pipeline })
    }

    pub(super) fn log_expr_until_range(&mut self) -> Result<RangeLog, ParseError> {
        let selector = self.selector()?;
        let mut pipeline = Vec::new();
        // `{…}[5m] | …` form.
        if *self.peek() == Tok::LBracket {
            self.bump();
            let range = self.duration("a duration like 5m")?;
            self.expect(Tok::RBracket, "']'")?;
            return Ok(RangeLog {
                expr: LogExpr { selector, pipeline },
                range: Some(range),
                pipeline_after_range_allowed: true,
            });
        }
        self.pipeline(&mut pipeline)?;
        Ok(RangeLog {
            expr: LogExpr { selector, pipeline },
            range: None,
            pipeline_after_range_allowed: false,
        })
    }

    fn selector(&mut self) -> Result<Vec<Matcher>, ParseError> {
        let open = self.pos();
        self.expect(Tok::LBrace, "'{' starting a stream selector")?;
        let mut matchers = Vec::new();
        if *self.peek() != Tok::RBrace {
            loop {
                let m = self.matcher()?;
                // A regex matcher compiles a regex; an equality does not (a pushed stream's labels are parsed
                // here, and may be many).
                if matches!(m.op, MatchOp::Re | MatchOp::Nre) {
                    self.operator()?;
                }
                matchers.push(m);
                if self.eat(&Tok::Comma) {
                    if *self.peek() == Tok::RBrace {
                        break;
                    }
                    continue;
                }
                break;
            }
        }
        self.expect(Tok::RBrace, "',' or '}'")?;
        if matchers.is_empty() {
            return Err(ParseError::new(
                self.src,
                open,
                "a stream selector needs at least one matcher, e.g. {app=\"backend\"}",
            ));
        }
        if matchers
            .iter()
            .all(|m| matches!(m.op, MatchOp::Neq | MatchOp::Nre) || m.value.is_empty())
        {
            return Err(ParseError::new(
                self.src,
                open,
                "queries require at least one regexp or equality matcher that does not have an empty-compatible value, e.g. {app=~\".+\"}",
            ));
        }
        Ok(matchers)
    }

    pub(super) fn matcher(&mut self) -> Result<Matcher, ParseError> {
        let name = self.ident("a label name")?;
        let op = match self.bump() {
            Tok::Eq => MatchOp::Eq,
            Tok::Neq => MatchOp::Neq,
            Tok::EqTilde => MatchOp::Re,
            Tok::NotTilde => MatchOp::Nre,
            _ => {
                self.i -= 1;
                return self.err("one of = != =~ !~");
            }
        };
        let value = self.string("a quoted value")?;
        Ok(Matcher { name, op, value })
    }
}

/// A log query inside a range aggregation, with the range when it came right after the selector.
pub(super) struct RangeLog {
    pub(super) expr: LogExpr,
    pub(super) range: Option<i64>,
    pub(super) pipeline_after_range_allowed: bool,
}

//! Metric expressions: binary operators with Prometheus precedence and vector matching, unary minus, literals,
//! `vector()`, `label_replace`, range aggregations (`rate({…}[5m])`) and vector aggregations (`sum by (…)`).

use super::{Any, Parser};
use crate::logql::ast::*;
use crate::logql::lexer::Tok;
use crate::logql::ParseError;

fn binop_prec(t: &Tok) -> Option<(BinOp, u8)> {
    Some(match t {
        Tok::Ident(s) if s == "or" => (BinOp::Or, 1),
        Tok::Ident(s) if s == "and" => (BinOp::And, 2),
        Tok::Ident(s) if s == "unless" => (BinOp::Unless, 2),
        Tok::EqEq => (BinOp::Cmp(CmpOp::Eq), 3),
        Tok::Neq => (BinOp::Cmp(CmpOp::Neq), 3),
        Tok::Gt => (BinOp::Cmp(CmpOp::Gt), 3),
        Tok::Ge => (BinOp::Cmp(CmpOp::Ge), 3),
        Tok::Lt => (BinOp::Cmp(CmpOp::Lt), 3),
        Tok::Le => (BinOp::Cmp(CmpOp::Le), 3),
        Tok::Plus => (BinOp::Add, 4),
        Tok::Minus => (BinOp::Sub, 4),
        Tok::Star => (BinOp::Mul, 5),
        Tok::Slash => (BinOp::Div, 5),
        Tok::Percent => (BinOp::Mod, 5),
        Tok::Caret => (BinOp::Pow, 6),
        _ => return None,
    })
}

impl<'a> Parser<'a> {
    pub(super) fn expr_any(&mut self, min_prec: u8) -> Result<Any, ParseError> {
        self.nested(|p| p.expr_any_at(min_prec))
    }

    fn expr_any_at(&mut self, min_prec: u8) -> Result<Any, ParseError> {
        let start = self.pos();
        let mut lhs = self.unary()?;
        while let Some((op, prec)) = binop_prec(self.peek()) {
            if prec < min_prec {
                break;
            }
            self.operator()?;
            let lhs_metric = match lhs {
                Any::Metric(m) => m,
                Any::Log(_) => {
                    return Err(ParseError::new(
                        self.src,
                        start,
                        "a log query cannot be used in a binary operation; wrap it in a range aggregation such as count_over_time({…}[5m])",
                    ))
                }
            };
            self.bump();
            let return_bool = self.is_ident("bool") && {
                self.bump();
                true
            };
            let matching = self.vector_matching()?;
            // `^` is right-associative; everything else left-associative.
            let next_min = if op == BinOp::Pow { prec } else { prec + 1 };
            let rhs_pos = self.pos();
            let rhs = match self.expr_any(next_min)? {
                Any::Metric(m) => m,
                Any::Log(_) => {
                    return Err(ParseError::new(
                        self.src,
                        rhs_pos,
                        "a log query cannot be used in a binary operation",
                    ))
                }
            };
            lhs = Any::Metric(MetricExpr::Binary {
                op,
                return_bool,
                matching,
                lhs: Box::new(lhs_metric),
                rhs: Box::new(rhs),
            });
        }
        Ok(lhs)
    }

    fn vector_matching(&mut self) -> Result<Option<VectorMatching>, ParseError> {
        let on = if self.is_ident("on") {
            true
        } else if self.is_ident("ignoring") {
            false
        } else {
            return Ok(None);
        };
        self.bump();
        let labels = self.label_list()?;
        if self.is_ident("group_left") || self.is_ident("group_right") {
            self.bump();
            if *self.peek() == Tok::LParen {
                self.label_list()?;
            }
        }
        Ok(Some(VectorMatching { on, labels }))
    }

    fn metric(&mut self, what: &str) -> Result<MetricExpr, ParseError> {
        let pos = self.pos();
        match self.expr_any(0)? {
            Any::Metric(m) => Ok(m),
            Any::Log(_) => Err(ParseError::new(
                self.src,
                pos,
                &format!("expected {what}, found a log query (wrap it in a range aggregation)"),
            )),
        }
    }

    fn unary(&mut self) -> Result<Any, ParseError> {
        self.nested(Self::unary_at)
    }

    fn unary_at(&mut self) -> Result<Any, ParseError> {
        match self.peek().clone() {
            Tok::Minus => {
                self.bump();
                match self.unary()? {
                    Any::Metric(MetricExpr::Literal(v)) => Ok(Any::Metric(MetricExpr::Literal(-v))),
                    Any::Metric(m) => Ok(Any::Metric(MetricExpr::Binary {
                        op: BinOp::Mul,
                        return_bool: false,
                        matching: None,
                        lhs: Box::new(MetricExpr::Literal(-1.0)),
                        rhs: Box::new(m),
                    })),
                    Any::Log(_) => self.err("a number or metric expression after '-'"),
                }
            }
            Tok::Plus => {
                self.bump();
                self.unary()
            }
            Tok::Num(v) => {
                self.bump();
                Ok(Any::Metric(MetricExpr::Literal(v)))
            }
            Tok::LParen => {
                self.bump();
                let inner = self.expr_any(0)?;
                self.expect(Tok::RParen, "')'")?;
                Ok(inner)
            }
            Tok::LBrace => Ok(Any::Log(self.log_expr()?)),
            Tok::Ident(name) => {
                if let Some(func) = RangeFunc::from_name(&name) {
                    self.bump();
                    return Ok(Any::Metric(self.range_agg(func)?));
                }
                if let Some(op) = VecOp::from_name(&name) {
                    self.bump();
                    return Ok(Any::Metric(self.vector_agg(op)?));
                }
                match name.as_str() {
                    "vector" => {
                        self.bump();
                        self.expect(Tok::LParen, "'(' after vector")?;
                        let v = self.number("a number")?;
                        self.expect(Tok::RParen, "')'")?;
                        Ok(Any::Metric(MetricExpr::VectorLit(v)))
                    }
                    "label_replace" => {
                        self.bump();
                        self.expect(Tok::LParen, "'(' after label_replace")?;
                        let expr = self.metric("a metric expression")?;
                        let mut args = Vec::new();
                        for _ in 0..4 {
                            self.expect(Tok::Comma, "','")?;
                            args.push(self.string("a string argument")?);
                        }
                        self.expect(Tok::RParen, "')'")?;
                        let [dst, replacement, src, regex] =
                            <[String; 4]>::try_from(args).unwrap_or_default();
                        Ok(Any::Metric(MetricExpr::LabelReplace {
                            expr: Box::new(expr),
                            dst,
                            replacement,
                            src,
                            regex,
                        }))
                    }
                    _ => Err(ParseError::new(
                        self.src,
                        self.pos(),
                        &format!("unknown function or keyword {name:?}"),
                    )),
                }
            }
            _ => self.err("a stream selector '{…}', a function, a number or '('"),
        }
    }

    fn label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect(Tok::LParen, "'(' starting a label list")?;
        let mut labels = Vec::new();
        if self.eat(&Tok::RParen) {
            return Ok(labels);
        }
        loop {
            labels.push(self.ident("a label name")?);
            if self.eat(&Tok::Comma) {
                if self.eat(&Tok::RParen) {
                    return Ok(labels);
                }
                continue;
            }
            self.expect(Tok::RParen, "',' or ')'")?;
            return Ok(labels);
        }
    }

    fn grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        let without = if self.is_ident("by") {
            false
        } else if self.is_ident("without") {
            true
        } else {
            return Ok(None);
        };
        self.bump();
        Ok(Some(Grouping {
            without,
            labels: self.label_list()?,
        }))
    }

    fn range_agg(&mut self, func: RangeFunc) -> Result<MetricExpr, ParseError> {
        self.expect(Tok::LParen, "'(' after the range function")?;
        let param = if func == RangeFunc::QuantileOverTime {
            let q = self.number("the quantile (a number between 0 and 1)")?;
            self.expect(Tok::Comma, "','")?;
            Some(q)
        } else {
            None
        };
        let open_paren = self.eat(&Tok::LParen);
        let mut log = self.log_expr_until_range()?;
        if open_paren {
            self.expect(Tok::RParen, "')'")?;
        }
        let range_pos = self.pos();
        if !matches!(self.peek(), Tok::LBracket) && log.range.is_none() {
            return self.err("a range like [5m]");
        }
        if self.eat(&Tok::LBracket) {
            if log.range.is_some() {
                return Err(ParseError::new(self.src, range_pos, "duplicate range"));
            }
            log.range = Some(self.duration("a duration like 5m")?);
            self.expect(Tok::RBracket, "']'")?;
        }
        let mut offset_ns = 0;
        if self.is_ident("offset") {
            self.bump();
            offset_ns = self.duration("an offset duration like 1h")?;
        }
        // A pipeline may also follow the range: count_over_time({a="b"}[5m] |= "x").
        if log.pipeline_after_range_allowed {
            self.pipeline(&mut log.expr.pipeline)?;
        }
        self.expect(Tok::RParen, "')' closing the range aggregation")?;
        let grouping = self.grouping()?;
        let has_unwrap = matches!(log.expr.pipeline.last(), Some(Stage::Unwrap(_)))
            || log
                .expr
                .pipeline
                .iter()
                .any(|s| matches!(s, Stage::Unwrap(_)));
        if func.needs_unwrap() && !has_unwrap {
            return Err(ParseError::new(
                self.src,
                range_pos,
                "this range function needs an unwrapped label: add `| unwrap <label>` before the range",
            ));
        }
        // `rate` takes both forms (Loki: the per-second sum of unwrapped values); the others take one.
        if !func.needs_unwrap() && func != RangeFunc::Rate && has_unwrap {
            return Err(ParseError::new(
                self.src,
                range_pos,
                "unwrap is only valid with the *_over_time functions that aggregate values",
            ));
        }
        if grouping.is_some() && !func.needs_unwrap() {
            return Err(ParseError::new(
                self.src,
                range_pos,
                "grouping after a range aggregation is only valid for unwrapped ranges; use sum by (…) (…)",
            ));
        }
        Ok(MetricExpr::Range {
            func,
            param,
            log: log.expr,
            range_ns: log.range.unwrap_or(0),
            offset_ns,
            grouping,
        })
    }

    fn vector_agg(&mut self, op: VecOp) -> Result<MetricExpr, ParseError> {
        let mut grouping = self.grouping()?;
        self.expect(Tok::LParen, "'(' after the aggregation")?;
        let param = if matches!(op, VecOp::Topk | VecOp::Bottomk) {
            let k = self.number("k (a number)")?;
            self.expect(Tok::Comma, "','")?;
            Some(k)
        } else {
            None
        };
        let expr = self.metric("a metric expression")?;
        self.expect(Tok::RParen, "')'")?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        Ok(MetricExpr::Vector {
            op,
            param,
            grouping,
            expr: Box::new(expr),
        })
    }
}

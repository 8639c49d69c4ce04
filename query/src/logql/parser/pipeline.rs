//! Pipeline stages after a selector: line filters (`|= "x"`, `|~`, `|>`), parsers (`json`, `logfmt`, `pattern`,
//! `regexp`, `unpack`), formatters (`line_format`, `label_format`), `drop`/`keep`, `unwrap`, and label filter
//! expressions (`status >= 500 and level="error"`).

use super::Parser;
use crate::logql::ast::*;
use crate::logql::lexer::Tok;
use crate::logql::ParseError;

impl<'a> Parser<'a> {
    pub(super) fn pipeline(&mut self, stages: &mut Vec<Stage>) -> Result<(), ParseError> {
        loop {
            let op = match self.peek() {
                Tok::PipeEq => Some(LineOp::Contains),
                Tok::Neq => Some(LineOp::NotContains),
                Tok::PipeTilde => Some(LineOp::Regex),
                Tok::NotTilde => Some(LineOp::NotRegex),
                Tok::PipeGt => Some(LineOp::Pattern),
                Tok::NotGt => Some(LineOp::NotPattern),
                Tok::Pipe => None,
                _ => return Ok(()),
            };
            self.bump();
            self.operator()?;
            if let Some(op) = op {
                let mut values = vec![self.string("a quoted string after the line filter")?];
                while self.is_ident("or") && matches!(self.peek_at(1), Tok::Str(_)) {
                    self.operator()?;
                    self.bump();
                    values.push(self.string("a quoted string")?);
                }
                stages.push(Stage::LineFilter { op, values });
                continue;
            }
            stages.push(self.stage()?);
        }
    }

    fn stage(&mut self) -> Result<Stage, ParseError> {
        let name = match self.peek() {
            Tok::Ident(s) => s.clone(),
            Tok::LParen => return Ok(Stage::LabelFilter(self.label_filter()?)),
            _ => return self.err("a parser, formatter or label filter after '|'"),
        };
        // A label filter starts with `name op`, a stage keyword is not followed by an operator.
        let next_is_op = matches!(
            self.peek_at(1),
            Tok::Eq
                | Tok::EqEq
                | Tok::Neq
                | Tok::EqTilde
                | Tok::NotTilde
                | Tok::Gt
                | Tok::Ge
                | Tok::Lt
                | Tok::Le
        );
        if next_is_op {
            return Ok(Stage::LabelFilter(self.label_filter()?));
        }
        self.bump();
        Ok(match name.as_str() {
            "json" => Stage::Json(self.extraction_params()?),
            "logfmt" => {
                let (mut strict, mut keep_empty) = (false, false);
                while *self.peek() == Tok::Minus && *self.peek_at(1) == Tok::Minus {
                    self.bump();
                    self.bump();
                    match self
                        .ident("a logfmt flag (--strict or --keep-empty)")?
                        .as_str()
                    {
                        "strict" => strict = true,
                        "keep" | "keep_empty" => keep_empty = true,
                        other => {
                            return Err(ParseError::new(
                                self.src,
                                self.pos(),
                                &format!(
                                    "unknown logfmt flag --{other} (use --strict or --keep-empty)"
                                ),
                            ))
                        }
                    }
                    // `--keep-empty` lexes as keep, -, empty.
                    if *self.peek() == Tok::Minus && self.peek_at(1) == &Tok::Ident("empty".into())
                    {
                        self.bump();
                        self.bump();
                        keep_empty = true;
                    }
                }
                Stage::Logfmt {
                    strict,
                    keep_empty,
                    params: self.extraction_params()?,
                }
            }
            "pattern" => Stage::Pattern(self.string("a quoted pattern like \"<ip> - <_>\"")?),
            "regexp" => Stage::Regexp(self.string("a quoted regex with named groups")?),
            "unpack" => Stage::Unpack,
            "decolorize" => Stage::Decolorize,
            "line_format" => Stage::LineFormat(self.string("a quoted template")?),
            "label_format" => {
                let mut items = Vec::new();
                loop {
                    let dst = self.ident("a label name")?;
                    self.expect(Tok::Eq, "'='")?;
                    match self.peek().clone() {
                        Tok::Ident(src) => {
                            self.bump();
                            items.push(LabelFmt::Rename { dst, src });
                        }
                        Tok::Str(template) => {
                            self.bump();
                            items.push(LabelFmt::Template { dst, template });
                        }
                        _ => return self.err("a label name or a quoted template"),
                    }
                    if !self.eat(&Tok::Comma) {
                        break;
                    }
                }
                Stage::LabelFormat(items)
            }
            "drop" | "keep" => {
                let mut items = Vec::new();
                loop {
                    let label = self.ident("a label name")?;
                    let matcher = match self.peek() {
                        Tok::Eq | Tok::Neq | Tok::EqTilde | Tok::NotTilde => {
                            self.i -= 1;
                            self.operator()?;
                            Some(self.matcher()?)
                        }
                        _ => None,
                    };
                    items.push(DropKeep {
                        name: label,
                        matcher,
                    });
                    if !self.eat(&Tok::Comma) {
                        break;
                    }
                }
                if name == "drop" {
                    Stage::Drop(items)
                } else {
                    Stage::Keep(items)
                }
            }
            "unwrap" => {
                let (conv, label) = match (self.peek().clone(), self.peek_at(1).clone()) {
                    (Tok::Ident(f), Tok::LParen)
                        if f == "duration" || f == "duration_seconds" || f == "bytes" =>
                    {
                        self.bump();
                        self.bump();
                        let l = self.ident("a label name")?;
                        self.expect(Tok::RParen, "')'")?;
                        let c = if f == "bytes" {
                            UnwrapConv::Bytes
                        } else {
                            UnwrapConv::Duration
                        };
                        (c, l)
                    }
                    _ => (UnwrapConv::None, self.ident("a label name to unwrap")?),
                };
                let mut filters = Vec::new();
                while *self.peek() == Tok::Pipe {
                    self.bump();
                    filters.push(self.label_filter()?);
                }
                Stage::Unwrap(Unwrap {
                    label,
                    conv,
                    filters,
                })
            }
            other => {
                self.i -= 1;
                return Err(ParseError::new(
                    self.src,
                    self.pos(),
                    &format!(
                        "unknown pipeline stage {other:?} (expected json, logfmt, pattern, regexp, unpack, line_format, label_format, drop, keep, unwrap, decolorize or a label filter)"
                    ),
                ));
            }
        })
    }

    fn extraction_params(&mut self) -> Result<Vec<(String, String)>, ParseError> {
        let mut out = Vec::new();
        while let Tok::Ident(label) = self.peek().clone() {
            if matches!(self.peek_at(1), Tok::Eq) {
                self.bump();
                self.bump();
                out.push((label, self.string("a quoted expression")?));
            } else if matches!(
                self.peek_at(1),
                Tok::Comma | Tok::Pipe | Tok::Eof | Tok::RParen | Tok::LBracket
            ) && !matches!(label.as_str(), "or" | "and")
            {
                self.bump();
                out.push((label.replace('.', "_"), label));
            } else {
                break;
            }
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        Ok(out)
    }

    fn label_filter(&mut self) -> Result<LabelFilter, ParseError> {
        let mut lhs = self.label_filter_and()?;
        while self.is_ident("or") {
            self.operator()?;
            self.bump();
            let rhs = self.label_filter_and()?;
            lhs = LabelFilter::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn label_filter_and(&mut self) -> Result<LabelFilter, ParseError> {
        let mut lhs = self.label_filter_unary()?;
        while self.is_ident("and") || *self.peek() == Tok::Comma {
            self.operator()?;
            self.bump();
            let rhs = self.label_filter_unary()?;
            lhs = LabelFilter::And(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn label_filter_unary(&mut self) -> Result<LabelFilter, ParseError> {
        self.nested(Self::label_filter_unary_at)
    }

    fn label_filter_unary_at(&mut self) -> Result<LabelFilter, ParseError> {
        if self.eat(&Tok::LParen) {
            let inner = self.label_filter()?;
            self.expect(Tok::RParen, "')'")?;
            return Ok(inner);
        }
        let name = self.ident("a label name")?;
        let op_pos = self.i;
        let op = self.bump();
        let value_tok = self.peek().clone();
        let cmp = match op {
            Tok::Eq | Tok::EqEq => CmpOp::Eq,
            Tok::Neq => CmpOp::Neq,
            Tok::Gt => CmpOp::Gt,
            Tok::Ge => CmpOp::Ge,
            Tok::Lt => CmpOp::Lt,
            Tok::Le => CmpOp::Le,
            Tok::EqTilde | Tok::NotTilde => {
                let value = self.string("a quoted regex")?;
                let op = if op == Tok::EqTilde {
                    MatchOp::Re
                } else {
                    MatchOp::Nre
                };
                return Ok(LabelFilter::String(Matcher { name, op, value }));
            }
            _ => {
                self.i = op_pos;
                return self.err("a comparison operator (= != =~ !~ > >= < <=)");
            }
        };
        let neg = matches!(value_tok, Tok::Minus);
        if neg {
            self.bump();
        }
        let sign = if neg { -1.0 } else { 1.0 };
        let tok = self.peek().clone();
        if !matches!(tok, Tok::Eof) {
            self.bump();
        }
        match tok {
            Tok::Str(value) if !neg && matches!(cmp, CmpOp::Eq | CmpOp::Neq) => {
                let op = if cmp == CmpOp::Eq {
                    MatchOp::Eq
                } else {
                    MatchOp::Neq
                };
                Ok(LabelFilter::String(Matcher { name, op, value }))
            }
            Tok::Num(v) => Ok(LabelFilter::Number {
                name,
                op: cmp,
                value: sign * v,
            }),
            Tok::Duration(d) => Ok(LabelFilter::Duration {
                name,
                op: cmp,
                value_ns: if neg { -d } else { d },
            }),
            Tok::Bytes(b) => Ok(LabelFilter::Bytes {
                name,
                op: cmp,
                value: sign * b,
            }),
            _ => {
                if !matches!(tok, Tok::Eof) {
                    self.i -= 1;
                }
                self.err("a quoted string (with = or !=), a number, a duration or a bytes value")
            }
        }
    }
}

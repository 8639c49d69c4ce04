//! LogQL parser: recursive descent over [`lexer`](super::lexer) tokens, with Prometheus operator precedence.

use super::ast::*;
use super::lexer::{lex, Spanned, Tok};
use super::ParseError;

/// Parses a whole LogQL query.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    let toks = lex(src)?;
    let mut p = Parser { src, toks, i: 0 };
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

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Spanned>,
    i: usize,
}

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

    // ---- expressions -------------------------------------------------------------------------

    fn expr_any(&mut self, min_prec: u8) -> Result<Any, ParseError> {
        let start = self.pos();
        let mut lhs = self.unary()?;
        while let Some((op, prec)) = binop_prec(self.peek()) {
            if prec < min_prec {
                break;
            }
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

    // ---- log queries ---------------------------------------------------------------------------

    fn log_expr(&mut self) -> Result<LogExpr, ParseError> {
        let selector = self.selector()?;
        let mut pipeline = Vec::new();
        self.pipeline(&mut pipeline)?;
        Ok(LogExpr { selector, pipeline })
    }

    fn log_expr_until_range(&mut self) -> Result<RangeLog, ParseError> {
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
                matchers.push(self.matcher()?);
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

    fn matcher(&mut self) -> Result<Matcher, ParseError> {
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

    fn pipeline(&mut self, stages: &mut Vec<Stage>) -> Result<(), ParseError> {
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
            if let Some(op) = op {
                let mut values = vec![self.string("a quoted string after the line filter")?];
                while self.is_ident("or") && matches!(self.peek_at(1), Tok::Str(_)) {
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
            self.bump();
            let rhs = self.label_filter_and()?;
            lhs = LabelFilter::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn label_filter_and(&mut self) -> Result<LabelFilter, ParseError> {
        let mut lhs = self.label_filter_unary()?;
        while self.is_ident("and") || *self.peek() == Tok::Comma {
            self.bump();
            let rhs = self.label_filter_unary()?;
            lhs = LabelFilter::And(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn label_filter_unary(&mut self) -> Result<LabelFilter, ParseError> {
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

struct RangeLog {
    expr: LogExpr,
    range: Option<i64>,
    pipeline_after_range_allowed: bool,
}

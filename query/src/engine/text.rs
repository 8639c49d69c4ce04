//! The full-text query language of `q`: terms, `"phrases"`, prefixes `foo*`, `AND`/`OR`/`NOT` (and `-foo`),
//! parentheses and `field:value` on keyword fields. Adjacent terms are AND-ed.
//!
//! Parsing is a pure function ([`parse`]) reporting the byte position of a syntax error; [`to_query`] turns
//! the tree into a tantivy query on the `message` field, tokenizing terms exactly as the indexer does.

use crate::error::QueryError;
use logmind_indexer::schema::LogSchema;
use logmind_indexer::tokenizer::tokenize;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, Occur, PhrasePrefixQuery, PhraseQuery, Query, RegexQuery,
    TermQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::Term;

/// Deepest nesting of parentheses / NOT accepted (keeps recursion bounded).
const MAX_DEPTH: usize = 32;

/// Most words and phrases one query may have.
pub const MAX_TERMS: usize = 128;

/// Most prefix terms (`foo*`) one query may have: each expands over the term dictionary and takes a bitset per
/// segment; 20,000 of them in one 60 KB query held 1.9 GB and ran for minutes past the deadline.
pub const MAX_PREFIXES: usize = 16;

/// A parsed full-text query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextAst {
    /// A word; `prefix` when it ended with `*`.
    Term { text: String, prefix: bool },
    /// A quoted phrase; `prefix` when followed by `*`.
    Phrase { text: String, prefix: bool },
    /// `field:value` on a keyword field (exact).
    Field { field: String, value: String },
    /// All must match.
    And(Vec<TextAst>),
    /// Any must match.
    Or(Vec<TextAst>),
    /// Must not match.
    Not(Box<TextAst>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Word(String, bool),
    Phrase(String, bool),
}

fn syntax(query: &str, position: usize, message: &str) -> QueryError {
    QueryError::Syntax {
        query: query.to_string(),
        position,
        message: message.to_string(),
    }
}

fn lex(q: &str) -> Result<Vec<(usize, Tok)>, QueryError> {
    let mut out = Vec::new();
    let bytes = q.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                out.push((i, Tok::LParen));
                i += 1;
            }
            b')' => {
                out.push((i, Tok::RParen));
                i += 1;
            }
            b'-' if i + 1 < bytes.len() && !bytes[i + 1].is_ascii_whitespace() => {
                out.push((i, Tok::Not));
                i += 1;
            }
            b'+' => i += 1,
            b'"' => {
                let start = i;
                let rest = &q[i + 1..];
                let Some(end) = rest.find('"') else {
                    return Err(syntax(q, start, "unterminated phrase: missing closing \""));
                };
                let text = rest[..end].to_string();
                i += 1 + end + 1;
                let prefix = bytes.get(i) == Some(&b'*');
                if prefix {
                    i += 1;
                }
                out.push((start, Tok::Phrase(text, prefix)));
            }
            _ => {
                let start = i;
                while i < bytes.len()
                    && !matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r' | b'(' | b')' | b'"')
                {
                    i += 1;
                }
                let word = &q[start..i];
                let tok = match word {
                    "AND" | "&&" => Tok::And,
                    "OR" | "||" => Tok::Or,
                    "NOT" => Tok::Not,
                    _ => match word.strip_suffix('*') {
                        Some(w) if !w.is_empty() => Tok::Word(w.to_string(), true),
                        Some(_) => return Err(syntax(q, start, "a lone * is not a term")),
                        None => Tok::Word(word.to_string(), false),
                    },
                };
                out.push((start, tok));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    q: &'a str,
    toks: Vec<(usize, Tok)>,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }
    fn here(&self) -> usize {
        self.toks
            .get(self.pos)
            .map(|(p, _)| *p)
            .unwrap_or(self.q.len())
    }
    fn or(&mut self, depth: usize) -> Result<TextAst, QueryError> {
        let mut parts = vec![self.and(depth)?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            parts.push(self.and(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            TextAst::Or(parts)
        })
    }
    fn and(&mut self, depth: usize) -> Result<TextAst, QueryError> {
        let mut parts = vec![self.unary(depth)?];
        loop {
            match self.peek() {
                Some(Tok::And) => {
                    self.pos += 1;
                    parts.push(self.unary(depth)?);
                }
                Some(Tok::Or) | Some(Tok::RParen) | None => break,
                Some(_) => parts.push(self.unary(depth)?),
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            TextAst::And(parts)
        })
    }
    fn unary(&mut self, depth: usize) -> Result<TextAst, QueryError> {
        if depth > MAX_DEPTH {
            return Err(syntax(self.q, self.here(), "nested too deeply"));
        }
        let at = self.here();
        let Some((_, tok)) = self.toks.get(self.pos).cloned() else {
            return Err(syntax(
                self.q,
                at,
                "expected a term, phrase or ( at end of query",
            ));
        };
        self.pos += 1;
        match tok {
            Tok::Not => Ok(TextAst::Not(Box::new(self.unary(depth + 1)?))),
            Tok::LParen => {
                let inner = self.or(depth + 1)?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(syntax(self.q, at, "unbalanced parenthesis: missing )"));
                }
                self.pos += 1;
                Ok(inner)
            }
            Tok::Word(w, prefix) => Ok(word(w, prefix)),
            Tok::Phrase(text, prefix) => Ok(TextAst::Phrase { text, prefix }),
            Tok::RParen => Err(syntax(self.q, at, "unexpected )")),
            Tok::And | Tok::Or => Err(syntax(self.q, at, "operator without a left-hand term")),
        }
    }
}

fn word(w: String, prefix: bool) -> TextAst {
    if let Some((field, value)) = w.split_once(':') {
        if !prefix && !value.is_empty() && logmind_indexer::schema::KEYWORD_FIELDS.contains(&field)
        {
            return TextAst::Field {
                field: field.to_string(),
                value: value.to_string(),
            };
        }
    }
    TextAst::Term { text: w, prefix }
}

/// Parses a full-text query; errors name the byte position.
pub fn parse(q: &str) -> Result<TextAst, QueryError> {
    let toks = lex(q)?;
    if toks.is_empty() {
        return Err(syntax(q, 0, "empty query"));
    }
    let terms = toks
        .iter()
        .filter(|(_, t)| matches!(t, Tok::Word(..) | Tok::Phrase(..)));
    if let Some((at, _)) = terms.clone().nth(MAX_TERMS) {
        return Err(syntax(
            q,
            *at,
            &format!("more than {MAX_TERMS} words and phrases"),
        ));
    }
    let prefix = |t: &&(usize, Tok)| matches!(t.1, Tok::Word(_, true) | Tok::Phrase(_, true));
    if let Some((at, _)) = terms.filter(prefix).nth(MAX_PREFIXES) {
        return Err(syntax(
            q,
            *at,
            &format!("more than {MAX_PREFIXES} prefix terms (foo*)"),
        ));
    }
    let mut p = Parser { q, toks, pos: 0 };
    let ast = p.or(0)?;
    if p.pos < p.toks.len() {
        return Err(syntax(q, p.here(), "unexpected )"));
    }
    Ok(ast)
}

/// The run-level tokens of a text: for each run of joined parts, its whole token and position.
fn runs(text: &str) -> Vec<(usize, String)> {
    let mut toks = Vec::new();
    tokenize(text, &mut toks);
    let mut out: Vec<(usize, String, usize)> = Vec::new(); // (position, text, offset_to)
    for t in toks {
        match out.last() {
            // A part inside the previous whole run: same or later position but within its byte span.
            Some((_, _, end)) if t.offset_to <= *end => {}
            _ => out.push((t.position, t.text, t.offset_to)),
        }
    }
    out.into_iter().map(|(p, t, _)| (p, t)).collect()
}

fn prefix_query(schema: &LogSchema, text: &str) -> Result<Box<dyn Query>, QueryError> {
    let pattern = format!("{}.*", regex::escape(&text.to_lowercase()));
    let q = RegexQuery::from_pattern(&pattern, schema.message)
        .map_err(|e| QueryError::BadRequest(format!("prefix {text:?}: {e}")))?;
    Ok(Box::new(q))
}

fn text_query(schema: &LogSchema, text: &str, prefix: bool) -> Result<Box<dyn Query>, QueryError> {
    let r = runs(text);
    if prefix && r.len() <= 1 {
        let t = text.trim_matches(|c: char| !c.is_alphanumeric() && c != '_');
        if t.is_empty() {
            return Ok(Box::new(EmptyQuery));
        }
        return prefix_query(schema, t);
    }
    let base = r.first().map(|(p, _)| *p).unwrap_or(0);
    let terms: Vec<(usize, Term)> = r
        .iter()
        .map(|(p, t)| (p - base, Term::from_field_text(schema.message, t)))
        .collect();
    Ok(match terms.len() {
        0 => Box::new(EmptyQuery),
        1 => Box::new(TermQuery::new(terms[0].1.clone(), IndexRecordOption::Basic)),
        _ if prefix => Box::new(PhrasePrefixQuery::new_with_offset(terms)),
        _ => Box::new(PhraseQuery::new_with_offset(terms)),
    })
}

/// Builds the tantivy query of a parsed full-text query.
pub fn to_query(schema: &LogSchema, ast: &TextAst) -> Result<Box<dyn Query>, QueryError> {
    Ok(match ast {
        TextAst::Term { text, prefix } | TextAst::Phrase { text, prefix } => {
            text_query(schema, text, *prefix)?
        }
        TextAst::Field { field, value } => {
            let f = schema
                .keyword(field)
                .ok_or_else(|| QueryError::BadRequest(format!("unknown field {field:?}")))?;
            Box::new(TermQuery::new(
                Term::from_field_text(f, value),
                IndexRecordOption::Basic,
            ))
        }
        TextAst::And(parts) => {
            let mut clauses = Vec::new();
            let mut positive = false;
            for p in parts {
                match p {
                    TextAst::Not(inner) => clauses.push((Occur::MustNot, to_query(schema, inner)?)),
                    other => {
                        positive = true;
                        clauses.push((Occur::Must, to_query(schema, other)?));
                    }
                }
            }
            if !positive {
                clauses.push((Occur::Must, Box::new(AllQuery)));
            }
            Box::new(BooleanQuery::new(clauses))
        }
        TextAst::Or(parts) => {
            let clauses = parts
                .iter()
                .map(|p| Ok((Occur::Should, to_query(schema, p)?)))
                .collect::<Result<Vec<_>, QueryError>>()?;
            Box::new(BooleanQuery::new(clauses))
        }
        TextAst::Not(inner) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
            (Occur::MustNot, to_query(schema, inner)?),
        ])),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> TextAst {
        TextAst::Term {
            text: s.into(),
            prefix: false,
        }
    }

    #[test]
    fn parses_forms() {
        assert_eq!(parse("timeout").unwrap(), t("timeout"));
        assert_eq!(parse("a b").unwrap(), TextAst::And(vec![t("a"), t("b")]));
        assert_eq!(
            parse("a OR b c").unwrap(),
            TextAst::Or(vec![t("a"), TextAst::And(vec![t("b"), t("c")])])
        );
        assert_eq!(
            parse("a AND NOT b").unwrap(),
            TextAst::And(vec![t("a"), TextAst::Not(Box::new(t("b")))])
        );
        assert_eq!(parse("-b").unwrap(), TextAst::Not(Box::new(t("b"))));
        assert_eq!(
            parse("\"db timeout\"").unwrap(),
            TextAst::Phrase {
                text: "db timeout".into(),
                prefix: false
            }
        );
        assert_eq!(
            parse("time*").unwrap(),
            TextAst::Term {
                text: "time".into(),
                prefix: true
            }
        );
        assert_eq!(
            parse("app:backend").unwrap(),
            TextAst::Field {
                field: "app".into(),
                value: "backend".into()
            }
        );
        assert_eq!(
            parse("(a OR b) c").unwrap(),
            TextAst::And(vec![TextAst::Or(vec![t("a"), t("b")]), t("c")])
        );
        assert_eq!(parse("10.0.0.1:5432").unwrap(), t("10.0.0.1:5432"));
    }

    #[test]
    fn syntax_errors_name_the_position() {
        for (q, pos) in [
            ("\"abc", 0),
            ("a (b", 2),
            ("a b)", 3),
            ("a AND", 5),
            ("OR a", 0),
            ("", 0),
            ("a *", 2),
        ] {
            match parse(q) {
                Err(QueryError::Syntax { position, .. }) => assert_eq!(position, pos, "{q}"),
                other => panic!("{q}: {other:?}"),
            }
        }
    }

    #[test]
    fn terms_and_prefixes_are_bounded() {
        let words = |n: usize, w: &str| vec![w; n].join(" ");
        assert!(parse(&words(MAX_TERMS, "a")).is_ok());
        let e = parse(&words(MAX_TERMS + 1, "a")).expect_err("too many");
        assert!(e.to_string().contains("words and phrases"), "{e}");
        assert!(parse(&words(MAX_PREFIXES, "a*")).is_ok());
        assert!(parse(&format!("{} \"x y\"*", words(MAX_PREFIXES - 1, "a*"))).is_ok());
        for q in [
            words(MAX_PREFIXES + 1, "a*"),
            format!("{} \"x y\"*", words(MAX_PREFIXES, "a*")),
        ] {
            let e = parse(&q).expect_err("too many prefixes");
            assert!(e.to_string().contains("prefix terms"), "{e}");
        }
        // 20,000 of them (the 60 KB query that held 1.9 GB): refused at the first bound it passes.
        let e = parse(&words(20_000, "a*")).expect_err("refused");
        let msg = e.to_string();
        assert!(
            msg.ends_with("more than 128 words and phrases"),
            "{}",
            &msg[msg.len() - 80..]
        );
    }

    #[test]
    fn runs_keep_whole_identifiers() {
        assert_eq!(
            runs("payment.failed now"),
            vec![(0, "payment.failed".into()), (2, "now".into())]
        );
        assert_eq!(runs("req-7F3A"), vec![(0, "req-7f3a".into())]);
    }

    proptest! {
        #[test]
        fn parse_never_panics(q in "[ a-zA-Z()\"*:\\-]{0,40}") {
            let _ = parse(&q);
        }

        #[test]
        fn deep_nesting_is_refused_not_overflowed(n in 0usize..200) {
            let q = format!("{}a{}", "(".repeat(n), ")".repeat(n));
            let r = parse(&q);
            prop_assert_eq!(r.is_ok(), n <= MAX_DEPTH);
        }
    }
}

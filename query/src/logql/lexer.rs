//! LogQL lexer: bytes in, tokens with byte positions out.

use super::ParseError;

/// A lexical token.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `,`
    Comma,
    /// `|`
    Pipe,
    /// `|=`
    PipeEq,
    /// `|~`
    PipeTilde,
    /// `|>`
    PipeGt,
    /// `!>`
    NotGt,
    /// `!=`
    Neq,
    /// `!~`
    NotTilde,
    /// `=`
    Eq,
    /// `==`
    EqEq,
    /// `=~`
    EqTilde,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `%`
    Percent,
    /// `^`
    Caret,
    /// A quoted string (escapes resolved) or a backtick raw string.
    Str(String),
    /// A plain number.
    Num(f64),
    /// A duration literal such as `5m` or `1h30m`, in nanoseconds.
    Duration(i64),
    /// A bytes literal such as `10KB` or `5MiB`, in bytes.
    Bytes(f64),
    /// An identifier (label name, keyword, function name).
    Ident(String),
    /// End of input.
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Num(n) => format!("number {n}"),
            Tok::Duration(_) => "duration".to_string(),
            Tok::Bytes(_) => "bytes value".to_string(),
            Tok::Ident(s) => format!("{s:?}"),
            Tok::Eof => "end of query".to_string(),
            other => format!("{:?}", symbol(other)),
        }
    }
}

fn symbol(t: &Tok) -> &'static str {
    match t {
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::LBracket => "[",
        Tok::RBracket => "]",
        Tok::Comma => ",",
        Tok::Pipe => "|",
        Tok::PipeEq => "|=",
        Tok::PipeTilde => "|~",
        Tok::PipeGt => "|>",
        Tok::NotGt => "!>",
        Tok::Neq => "!=",
        Tok::NotTilde => "!~",
        Tok::Eq => "=",
        Tok::EqEq => "==",
        Tok::EqTilde => "=~",
        Tok::Gt => ">",
        Tok::Ge => ">=",
        Tok::Lt => "<",
        Tok::Le => "<=",
        Tok::Plus => "+",
        Tok::Minus => "-",
        Tok::Star => "*",
        Tok::Slash => "/",
        Tok::Percent => "%",
        Tok::Caret => "^",
        _ => "?",
    }
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    /// The token.
    pub tok: Tok,
    /// Byte offset in the query.
    pub pos: usize,
}

const DURATION_UNITS: [(&str, i64); 9] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("w", 604_800_000_000_000),
];

fn bytes_unit(u: &str) -> Option<f64> {
    Some(match u.to_ascii_lowercase().as_str() {
        "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "pb" => 1e15,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    })
}

/// Parses a Go-style duration (`1h30m`, `500ms`, `1.5s`) into nanoseconds.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    let mut rest = s;
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        let per = DURATION_UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, p)| *p)
            .or(if unit == "y" {
                Some(365 * 86_400_000_000_000)
            } else {
                None
            })?;
        total += n * per as f64;
        rest = &rest[unit_end..];
    }
    if total.is_finite() && total.abs() < 9.2e18 {
        Some(total as i64)
    } else {
        None
    }
}

/// Splits a query into tokens.
pub fn lex(src: &str) -> Result<Vec<Spanned>, ParseError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            // Comment to end of line.
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let pos = i;
        let two = if i + 1 < b.len() {
            Some(b[i + 1])
        } else {
            None
        };
        let (tok, len) = match (c, two) {
            (b'|', Some(b'=')) => (Tok::PipeEq, 2),
            (b'|', Some(b'~')) => (Tok::PipeTilde, 2),
            (b'|', Some(b'>')) => (Tok::PipeGt, 2),
            (b'|', _) => (Tok::Pipe, 1),
            (b'!', Some(b'=')) => (Tok::Neq, 2),
            (b'!', Some(b'~')) => (Tok::NotTilde, 2),
            (b'!', Some(b'>')) => (Tok::NotGt, 2),
            (b'=', Some(b'=')) => (Tok::EqEq, 2),
            (b'=', Some(b'~')) => (Tok::EqTilde, 2),
            (b'=', _) => (Tok::Eq, 1),
            (b'>', Some(b'=')) => (Tok::Ge, 2),
            (b'>', _) => (Tok::Gt, 1),
            (b'<', Some(b'=')) => (Tok::Le, 2),
            (b'<', _) => (Tok::Lt, 1),
            (b'{', _) => (Tok::LBrace, 1),
            (b'}', _) => (Tok::RBrace, 1),
            (b'(', _) => (Tok::LParen, 1),
            (b')', _) => (Tok::RParen, 1),
            (b'[', _) => (Tok::LBracket, 1),
            (b']', _) => (Tok::RBracket, 1),
            (b',', _) => (Tok::Comma, 1),
            (b'+', _) => (Tok::Plus, 1),
            (b'-', _) => (Tok::Minus, 1),
            (b'*', _) => (Tok::Star, 1),
            (b'/', _) => (Tok::Slash, 1),
            (b'%', _) => (Tok::Percent, 1),
            (b'^', _) => (Tok::Caret, 1),
            (b'"', _) => {
                let (s, len) = lex_string(src, i)?;
                (Tok::Str(s), len)
            }
            (b'`', _) => match src[i + 1..].find('`') {
                Some(end) => (Tok::Str(src[i + 1..i + 1 + end].to_string()), end + 2),
                None => return Err(ParseError::new(src, pos, "unterminated raw string")),
            },
            (c, _)
                if c.is_ascii_digit() || (c == b'.' && two.is_some_and(|d| d.is_ascii_digit())) =>
            {
                lex_number(src, i)?
            }
            (c, _) if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.')
                {
                    j += 1;
                }
                (Tok::Ident(src[i..j].to_string()), j - i)
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(ParseError::new(
                    src,
                    pos,
                    &format!("unexpected character {ch:?}"),
                ));
            }
        };
        out.push(Spanned { tok, pos });
        i += len;
    }
    out.push(Spanned {
        tok: Tok::Eof,
        pos: src.len(),
    });
    Ok(out)
}

fn lex_string(src: &str, start: usize) -> Result<(String, usize), ParseError> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 2)),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, 'u')) => {
                    let hex: String = (0..4)
                        .filter_map(|_| chars.next().map(|(_, c)| c))
                        .collect();
                    match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        Some(ch) => out.push(ch),
                        None => {
                            return Err(ParseError::new(src, start + 1 + i, "invalid \\u escape"))
                        }
                    }
                }
                // Unknown escapes are kept as written (regexes such as "\d" stay usable).
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(ParseError::new(src, start, "unterminated string"))
}

fn lex_number(src: &str, start: usize) -> Result<(Tok, usize), ParseError> {
    let b = src.as_bytes();
    let mut j = start;
    // Hex integers.
    if b[j] == b'0' && j + 1 < b.len() && (b[j + 1] == b'x' || b[j + 1] == b'X') {
        let mut k = j + 2;
        while k < b.len() && b[k].is_ascii_hexdigit() {
            k += 1;
        }
        let v = i64::from_str_radix(&src[j + 2..k], 16)
            .map_err(|_| ParseError::new(src, start, "invalid hex number"))?;
        return Ok((Tok::Num(v as f64), k - start));
    }
    // A run of digits, dots, letters (units, exponents) forms one literal: 1h30m, 10KiB, 1e3, 0.5.
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'.' || src[j..].starts_with('µ'))
    {
        // `µ` (µs) is two bytes; every other accepted byte is ASCII, so `j` stays on a char boundary.
        j += if b[j] == b'.' || b[j].is_ascii_alphanumeric() {
            1
        } else {
            'µ'.len_utf8()
        };
        // Allow a sign right after an exponent marker: 1e-3.
        if j < b.len() && (b[j] == b'-' || b[j] == b'+') && (b[j - 1] == b'e' || b[j - 1] == b'E') {
            let all_digits_before = src[start..j - 1]
                .bytes()
                .all(|c| c.is_ascii_digit() || c == b'.');
            if all_digits_before {
                j += 1;
            }
        }
    }
    let text = &src[start..j];
    if let Ok(v) = text.parse::<f64>() {
        return Ok((Tok::Num(v), j - start));
    }
    if let Some(ns) = parse_go_duration(text) {
        return Ok((Tok::Duration(ns), j - start));
    }
    let unit_at = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    if let (Ok(n), Some(mult)) = (text[..unit_at].parse::<f64>(), bytes_unit(&text[unit_at..])) {
        return Ok((Tok::Bytes(n * mult), j - start));
    }
    Err(ParseError::new(
        src,
        start,
        &format!("invalid number, duration or bytes literal {text:?}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).expect("lex").into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn lexes_literals() {
        assert_eq!(
            toks("[5m] 1h30m 10KB 0.5 1e3 `a\\d`"),
            vec![
                Tok::LBracket,
                Tok::Duration(300_000_000_000),
                Tok::RBracket,
                Tok::Duration(5_400_000_000_000),
                Tok::Bytes(10_000.0),
                Tok::Num(0.5),
                Tok::Num(1000.0),
                Tok::Str("a\\d".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks(r#"|= "a\"b" != |~ !~ =~ == >= <="#)[..9],
            [
                Tok::PipeEq,
                Tok::Str("a\"b".into()),
                Tok::Neq,
                Tok::PipeTilde,
                Tok::NotTilde,
                Tok::EqTilde,
                Tok::EqEq,
                Tok::Ge,
                Tok::Le
            ]
        );
    }

    #[test]
    fn rejects_with_position() {
        let e = lex(r#"{app="x} "#).expect_err("unterminated");
        assert_eq!(e.pos, 5);
        let e = lex("{app=\"x\"} ? ").expect_err("bad char");
        assert_eq!(e.pos, 10);
    }
}

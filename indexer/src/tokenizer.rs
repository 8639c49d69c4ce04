//! The `message` tokenizer: keeps identifiers searchable.
//!
//! A token is a run of letters, digits and `_`, optionally joined by `.`, `-`, `/`, `:` or `@` (so ids, dotted
//! names, paths, hex, IPs and emails are one token: `7f3a9c21`, `com.example.Foo`, `/api/v1/users`). A joined run
//! is emitted whole *and* as its parts at the same positions, so both `payment.failed` and `failed` match.
//! Exception: hex groups joined by `-` with a group of 8+ digits (a UUID, a dashed hash) are one token only —
//! an id is searched whole, and its random groups would each add a term per event (a third of the index on
//! logs with a UUID per line).
//! Everything is lowercased.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy::Index;

/// Name under which the message tokenizer is registered.
pub const MESSAGE_TOKENIZER: &str = "logmind_message";

/// Registers logmind's tokenizers on an index (must be done on every open).
pub fn register_tokenizers(index: &Index) {
    index
        .tokenizers()
        .register(MESSAGE_TOKENIZER, MessageTokenizer::default());
}

/// See the module docs. Holds scratch buffers reused across documents (tantivy clones one per writer thread).
#[derive(Debug, Clone, Default)]
pub struct MessageTokenizer {
    spans: Vec<Span>,
    parts: Vec<(usize, usize)>,
    token: Token,
}

/// A token's byte range in the text and its position.
#[derive(Debug, Clone, Copy)]
struct Span {
    from: usize,
    to: usize,
    position: usize,
}

/// The token stream of [`MessageTokenizer`]: spans are computed eagerly (messages are short), token texts are
/// written into one reused [`Token`] as the stream advances.
#[derive(Debug)]
pub struct MessageTokenStream<'a> {
    text: &'a str,
    spans: &'a [Span],
    idx: usize,
    token: &'a mut Token,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Word,
    Joiner,
    Other,
}

/// The class of every ASCII byte.
static ASCII_CLASS: [Class; 128] = {
    let mut t = [Class::Other; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphanumeric() || c == b'_' {
            Class::Word
        } else if matches!(c, b'.' | b'-' | b'/' | b':' | b'@') {
            Class::Joiner
        } else {
            Class::Other
        };
        b += 1;
    }
    t
};

/// The class of the char starting at byte `i` and its length (ASCII decided on the byte alone, by table).
#[inline]
fn class(text: &str, i: usize) -> (Class, usize) {
    let b = text.as_bytes()[i];
    if let Some(&k) = ASCII_CLASS.get(usize::from(b)) {
        return (k, 1);
    }
    match text[i..].chars().next() {
        Some(c) if c.is_alphanumeric() => (Class::Word, c.len_utf8()),
        Some(c) => (Class::Other, c.len_utf8()),
        None => (Class::Other, 1),
    }
}

/// The spans of `text`'s tokens: each joined run `word (joiner+ word)*` whole (when it has several parts) at
/// the position of its first part, then its parts at consecutive positions.
fn spans(text: &str, parts: &mut Vec<(usize, usize)>, out: &mut Vec<Span>) {
    out.clear();
    let n = text.len();
    let mut position = 0usize;
    let mut i = 0usize;
    while i < n {
        let (k, l) = class(text, i);
        if k != Class::Word {
            i += l;
            continue;
        }
        parts.clear();
        let start = i;
        let mut part_start = i;
        let mut end = i;
        let mut in_word = true;
        let mut j = i;
        while j < n {
            let (k, l) = class(text, j);
            match k {
                Class::Word => {
                    if !in_word {
                        part_start = j;
                        in_word = true;
                    }
                    end = j + l;
                    j += l;
                }
                Class::Joiner => {
                    if in_word {
                        parts.push((part_start, end));
                        in_word = false;
                    }
                    // A joiner only continues the run if a word char or another joiner follows it.
                    if j + l < n && class(text, j + l).0 != Class::Other {
                        j += l;
                    } else {
                        break;
                    }
                }
                Class::Other => break,
            }
        }
        if in_word {
            parts.push((part_start, end));
        }
        i = j;
        if parts.len() > 1 {
            out.push(Span {
                from: start,
                to: end,
                position,
            });
            if is_hex_id(&text[start..end], parts) {
                // a UUID-like id: the whole only; its random groups would each be a term of their own
                position += 1;
                continue;
            }
        }
        for (p, &(from, to)) in parts.iter().enumerate() {
            out.push(Span {
                from,
                to,
                position: position + p,
            });
        }
        position += parts.len().max(1);
    }
}

/// True for a run of hex groups joined by `-` with one group of 8+ digits (UUIDs, dashed hashes): such a run
/// is indexed whole only.
fn is_hex_id(run: &str, parts: &[(usize, usize)]) -> bool {
    run.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && parts.iter().any(|&(f, t)| t - f >= 8)
}

/// Sets `token` to the lowercased text of a span.
fn fill(text: &str, s: Span, token: &mut Token) {
    let t = &text[s.from..s.to];
    token.text.clear();
    if t.is_ascii() {
        token.text.push_str(t);
        token.text.make_ascii_lowercase();
    } else {
        token.text.push_str(&t.to_lowercase());
    }
    token.offset_from = s.from;
    token.offset_to = s.to;
    token.position = s.position;
    token.position_length = 1;
}

/// Tokenizes `text` into `out` (exposed for the query layer, which must split query terms the same way).
pub fn tokenize(text: &str, out: &mut Vec<Token>) {
    let mut parts = Vec::new();
    let mut sp = Vec::new();
    spans(text, &mut parts, &mut sp);
    for s in sp {
        let mut t = Token::default();
        fill(text, s, &mut t);
        out.push(t);
    }
}

impl Tokenizer for MessageTokenizer {
    type TokenStream<'a> = MessageTokenStream<'a>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> MessageTokenStream<'a> {
        spans(text, &mut self.parts, &mut self.spans);
        MessageTokenStream {
            text,
            spans: &self.spans,
            idx: 0,
            token: &mut self.token,
        }
    }
}

impl TokenStream for MessageTokenStream<'_> {
    fn advance(&mut self) -> bool {
        let Some(&s) = self.spans.get(self.idx) else {
            return false;
        };
        self.idx += 1;
        fill(self.text, s, self.token);
        true
    }
    fn token(&self) -> &Token {
        self.token
    }
    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The char-by-char tokenizer the byte-level one replaced: the specification it must keep matching.
    fn reference(text: &str) -> Vec<(usize, usize, usize, String)> {
        let is_word = |c: char| c.is_alphanumeric() || c == '_';
        let is_joiner = |c: char| matches!(c, '.' | '-' | '/' | ':' | '@');
        let mut out = Vec::new();
        let mut position = 0usize;
        let mut chars = text.char_indices().peekable();
        while let Some(&(start, c)) = chars.peek() {
            if !is_word(c) {
                chars.next();
                continue;
            }
            let mut parts: Vec<(usize, usize)> = Vec::new();
            let (mut part_start, mut end, mut in_word) = (start, start, true);
            while let Some(&(i, c)) = chars.peek() {
                if is_word(c) {
                    if !in_word {
                        part_start = i;
                        in_word = true;
                    }
                    end = i + c.len_utf8();
                    chars.next();
                } else if is_joiner(c) {
                    if in_word {
                        parts.push((part_start, end));
                        in_word = false;
                    }
                    let mut look = chars.clone();
                    look.next();
                    match look.peek() {
                        Some(&(_, n)) if is_word(n) || is_joiner(n) => {
                            chars.next();
                        }
                        _ => break,
                    }
                } else {
                    break;
                }
            }
            if in_word {
                parts.push((part_start, end));
            }
            let run = &text[start..end];
            if parts.len() > 1
                && run.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
                && parts.iter().any(|(f, t)| t - f >= 8)
            {
                out.push((start, end, position, run.to_lowercase()));
                position += 1;
                continue;
            }
            if parts.len() > 1 {
                out.push((start, end, position, text[start..end].to_lowercase()));
            }
            for (i, &(from, to)) in parts.iter().enumerate() {
                out.push((from, to, position + i, text[from..to].to_lowercase()));
            }
            position += parts.len().max(1);
        }
        out
    }

    fn stream(text: &str) -> Vec<(usize, usize, usize, String)> {
        let mut tok = MessageTokenizer::default();
        let mut ts = tok.token_stream(text);
        let mut out = Vec::new();
        while ts.advance() {
            let t = ts.token();
            out.push((t.offset_from, t.offset_to, t.position, t.text.clone()));
        }
        out
    }

    proptest! {
        #[test]
        fn matches_the_reference(text in "[a-zA-Z0-9_ .:/@=\\-é€ÄßİΣ\t\n\u{1F600}]{0,60}") {
            prop_assert_eq!(stream(&text), reference(&text));
        }

        #[test]
        fn matches_the_reference_on_any_string(text in any::<String>()) {
            prop_assert_eq!(stream(&text), reference(&text));
        }
    }

    fn texts(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        tokenize(s, &mut out);
        out.into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn keeps_identifiers_and_parts() {
        assert_eq!(
            texts("GET /api/v1/users failed."),
            vec!["get", "api/v1/users", "api", "v1", "users", "failed"]
        );
        assert_eq!(texts("id=7F3A9C21"), vec!["id", "7f3a9c21"]);
        assert_eq!(
            texts("conn 10.0.3.17:5432"),
            vec!["conn", "10.0.3.17:5432", "10", "0", "3", "17", "5432"]
        );
        assert_eq!(
            texts("req 6971dcae-890e-498e-9d6d-5866a9afe33f ok req-abc12345"),
            vec![
                "req",
                "6971dcae-890e-498e-9d6d-5866a9afe33f",
                "ok",
                "req-abc12345",
                "req",
                "abc12345"
            ]
        );
        assert!(texts("").is_empty());
        assert!(texts("...---").is_empty());
    }
}

//! The `message` tokenizer: keeps identifiers searchable.
//!
//! A token is a run of letters, digits and `_`, optionally joined by `.`, `-`, `/`, `:` or `@` (so ids, dotted
//! names, paths, hex, IPs and emails are one token: `7f3a9c21`, `com.example.Foo`, `/api/v1/users`). A joined run
//! is emitted whole *and* as its parts at the same positions, so both `payment.failed` and `failed` match.
//! Everything is lowercased.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy::Index;

/// Name under which the message tokenizer is registered.
pub const MESSAGE_TOKENIZER: &str = "logmind_message";

/// Registers logmind's tokenizers on an index (must be done on every open).
pub fn register_tokenizers(index: &Index) {
    index
        .tokenizers()
        .register(MESSAGE_TOKENIZER, MessageTokenizer);
}

/// See the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageTokenizer;

/// The token stream of [`MessageTokenizer`]: tokens are computed eagerly (messages are short).
#[derive(Debug)]
pub struct MessageTokenStream {
    tokens: Vec<Token>,
    idx: usize,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_joiner(c: char) -> bool {
    matches!(c, '.' | '-' | '/' | ':' | '@')
}

/// Tokenizes `text` into `out` (exposed for the query layer, which must split query terms the same way).
pub fn tokenize(text: &str, out: &mut Vec<Token>) {
    let mut position = 0usize;
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if !is_word(c) {
            chars.next();
            continue;
        }
        // Collect a joined run: word (joiner+ word)*
        let mut parts: Vec<(usize, usize)> = Vec::new();
        let mut part_start = start;
        let mut end = start;
        let mut in_word = true;
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
                // A joiner only continues the run if a word char follows it.
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
        let push = |out: &mut Vec<Token>, from: usize, to: usize, pos: usize| {
            out.push(Token {
                offset_from: from,
                offset_to: to,
                position: pos,
                text: text[from..to].to_lowercase(),
                position_length: 1,
            });
        };
        if parts.len() > 1 {
            push(out, start, end, position);
        }
        for (i, &(from, to)) in parts.iter().enumerate() {
            push(out, from, to, position + i);
        }
        position += parts.len().max(1);
    }
}

impl Tokenizer for MessageTokenizer {
    type TokenStream<'a> = MessageTokenStream;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> MessageTokenStream {
        let mut tokens = Vec::new();
        tokenize(text, &mut tokens);
        MessageTokenStream { tokens, idx: 0 }
    }
}

impl TokenStream for MessageTokenStream {
    fn advance(&mut self) -> bool {
        if self.idx < self.tokens.len() {
            self.idx += 1;
            true
        } else {
            false
        }
    }
    fn token(&self) -> &Token {
        &self.tokens[self
            .idx
            .saturating_sub(1)
            .min(self.tokens.len().saturating_sub(1))]
    }
    fn token_mut(&mut self) -> &mut Token {
        let i = self
            .idx
            .saturating_sub(1)
            .min(self.tokens.len().saturating_sub(1));
        &mut self.tokens[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(texts("").is_empty());
        assert!(texts("...---").is_empty());
    }
}

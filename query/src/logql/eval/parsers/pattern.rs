//! The `pattern` stage and `|>` line filter: compiled `pattern` expressions (`"<ip> - <_> [<ts>]"`), literals
//! and captures matched left to right.

use crate::logql::eval::EvalError;

/// A compiled `pattern` expression: literals and captures.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    parts: Vec<PatternPart>,
}

#[derive(Debug, Clone, PartialEq)]
enum PatternPart {
    Literal(String),
    Capture(Option<String>),
}

impl Pattern {
    /// Compiles `"<ip> - <_> [<ts>] \"<method> <path>\""`.
    pub fn compile(src: &str) -> Result<Pattern, EvalError> {
        let mut parts = Vec::new();
        let mut rest = src;
        while !rest.is_empty() {
            match rest.find('<') {
                Some(p) => {
                    let close = rest[p..].find('>').map(|c| c + p);
                    let name = close.map(|c| &rest[p + 1..c]);
                    match (close, name) {
                        (Some(c), Some(n))
                            if !n.is_empty()
                                && n.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') =>
                        {
                            if p > 0 {
                                parts.push(PatternPart::Literal(rest[..p].to_string()));
                            }
                            if matches!(parts.last(), Some(PatternPart::Capture(_))) {
                                return Err(EvalError(format!(
                                    "pattern {src:?}: two captures must be separated by literal text"
                                )));
                            }
                            parts.push(PatternPart::Capture(if n == "_" {
                                None
                            } else {
                                Some(n.to_string())
                            }));
                            rest = &rest[c + 1..];
                        }
                        _ => {
                            parts.push(PatternPart::Literal(rest[..=p].to_string()));
                            rest = &rest[p + 1..];
                        }
                    }
                }
                None => {
                    parts.push(PatternPart::Literal(rest.to_string()));
                    rest = "";
                }
            }
        }
        // Merge adjacent literals.
        let mut merged: Vec<PatternPart> = Vec::new();
        for p in parts {
            match (merged.last_mut(), p) {
                (Some(PatternPart::Literal(a)), PatternPart::Literal(b)) => a.push_str(&b),
                (_, p) => merged.push(p),
            }
        }
        if !merged.iter().any(|p| matches!(p, PatternPart::Capture(_))) {
            return Err(EvalError(format!(
                "pattern {src:?}: needs at least one capture like <name> or <_>"
            )));
        }
        Ok(Pattern { parts: merged })
    }

    /// Matches a line; returns the named captures, or None when the line does not match.
    pub fn matches<'l>(&self, line: &'l str) -> Option<Vec<(&str, &'l str)>> {
        let mut pos = 0;
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.parts.len() {
            match &self.parts[i] {
                PatternPart::Literal(l) => {
                    if !line[pos..].starts_with(l.as_str()) {
                        return None;
                    }
                    pos += l.len();
                }
                PatternPart::Capture(name) => {
                    let end = match self.parts.get(i + 1) {
                        Some(PatternPart::Literal(next)) => {
                            pos + line[pos..].find(next.as_str())?
                        }
                        _ => line.len(),
                    };
                    if let Some(n) = name {
                        out.push((n.as_str(), &line[pos..end]));
                    }
                    pos = end;
                }
            }
            i += 1;
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_extracts() {
        let p =
            Pattern::compile(r#"<ip> - - [<_>] "<method> <path> <_>" <status>"#).expect("compile");
        let caps = p
            .matches(r#"10.0.0.1 - - [15/Jan/2024:10:00:00 +0000] "GET /api/users HTTP/1.1" 200"#)
            .expect("match");
        assert_eq!(
            caps,
            vec![
                ("ip", "10.0.0.1"),
                ("method", "GET"),
                ("path", "/api/users"),
                ("status", "200")
            ]
        );
        assert!(p.matches("garbage").is_none());
        assert!(Pattern::compile("<a><b>").is_err());
        assert!(Pattern::compile("no captures").is_err());
    }
}

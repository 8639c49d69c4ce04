//! The LogQL parser stages: `json`, `logfmt`, `pattern`, `regexp`, `unpack`, `decolorize`.

use super::{Entry, EvalError};
use serde_json::Value;

/// The `__error__` label name.
pub const ERROR_LABEL: &str = "__error__";
/// The `__error_details__` label name.
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";

/// Makes a string a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`), as Loki does.
pub fn sanitize_label(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        out.insert(0, '_');
    }
    out
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

fn flatten(prefix: &str, v: &serde_json::Map<String, Value>, e: &mut Entry) {
    for (k, val) in v {
        let key = if prefix.is_empty() {
            sanitize_label(k)
        } else {
            format!("{prefix}_{}", sanitize_label(k))
        };
        match val {
            Value::Object(inner) => flatten(&key, inner, e),
            Value::Array(_) => {}
            other => {
                if let Some(t) = scalar_text(other) {
                    e.set_parsed(key, t);
                }
            }
        }
    }
}

fn set_error(e: &mut Entry, kind: &str, details: String) {
    e.parsed.insert(ERROR_LABEL.to_string(), kind.to_string());
    e.parsed.insert(ERROR_DETAILS_LABEL.to_string(), details);
}

/// One step of a JSON path expression.
#[derive(Debug, Clone, PartialEq)]
pub enum PathStep {
    /// `.key` or `["key"]`
    Key(String),
    /// `[0]`
    Index(usize),
}

/// Parses `a.b[0]["c d"]` into steps.
pub fn parse_json_path(expr: &str) -> Result<Vec<PathStep>, EvalError> {
    let bad = || {
        EvalError(format!(
            "invalid json expression {expr:?} (use a.b, a[0] or a[\"key\"])"
        ))
    };
    let mut steps = Vec::new();
    let b = expr.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => i += 1,
            b'[' => {
                let end = expr[i..].find(']').ok_or_else(bad)? + i;
                let inner = expr[i + 1..end].trim();
                if let Some(q) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                    steps.push(PathStep::Key(q.replace("\\\"", "\"")));
                } else {
                    steps.push(PathStep::Index(inner.parse().map_err(|_| bad())?));
                }
                i = end + 1;
            }
            _ => {
                let end = expr[i..].find(['.', '[']).map_or(expr.len(), |p| p + i);
                steps.push(PathStep::Key(expr[i..end].to_string()));
                i = end;
            }
        }
    }
    if steps.is_empty() {
        return Err(bad());
    }
    Ok(steps)
}

/// `| json` (all fields flattened with `_`) or `| json label="path", …`.
pub fn json(e: &mut Entry, params: &[(String, Vec<PathStep>)]) {
    let parsed: Value = match serde_json::from_str(&e.line) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return set_error(e, "JSONParserErr", "line is not a JSON object".into()),
        Err(err) => return set_error(e, "JSONParserErr", err.to_string()),
    };
    if params.is_empty() {
        if let Value::Object(map) = &parsed {
            flatten("", map, e);
        }
        return;
    }
    for (label, path) in params {
        let mut cur = &parsed;
        let mut found = true;
        for step in path {
            let next = match (step, cur) {
                (PathStep::Key(k), Value::Object(m)) => m.get(k),
                (PathStep::Index(n), Value::Array(a)) => a.get(*n),
                _ => None,
            };
            match next {
                Some(v) => cur = v,
                None => {
                    found = false;
                    break;
                }
            }
        }
        let value = if found {
            scalar_text(cur).unwrap_or_else(|| cur.to_string())
        } else {
            String::new()
        };
        e.set_parsed(label.clone(), value);
    }
}

/// `| unpack`: a JSON object whose `_entry` becomes the line and whose other keys become labels.
pub fn unpack(e: &mut Entry) {
    let map = match serde_json::from_str::<Value>(&e.line) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return set_error(e, "JSONParserErr", "line is not a JSON object".into()),
        Err(err) => return set_error(e, "JSONParserErr", err.to_string()),
    };
    let mut line = None;
    for (k, v) in map {
        if let Some(t) = scalar_text(&v) {
            if k == "_entry" {
                line = Some(t);
            } else {
                e.set_parsed(sanitize_label(&k), t);
            }
        }
    }
    if let Some(l) = line {
        e.line = l;
    }
}

/// Splits a logfmt line into pairs; `Err` names the byte position of a malformed pair.
pub fn logfmt_pairs(line: &str) -> Result<Vec<(String, Option<String>)>, usize> {
    let b = line.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() && b[i] != b'"' {
            i += 1;
        }
        if i == ks {
            return Err(i);
        }
        let key = line[ks..i].to_string();
        if i >= b.len() || b[i] != b'=' {
            if i < b.len() && b[i] == b'"' {
                return Err(i);
            }
            out.push((key, None));
            continue;
        }
        i += 1;
        if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = String::new();
            let mut closed = false;
            while i < b.len() {
                match b[i] {
                    b'\\' if i + 1 < b.len() => {
                        // The escaped char may be multi-byte: take it whole to stay on a char boundary.
                        let c = line[i + 1..].chars().next().unwrap_or('\\');
                        v.push(match c {
                            'n' => '\n',
                            't' => '\t',
                            _ => c,
                        });
                        i += 1 + c.len_utf8();
                    }
                    b'"' => {
                        i += 1;
                        closed = true;
                        break;
                    }
                    _ => {
                        let ch_end = line[i..].chars().next().map_or(1, char::len_utf8);
                        v.push_str(&line[i..i + ch_end]);
                        i += ch_end;
                    }
                }
            }
            if !closed {
                return Err(ks);
            }
            out.push((key, Some(v)));
        } else {
            let vs = i;
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            out.push((key, Some(line[vs..i].to_string())));
        }
    }
    Ok(out)
}

/// `| logfmt [--strict] [--keep-empty] [label="key", …]`.
pub fn logfmt(e: &mut Entry, strict: bool, keep_empty: bool, params: &[(String, String)]) {
    let pairs = match logfmt_pairs(&e.line) {
        Ok(p) => p,
        Err(pos) if strict => {
            return set_error(
                e,
                "LogfmtParserErr",
                format!("logfmt syntax error at pos {pos}"),
            );
        }
        Err(_) => {
            // Non-strict: take what parses cleanly, pair by pair.
            let mut ok = Vec::new();
            for word in e.line.split_whitespace() {
                if let Ok(mut p) = logfmt_pairs(word) {
                    ok.append(&mut p);
                }
            }
            ok
        }
    };
    for (k, v) in pairs {
        let value = match v {
            Some(v) => v,
            None if keep_empty => String::new(),
            None => continue,
        };
        if params.is_empty() {
            e.set_parsed(sanitize_label(&k), value);
        } else if let Some((label, _)) = params.iter().find(|(_, key)| *key == k) {
            e.set_parsed(label.clone(), value);
        }
    }
}

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

/// Strips ANSI colour escape sequences.
pub fn decolorize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for n in chars.by_ref() {
                if n.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(line: &str) -> Entry {
        Entry {
            ts: 0,
            line: line.into(),
            stream: [("app".to_string(), "x".to_string())].into(),
            metadata: Default::default(),
            parsed: Default::default(),
        }
    }

    #[test]
    fn json_flattens_and_collides_like_loki() {
        let mut e = entry(r#"{"a":{"b":1,"c-d":"x"},"app":"y","arr":[1],"ok":true}"#);
        json(&mut e, &[]);
        assert_eq!(e.parsed.get("a_b").map(String::as_str), Some("1"));
        assert_eq!(e.parsed.get("a_c_d").map(String::as_str), Some("x"));
        assert_eq!(e.parsed.get("app_extracted").map(String::as_str), Some("y"));
        assert_eq!(e.parsed.get("ok").map(String::as_str), Some("true"));
        assert!(!e.parsed.contains_key("arr"));
        let mut bad = entry("not json");
        json(&mut bad, &[]);
        assert_eq!(
            bad.parsed.get(ERROR_LABEL).map(String::as_str),
            Some("JSONParserErr")
        );
    }

    #[test]
    fn json_paths() {
        let mut e = entry(r#"{"servers":["a","b"],"request":{"headers":{"User-Agent":"curl"}}}"#);
        let p1 = parse_json_path("servers[1]").expect("path");
        let p2 = parse_json_path(r#"request.headers["User-Agent"]"#).expect("path");
        json(&mut e, &[("s".into(), p1), ("ua".into(), p2)]);
        assert_eq!(e.parsed.get("s").map(String::as_str), Some("b"));
        assert_eq!(e.parsed.get("ua").map(String::as_str), Some("curl"));
    }

    #[test]
    fn logfmt_pairs_and_flags() {
        let mut e = entry(r#"level=warn msg="disk \"sda\" full" dur=12ms flag"#);
        logfmt(&mut e, false, true, &[]);
        assert_eq!(
            e.parsed.get("msg").map(String::as_str),
            Some("disk \"sda\" full")
        );
        assert_eq!(e.parsed.get("flag").map(String::as_str), Some(""));
        let mut strict = entry(r#"a=1 b="unterminated"#);
        logfmt(&mut strict, true, false, &[]);
        assert_eq!(
            strict.parsed.get(ERROR_LABEL).map(String::as_str),
            Some("LogfmtParserErr")
        );
    }

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

    #[test]
    fn decolorize_strips_ansi() {
        assert_eq!(decolorize("\u{1b}[31mred\u{1b}[0m text"), "red text");
    }

    #[test]
    fn logfmt_escape_before_a_multibyte_char() {
        // Found by proptest: the byte after a backslash was taken alone, splitting `¡`.
        let mut e = entry("a=\"x\\¡y\" b=2");
        logfmt(&mut e, false, false, &[]);
        assert_eq!(e.get("a"), Some("x¡y"));
        assert_eq!(e.get("b"), Some("2"));
        let mut e = entry("\0=\"\\¡");
        logfmt(&mut e, true, true, &[]);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(line in ".{0,100}", pat in ".{0,20}") {
            let mut e = entry(&line);
            json(&mut e, &[]);
            logfmt(&mut e, true, true, &[]);
            logfmt(&mut e, false, false, &[]);
            unpack(&mut e);
            let _ = decolorize(&line);
            if let Ok(p) = Pattern::compile(&pat) {
                let _ = p.matches(&line);
            }
            let _ = parse_json_path(&pat);
        }
    }
}

//! The `json` stage (all fields flattened with `_`, or chosen by path expressions like `a.b[0]["c d"]`) and the
//! `unpack` stage.

use super::{sanitize_label, set_error};
use crate::logql::eval::{Entry, EvalError};
use serde_json::Value;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::eval::parsers::tests::entry;
    use crate::logql::eval::parsers::ERROR_LABEL;

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
}

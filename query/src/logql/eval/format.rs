//! `line_format` / `label_format` templates: the commonly used subset of Go's text/template.
//!
//! Supported actions: `{{.label}}`, `{{ .label }}`, `{{__line__}}`, `{{__timestamp__}}`, function pipelines
//! `{{ .label | ToUpper }}` and calls `{{ ToLower .label }}` with `ToUpper`/`upper`, `ToLower`/`lower`,
//! `TrimSpace`/`trim`, `title`, `len`. Anything else is refused when the query is compiled, naming the action.

use super::{Entry, EvalError};
use logmind_protocol::time::format_rfc3339_nanos;

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Label(String),
    Line,
    Timestamp,
    Literal(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
    Upper,
    Lower,
    Trim,
    Title,
    Len,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Action { arg: Arg, funcs: Vec<Func> },
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pieces: Vec<Piece>,
}

fn func(name: &str) -> Option<Func> {
    Some(match name {
        "ToUpper" | "upper" => Func::Upper,
        "ToLower" | "lower" => Func::Lower,
        "TrimSpace" | "trim" => Func::Trim,
        "title" | "Title" => Func::Title,
        "len" => Func::Len,
        _ => return None,
    })
}

fn arg(word: &str) -> Option<Arg> {
    if word == "__line__" {
        Some(Arg::Line)
    } else if word == "__timestamp__" {
        Some(Arg::Timestamp)
    } else if let Some(l) = word.strip_prefix('.') {
        if l.is_empty() {
            None
        } else {
            Some(Arg::Label(l.to_string()))
        }
    } else {
        word.strip_prefix('"')
            .and_then(|w| w.strip_suffix('"'))
            .map(|s| Arg::Literal(s.to_string()))
    }
}

/// See [`Template::render`]: Loki's default longest line (`max_line_size`, 256 KB).
pub const MAX_RENDER_BYTES: usize = 256 << 10;

/// Most bytes of label values `label_format` templates may make for one entry over all its stages (or the line's
/// length, if longer): a thousand labels of a whole line each would otherwise make every entry hundreds of MB.
/// Labels from parsers and renames do not count.
pub const MAX_FORMATTED_LABEL_BYTES: usize = 256 << 10;

impl Template {
    /// Compiles a template; unsupported actions are an error naming the action.
    pub fn compile(src: &str) -> Result<Template, EvalError> {
        let mut pieces = Vec::new();
        let mut rest = src;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find("}}")
                .ok_or_else(|| EvalError(format!("template {src:?}: unclosed {{{{")))?
                + open;
            let action = rest[open + 2..close].trim().trim_matches('-').trim();
            let unsupported = || {
                EvalError(format!(
                    "template action {{{{{action}}}}} is not supported (use .label, __line__, __timestamp__ and ToUpper, ToLower, TrimSpace, title, len)"
                ))
            };
            let mut stages = action.split('|').map(str::trim);
            let first: Vec<&str> = stages.next().unwrap_or("").split_whitespace().collect();
            let (a, mut funcs) = match first.as_slice() {
                [w] => (arg(w).ok_or_else(unsupported)?, Vec::new()),
                [f, w] => (
                    arg(w).ok_or_else(unsupported)?,
                    vec![func(f).ok_or_else(unsupported)?],
                ),
                _ => return Err(unsupported()),
            };
            for s in stages {
                funcs.push(func(s).ok_or_else(unsupported)?);
            }
            pieces.push(Piece::Action { arg: a, funcs });
            rest = &rest[close + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Template { pieces })
    }

    /// Renders the template for an entry (missing labels render empty, as in Loki), cut at
    /// [`MAX_RENDER_BYTES`] or the entry's line length, whichever is larger: forty `line_format
    /// "{{__line__}}{{__line__}}"` stages would otherwise double a line forty times.
    pub fn render(&self, e: &Entry) -> String {
        self.render_capped(e, MAX_RENDER_BYTES.max(e.line.len()))
    }

    /// [`Template::render`], cut at `cap` bytes (on a character boundary).
    pub fn render_capped(&self, e: &Entry, cap: usize) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            if out.len() >= cap {
                break;
            }
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Action { arg, funcs } => {
                    let mut v = match arg {
                        Arg::Label(l) => e.get(l).unwrap_or("").to_string(),
                        Arg::Line => e.line.clone(),
                        Arg::Timestamp => format_rfc3339_nanos(e.ts),
                        Arg::Literal(s) => s.clone(),
                    };
                    for f in funcs {
                        v = match f {
                            Func::Upper => v.to_uppercase(),
                            Func::Lower => v.to_lowercase(),
                            Func::Trim => v.trim().to_string(),
                            Func::Title => {
                                let mut c = v.chars();
                                c.next()
                                    .map(|f| f.to_uppercase().chain(c).collect())
                                    .unwrap_or_default()
                            }
                            Func::Len => v.chars().count().to_string(),
                        };
                    }
                    out.push_str(&v);
                }
            }
        }
        let n = logmind_protocol::cut(&out, cap).len();
        out.truncate(n);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labels_line_and_functions() {
        let e = Entry {
            ts: 0,
            line: "hello".into(),
            stream: [("app".to_string(), "backend".to_string())].into(),
            metadata: [("level".to_string(), "error".to_string())].into(),
            parsed: Default::default(),
            formatted: 0,
        };
        let t = Template::compile("{{.app}} [{{ .level | ToUpper }}] {{__line__}} {{.missing}}|")
            .expect("compile");
        assert_eq!(t.render(&e), "backend [ERROR] hello |");
        assert_eq!(
            Template::compile("{{ ToUpper .app }}")
                .expect("compile")
                .render(&e),
            "BACKEND"
        );
        assert_eq!(
            Template::compile("{{__timestamp__}}")
                .expect("compile")
                .render(&e),
            "1970-01-01T00:00:00.000000000Z"
        );
        assert!(Template::compile("{{ range .x }}").is_err());
        assert!(Template::compile("{{ .a ").is_err());
    }

    #[test]
    fn repeated_doubling_is_cut_at_the_bound() {
        let t = Template::compile("{{__line__}}{{__line__}}").expect("compile");
        let mut e = Entry {
            ts: 0,
            line: "é".repeat(3),
            stream: Default::default(),
            metadata: Default::default(),
            parsed: Default::default(),
            formatted: 0,
        };
        for _ in 0..40 {
            e.line = t.render(&e);
            assert!(e.line.len() <= MAX_RENDER_BYTES, "{}", e.line.len());
        }
        assert!(
            e.line.len() > MAX_RENDER_BYTES - 4,
            "filled up to the bound"
        );
        // A line longer than the bound keeps its length through a template that copies it.
        e.line = "x".repeat(MAX_RENDER_BYTES * 2);
        let once = Template::compile("{{__line__}}")
            .expect("compile")
            .render(&e);
        assert_eq!(once.len(), MAX_RENDER_BYTES * 2);
        assert_eq!(t.render(&e).len(), MAX_RENDER_BYTES * 2);
    }
}

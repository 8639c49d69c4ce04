//! Rendering for the CLI: aligned tables (coloured on a terminal), JSON and NDJSON.

use logmind_protocol::time::format_rfc3339_millis;
use logmind_protocol::LogRecord;
use std::io::{IsTerminal, Write};

/// `--output`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// The server's JSON answer, pretty-printed.
    Json,
    /// One JSON object per line (events, series or groups).
    Ndjson,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "table" => Ok(OutputFormat::Table),
            "json" => Ok(OutputFormat::Json),
            "ndjson" | "jsonl" => Ok(OutputFormat::Ndjson),
            other => Err(format!("output {other:?}: use table, json or ndjson")),
        }
    }
}

/// Where and how to print.
pub struct Output {
    /// The sink.
    pub out: Box<dyn Write + Send>,
    /// Use ANSI colours.
    pub color: bool,
}

impl Output {
    /// Stdout, coloured when it is a terminal and `NO_COLOR` is unset.
    pub fn stdout() -> Output {
        let color = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Output {
            out: Box::new(std::io::stdout()),
            color,
        }
    }

    /// Any writer, without colour (tests).
    pub fn plain(out: Box<dyn Write + Send>) -> Output {
        Output { out, color: false }
    }

    /// Wraps `s` in an ANSI style when colouring.
    pub fn paint(&self, s: &str, style: &str) -> String {
        if self.color && !style.is_empty() {
            format!("\x1b[{style}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// Prints rows as aligned columns (the last column is not padded); `styles[i]` styles column i.
    pub fn table(
        &mut self,
        header: &[&str],
        rows: &[Vec<String>],
        styles: &dyn Fn(usize, &[String]) -> String,
    ) -> std::io::Result<()> {
        let n = header.len();
        let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for r in rows {
            for (i, c) in r.iter().enumerate().take(n) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let line = |cells: Vec<String>| {
            let mut s = String::new();
            for (i, c) in cells.into_iter().enumerate() {
                if i > 0 {
                    s.push_str("  ");
                }
                s.push_str(&c);
            }
            s.trim_end().to_string()
        };
        let head: Vec<String> = header
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let padded = if i + 1 < n {
                    pad(h, width[i])
                } else {
                    h.to_string()
                };
                self.paint(&padded, "1")
            })
            .collect();
        writeln!(self.out, "{}", line(head))?;
        for r in rows {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let padded = if i + 1 < n {
                        pad(c, width[i])
                    } else {
                        c.clone()
                    };
                    self.paint(&padded, &styles(i, r))
                })
                .collect();
            writeln!(self.out, "{}", line(cells))?;
        }
        Ok(())
    }

    /// Prints events as a table (time, app, pod, level, message).
    pub fn events(&mut self, events: &[LogRecord]) -> std::io::Result<()> {
        let rows: Vec<Vec<String>> = events.iter().map(event_row).collect();
        self.table(
            &["TIME", "APP", "POD", "LEVEL", "MESSAGE"],
            &rows,
            &|i, r| match i {
                0 => "2".into(),
                1 => "36".into(),
                3 => level_style(&r[3]).into(),
                _ => String::new(),
            },
        )
    }

    /// Writes one JSON value on its own line.
    pub fn json_line<T: serde::Serialize>(&mut self, v: &T) -> std::io::Result<()> {
        let s = serde_json::to_string(v).map_err(std::io::Error::other)?;
        writeln!(self.out, "{s}")
    }

    /// Writes a JSON value pretty-printed.
    pub fn json_pretty<T: serde::Serialize>(&mut self, v: &T) -> std::io::Result<()> {
        let s = serde_json::to_string_pretty(v).map_err(std::io::Error::other)?;
        writeln!(self.out, "{s}")
    }

    /// Writes a line.
    pub fn line(&mut self, s: &str) -> std::io::Result<()> {
        writeln!(self.out, "{s}")
    }

    /// Flushes the sink.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

fn pad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n >= w {
        s.to_string()
    } else {
        format!("{s}{}", " ".repeat(w - n))
    }
}

/// ANSI style of a level.
pub fn level_style(level: &str) -> &'static str {
    match level {
        "fatal" => "1;35",
        "error" => "31",
        "warn" => "33",
        "debug" | "trace" => "2",
        _ => "",
    }
}

/// The table row of an event: multi-line messages show their first line and how many more there are.
pub fn event_row(e: &LogRecord) -> Vec<String> {
    let mut lines = e.message.lines();
    let first = lines.next().unwrap_or("").to_string();
    let more = lines.count();
    let message = if more > 0 {
        format!("{first} [+{more} lines]")
    } else {
        first
    };
    vec![
        format_rfc3339_millis(e.ts),
        e.app.clone(),
        e.pod.clone(),
        e.level.clone(),
        message,
    ]
}

/// A duration in ns for people (`1.234s`, `15ms`).
pub fn human_ns(ns: i64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.3}s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.1}ms", ns as f64 / 1e6)
    } else {
        format!("{}µs", ns / 1000)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn tables_are_aligned_and_plain_without_colour() {
        let buf = Buf::default();
        let mut o = Output::plain(Box::new(buf.clone()));
        o.table(
            &["A", "BB", "C"],
            &[vec!["xxx".into(), "y".into(), "z z".into()]],
            &|_, _| "31".into(),
        )
        .unwrap();
        let s = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(s, "A    BB  C\nxxx  y   z z\n");
        let o = Output {
            out: Box::new(buf),
            color: true,
        };
        assert_eq!(o.paint("e", "31"), "\x1b[31me\x1b[0m");
    }

    #[test]
    fn multi_line_messages_show_their_first_line() {
        let e = LogRecord {
            ts: 0,
            message: "Traceback:\n  a\n  b".into(),
            ..Default::default()
        };
        assert_eq!(event_row(&e)[4], "Traceback: [+2 lines]");
    }
}

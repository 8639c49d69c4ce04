//! `HttpUrl`: an `http://` or `https://` URL checked at load (scheme and host), kept as written.

use crate::check::Checker;
use serde::Serialize;
use std::fmt;

/// An `http` or `https` URL with a non-empty host, e.g. `http://127.0.0.1:3100`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpUrl(String);

impl HttpUrl {
    /// The URL as written (no trailing `/` added or removed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL without a trailing `/`, ready to append a path such as `/api/v1/ingest`.
    pub fn base(&self) -> &str {
        self.0.trim_end_matches('/')
    }

    /// True for `https`.
    pub fn is_https(&self) -> bool {
        self.0
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    }

    /// Checks `raw` and reports a problem in `c` under `key`.
    pub fn check(c: &mut Checker, key: &str, raw: &str) -> Option<HttpUrl> {
        match parse(raw.trim()) {
            Ok(()) => Some(HttpUrl(raw.trim().to_string())),
            Err(problem) => {
                c.invalid(key, raw, problem);
                None
            }
        }
    }
}

const FIX: &str = "use a URL like http://127.0.0.1:3100";

fn parse(raw: &str) -> Result<(), String> {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Err(format!("missing scheme ({FIX})"));
    };
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return Err(format!(
            "unsupported scheme {scheme:?} (expected http or https)"
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(format!(
            "credentials in the URL are not supported (put tokens in [auth]; {FIX})"
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => return Err(format!("unterminated IPv6 address ({FIX})")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("missing host ({FIX})"));
    }
    if host.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        return Err(format!("invalid host {host:?} ({FIX})"));
    }
    if let Some(p) = port {
        if p.parse::<u16>().is_err() {
            return Err(format!(
                "invalid port {p:?} (use a port between 0 and 65535, {FIX})"
            ));
        }
    }
    Ok(())
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for HttpUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_refuses() {
        for ok in [
            "http://127.0.0.1:3100",
            "https://logs.example.com/",
            "HTTP://[::1]:3100/x",
            "http://h",
        ] {
            assert_eq!(parse(ok), Ok(()), "{ok}");
        }
        for (bad, msg) in [
            (
                "htp://x",
                "unsupported scheme \"htp\" (expected http or https)",
            ),
            ("127.0.0.1:3100", "missing scheme"),
            ("http://", "missing host"),
            ("http://:3100", "missing host"),
            ("http://h:99999", "invalid port"),
            ("http://u:p@h", "credentials"),
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains(msg), "{bad}: {e}");
        }
    }
}

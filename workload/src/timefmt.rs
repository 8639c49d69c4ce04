//! Allocation-free timestamp formatting for the hot path, plus JSON string escaping.

use logmind_protocol::time::{civil_from_days, NANOS_PER_SEC};

fn push2(out: &mut String, v: i64) {
    out.push((b'0' + (v / 10 % 10) as u8) as char);
    out.push((b'0' + (v % 10) as u8) as char);
}

fn split(ns: i64) -> (i64, u32, u32, i64, i64, i64, i64) {
    let secs = ns.div_euclid(NANOS_PER_SEC);
    let frac = ns.rem_euclid(NANOS_PER_SEC);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    (y, m, d, sod / 3600, sod / 60 % 60, sod % 60, frac)
}

fn push_date_time(out: &mut String, ns: i64, date_sep: char) -> i64 {
    let (y, m, d, hh, mm, ss, frac) = split(ns);
    push2(out, y / 100);
    push2(out, y % 100);
    out.push(date_sep);
    push2(out, i64::from(m));
    out.push(date_sep);
    push2(out, i64::from(d));
    out.push('T');
    push2(out, hh);
    out.push(':');
    push2(out, mm);
    out.push(':');
    push2(out, ss);
    frac
}

/// Appends Go's `time.RFC3339Nano` form as containerd and Docker write it: UTC, `Z`, fraction with
/// trailing zeros removed (no fraction at all on a whole second).
pub fn push_rfc3339_nano(out: &mut String, ns: i64) {
    let frac = push_date_time(out, ns, '-');
    if frac != 0 {
        out.push('.');
        let mut digits = [0u8; 9];
        let mut f = frac;
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (f % 10) as u8;
            f /= 10;
        }
        let mut n = 9;
        while n > 0 && digits[n - 1] == b'0' {
            n -= 1;
        }
        for &c in &digits[..n] {
            out.push(c as char);
        }
    }
    out.push('Z');
}

/// Appends RFC 3339 with exactly three fraction digits (`2024-01-15T10:30:00.123Z`), as application
/// loggers write it.
pub fn push_rfc3339_millis(out: &mut String, ns: i64) {
    let frac = push_date_time(out, ns, '-');
    let ms = frac / 1_000_000;
    out.push('.');
    out.push((b'0' + (ms / 100) as u8) as char);
    push2(out, ms % 100);
    out.push('Z');
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Appends nginx's `$time_local` in UTC: `15/Jan/2024:10:30:00 +0000`.
pub fn push_nginx(out: &mut String, ns: i64) {
    let (y, m, d, hh, mm, ss, _) = split(ns);
    push2(out, i64::from(d));
    out.push('/');
    out.push_str(MONTHS[(m as usize).saturating_sub(1) % 12]);
    out.push('/');
    push2(out, y / 100);
    push2(out, y % 100);
    out.push(':');
    push2(out, hh);
    out.push(':');
    push2(out, mm);
    out.push(':');
    push2(out, ss);
    out.push_str(" +0000");
}

/// The kubelet rotation suffix `YYYYMMDD-hhmmss` (UTC) of a time.
pub fn rotation_stamp(ns: i64) -> String {
    let (y, m, d, hh, mm, ss, _) = split(ns);
    format!("{y:04}{m:02}{d:02}-{hh:02}{mm:02}{ss:02}")
}

/// Appends `s` escaped for the inside of a JSON string. With `html`, `<`, `>` and `&` are written as
/// `\u003c`, `\u003e`, `\u0026` as Go's (and so Docker's) encoder does.
pub fn push_json_escaped(out: &mut String, s: &str, html: bool) {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            b'<' if html => Some("\\u003c"),
            b'>' if html => Some("\\u003e"),
            b'&' if html => Some("\\u0026"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                out.push_str("\\u00");
                out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
                out.push(char::from(b"0123456789abcdef"[usize::from(b & 0xF)]));
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use logmind_protocol::time::{format_rfc3339_nanos, parse_rfc3339_nanos};
    use proptest::prelude::*;

    #[test]
    fn formats_known_instants() {
        let ns = 1_705_314_600_123_450_000;
        let mut s = String::new();
        push_rfc3339_nano(&mut s, ns);
        assert_eq!(s, "2024-01-15T10:30:00.12345Z");
        s.clear();
        push_rfc3339_nano(&mut s, 1_705_314_600_000_000_000);
        assert_eq!(s, "2024-01-15T10:30:00Z");
        s.clear();
        push_rfc3339_millis(&mut s, ns);
        assert_eq!(s, "2024-01-15T10:30:00.123Z");
        s.clear();
        push_nginx(&mut s, ns);
        assert_eq!(s, "15/Jan/2024:10:30:00 +0000");
        assert_eq!(rotation_stamp(ns), "20240115-103000");
    }

    #[test]
    fn escapes_like_go() {
        let mut s = String::new();
        push_json_escaped(&mut s, "a\"b\\c\td<e>&\u{1}", true);
        assert_eq!(s, r#"a\"b\\c\td\u003ce\u003e\u0026\u0001"#);
        let back: String = serde_json::from_str(&format!("\"{s}\"")).expect("valid json");
        assert_eq!(back, "a\"b\\c\td<e>&\u{1}");
    }

    proptest! {
        #[test]
        fn nano_form_round_trips(ns in 0i64..4_000_000_000_000_000_000i64) {
            let mut s = String::new();
            push_rfc3339_nano(&mut s, ns);
            prop_assert_eq!(parse_rfc3339_nanos(s.as_bytes()), Some(ns));
            let full = format_rfc3339_nanos(ns);
            prop_assert_eq!(&full[..19], &s[..19]);
        }

        #[test]
        fn escaped_strings_parse_back(text in "\\PC{0,40}") {
            let mut s = String::from("\"");
            push_json_escaped(&mut s, &text, true);
            s.push('"');
            let back: String = serde_json::from_str(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, text);
        }
    }
}

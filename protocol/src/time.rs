//! Timestamps: fast RFC 3339 parsing/formatting in nanoseconds, and the time arguments people type.

/// Nanoseconds per second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;

/// A time argument that could not be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("time {input:?}: {reason} (use RFC 3339 like 2024-01-15T10:30:00Z, Unix seconds or nanoseconds, or now-1h)")]
pub struct TimeError {
    /// What was given.
    pub input: String,
    /// Why it was refused.
    pub reason: String,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Parses `YYYY-MM-DD[T ]hh:mm:ss[.fraction](Z|±hh:mm)` into ns since the epoch. Allocation-free; the
/// hot path of CRI and Docker decoding.
pub fn parse_rfc3339_nanos(s: &[u8]) -> Option<i64> {
    if s.len() < 20 || s[4] != b'-' || s[7] != b'-' || s[13] != b':' || s[16] != b':' {
        return None;
    }
    if !matches!(s[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = digits(&s[0..4])?;
    let month = digits(&s[5..7])?;
    let day = digits(&s[8..10])?;
    let hour = digits(&s[11..13])?;
    let min = digits(&s[14..16])?;
    let sec = digits(&s[17..19])?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: i64 = 0;
    if s.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + i64::from(s[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..9 {
            nanos *= 10;
        }
    }
    let offset_secs: i64 = match s.get(i) {
        Some(b'Z') | Some(b'z') if i + 1 == s.len() => 0,
        Some(&sign @ (b'+' | b'-')) if s.len() == i + 6 && s[i + 3] == b':' => {
            let oh = i64::from(digits(&s[i + 1..i + 3])?);
            let om = i64::from(digits(&s[i + 4..i + 6])?);
            let o = oh * 3600 + om * 60;
            if sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), month, day);
    let secs =
        days * 86_400 + i64::from(hour) * 3600 + i64::from(min) * 60 + i64::from(sec) - offset_secs;
    secs.checked_mul(NANOS_PER_SEC)?.checked_add(nanos)
}

/// Formats ns since the epoch as `YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ` (the CRI timestamp form).
pub fn format_rfc3339_nanos(ns: i64) -> String {
    let secs = ns.div_euclid(NANOS_PER_SEC);
    let frac = ns.rem_euclid(NANOS_PER_SEC);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Formats ns since the epoch as RFC 3339 with millisecond precision (`…:ss.mmmZ`), for people.
pub fn format_rfc3339_millis(ns: i64) -> String {
    let s = format_rfc3339_nanos(ns);
    // "YYYY-MM-DDThh:mm:ss." is 20 bytes; keep 3 fraction digits and the Z.
    format!("{}Z", &s[..23])
}

/// Parses a time as people and Loki clients type it: `now`, `now-1h`, RFC 3339, Unix seconds
/// (≤ 10 digits, may have a fraction) or Unix nanoseconds (longer integers).
pub fn parse_time(input: &str, now_ns: i64) -> Result<i64, TimeError> {
    let err = |reason: &str| TimeError {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    if let Some(rest) = s.strip_prefix("now") {
        let rest = rest.trim();
        if rest.is_empty() {
            return Ok(now_ns);
        }
        let (sign, amount) = match rest.as_bytes()[0] {
            b'-' => (-1i64, &rest[1..]),
            b'+' => (1i64, &rest[1..]),
            _ => return Err(err("expected now-<duration> or now+<duration>")),
        };
        let d = crate::units::parse_duration(amount.trim()).map_err(|e| err(&e.to_string()))?;
        let n = i64::try_from(d.as_nanos()).map_err(|_| err("duration too large"))?;
        return Ok(now_ns.saturating_add(sign * n));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let v: i64 = s.parse().map_err(|_| err("number out of range"))?;
        return Ok(if s.len() <= 10 {
            v.saturating_mul(NANOS_PER_SEC)
        } else {
            v
        });
    }
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() {
            return Ok((f * 1e9) as i64);
        }
    }
    parse_rfc3339_nanos(s.as_bytes()).ok_or_else(|| err("not a recognised time"))
}

/// The current wall-clock time in ns since the epoch.
pub fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_cri_timestamp() {
        let ns = parse_rfc3339_nanos(b"2024-01-15T10:30:00.123456789Z").expect("parse");
        assert_eq!(ns, 1_705_314_600_123_456_789);
        assert_eq!(
            parse_rfc3339_nanos(b"2024-01-15T12:30:00.5+02:00"),
            Some(1_705_314_600_500_000_000)
        );
        assert_eq!(parse_rfc3339_nanos(b"2024-13-15T10:30:00Z"), None);
        assert_eq!(parse_rfc3339_nanos(b"2024-01-15T10:30:00"), None);
    }

    #[test]
    fn parses_typed_times() {
        let now = 1_700_000_000 * NANOS_PER_SEC;
        assert_eq!(parse_time("now", now), Ok(now));
        assert_eq!(parse_time("now-1h", now), Ok(now - 3600 * NANOS_PER_SEC));
        assert_eq!(parse_time("1700000000", now), Ok(now));
        assert_eq!(parse_time("1700000000000000000", now), Ok(now));
        assert_eq!(parse_time("1700000000.5", now), Ok(now + 500_000_000));
        assert!(parse_time("yesterday", now).is_err());
        assert!(parse_time("now*2", now).is_err());
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ns in -2_000_000_000_000_000_000i64..4_000_000_000_000_000_000i64) {
            let s = format_rfc3339_nanos(ns);
            prop_assert_eq!(parse_rfc3339_nanos(s.as_bytes()), Some(ns));
        }

        #[test]
        fn arbitrary_input_never_panics(s in ".{0,40}") {
            let _ = parse_time(&s, 0);
            let _ = parse_rfc3339_nanos(s.as_bytes());
        }
    }
}

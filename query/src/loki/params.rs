//! Loki's request parameters: form or query string, times and steps parsed exactly as Loki parses them.

use crate::error::QueryError;
use logmind_protocol::time::parse_time;
use std::collections::BTreeMap;

/// Request parameters (query string merged with a form body); repeated keys keep every value.
#[derive(Debug, Default, Clone)]
pub struct Params(pub BTreeMap<String, Vec<String>>);

impl Params {
    /// Builds from raw pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Params {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            m.entry(k).or_default().push(v);
        }
        Params(m)
    }

    /// The first value of a key, if non-empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .and_then(|v| v.first())
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Every value of a key.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .get(key)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// A required parameter.
    pub fn required(&self, key: &str) -> Result<&str, QueryError> {
        self.get(key)
            .ok_or_else(|| QueryError::BadRequest(format!("parameter {key:?} is required")))
    }

    /// A time parameter (Loki rules: ≤ 10-digit integers are seconds, longer are ns, floats are seconds, else
    /// RFC 3339; `now-1h` also accepted).
    pub fn time(&self, key: &str, now_ns: i64) -> Result<Option<i64>, QueryError> {
        self.get(key)
            .map(|s| {
                parse_time(s, now_ns)
                    .map_err(|e| QueryError::BadRequest(format!("invalid parameter {key:?}: {e}")))
            })
            .transpose()
    }

    /// A non-negative integer parameter.
    pub fn usize(&self, key: &str, default: usize) -> Result<usize, QueryError> {
        match self.get(key) {
            None => Ok(default),
            Some(s) => s.trim().parse().map_err(|_| {
                QueryError::BadRequest(format!(
                    "invalid parameter {key:?}: {s:?} is not a non-negative integer"
                ))
            }),
        }
    }

    /// A duration parameter: a Prometheus/Go duration (`1m`, `1h30m`) or float seconds (`60`, `0.5`), in ns.
    pub fn duration(&self, key: &str) -> Result<Option<i64>, QueryError> {
        let Some(s) = self.get(key) else {
            return Ok(None);
        };
        if let Ok(secs) = s.trim().parse::<f64>() {
            if secs.is_finite() && secs >= 0.0 {
                return Ok(Some((secs * 1e9) as i64));
            }
        }
        crate::logql::lexer::parse_go_duration(s.trim())
            .filter(|ns| *ns >= 0)
            .map(Some)
            .ok_or_else(|| {
                QueryError::BadRequest(format!(
                    "invalid parameter {key:?}: {s:?} is not a duration (use 1m, 30s or seconds like 60)"
                ))
            })
    }

    /// `direction`: backward (default) or forward, case-insensitive. Returns true for backward.
    pub fn backward(&self) -> Result<bool, QueryError> {
        match self
            .get("direction")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("backward") => Ok(true),
            Some("forward") => Ok(false),
            Some(other) => Err(QueryError::BadRequest(format!(
                "invalid parameter \"direction\": {other:?} (use forward or backward)"
            ))),
        }
    }
}

/// Resolves `start`/`end`/`since` as Loki's range endpoints do: end defaults to now, start to
/// min(end, now) - since (default 1h), so an `end` in the future still leaves the last hour in the window.
pub fn range(p: &Params, now_ns: i64) -> Result<(i64, i64), QueryError> {
    let end = p.time("end", now_ns)?.unwrap_or(now_ns);
    let since = p.duration("since")?.unwrap_or(3_600_000_000_000);
    let start = p
        .time("start", now_ns)?
        .unwrap_or(end.min(now_ns).saturating_sub(since));
    if end < start {
        return Err(QueryError::BadRequest(
            "the end timestamp must not be before the start time".into(),
        ));
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn times_as_loki_parses_them() {
        let now = 2_000_000_000_000_000_000;
        let q = p(&[("start", "1700000000"), ("end", "1700000000123456789")]);
        assert_eq!(
            range(&q, now).expect("range"),
            (1_700_000_000_000_000_000, 1_700_000_000_123_456_789)
        );
        let q = p(&[("start", "1700000000.5"), ("end", "2023-11-14T22:13:21Z")]);
        assert_eq!(
            range(&q, now).expect("range"),
            (1_700_000_000_500_000_000, 1_700_000_001_000_000_000)
        );
        let q = p(&[("since", "5m")]);
        assert_eq!(range(&q, now).expect("range"), (now - 300_000_000_000, now));
        assert!(range(&p(&[("start", "2"), ("end", "1")]), now).is_err());
        assert!(range(&p(&[("start", "yesterday")]), now).is_err());
    }

    #[test]
    fn steps_and_direction() {
        assert_eq!(
            p(&[("step", "60")]).duration("step").expect("ok"),
            Some(60_000_000_000)
        );
        assert_eq!(
            p(&[("step", "1m30s")]).duration("step").expect("ok"),
            Some(90_000_000_000)
        );
        assert!(p(&[("step", "abc")]).duration("step").is_err());
        assert!(p(&[("direction", "FORWARD")])
            .backward()
            .map(|b| !b)
            .expect("ok"));
        assert!(p(&[("direction", "BackWard")]).backward().expect("ok"));
        assert!(p(&[("direction", "sideways")]).backward().is_err());
    }
}

//! Agent metrics: plain atomic counters and gauges rendered as Prometheus text.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why events or bytes were given up (label `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// A deleted file could not be drained within `deleted_file_grace`.
    DeletedGrace,
    /// A batch the indexer refused (400/413), moved to `rejected/`.
    Rejected,
    /// A compressed rotated file that could not be decompressed.
    BadGzip,
}

/// All agent counters. Counters end in `_total`; gauges do not.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Files currently open.
    pub files_watched: AtomicU64,
    /// Bytes read from log files.
    pub bytes_read: AtomicU64,
    /// Physical lines read.
    pub lines_read: AtomicU64,
    /// Events put into batches.
    pub events_batched: AtomicU64,
    /// Events acknowledged by the indexer.
    pub events_shipped: AtomicU64,
    /// Batches acknowledged.
    pub batches_acked: AtomicU64,
    /// Delivery attempts that failed and were retried.
    pub batches_retried: AtomicU64,
    /// Batches acknowledged as duplicates (resent after a crash).
    pub batches_duplicate: AtomicU64,
    /// Batches written to the spool.
    pub batches_spooled: AtomicU64,
    /// Bytes currently in the spool.
    pub spool_bytes: AtomicU64,
    /// 1 while reading is paused because the spool is full.
    pub spool_full: AtomicU64,
    /// Bytes in open files not read yet.
    pub lag_bytes: AtomicU64,
    /// Events cut at `max_event_bytes`.
    pub events_truncated: AtomicU64,
    /// Lines whose framing could not be decoded (shipped raw).
    pub lines_malformed: AtomicU64,
    /// Rotations seen (rename, truncation, compression).
    pub rotations: AtomicU64,
    /// Truncations (copytruncate) seen.
    pub truncations: AtomicU64,
    /// Unfinished events (a split line, a stack trace) continued in the file that followed a rotation.
    pub events_continued: AtomicU64,
    /// Bytes given up: deleted file not drained in time.
    pub given_up_deleted_bytes: AtomicU64,
    /// Events given up: batches rejected by the indexer.
    pub given_up_rejected_events: AtomicU64,
    /// Files given up: undecodable gzip.
    pub given_up_bad_gzip_files: AtomicU64,
    /// Checkpoints written.
    pub checkpoints: AtomicU64,
    /// File-system scans.
    pub scans: AtomicU64,
    /// 1 when file-system notifications are active, 0 when polling only.
    pub notify_active: AtomicU64,
}

impl Metrics {
    /// Adds `n` to a counter.
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets a gauge.
    pub fn set(c: &AtomicU64, n: u64) {
        c.store(n, Ordering::Relaxed);
    }

    /// Reads a value.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    /// Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let g = Self::get;
        let mut one = |name: &str, kind: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        one(
            "logmind_agent_files_watched",
            "gauge",
            "Log files currently open.",
            g(&self.files_watched),
        );
        one(
            "logmind_agent_bytes_read_total",
            "counter",
            "Bytes read from log files.",
            g(&self.bytes_read),
        );
        one(
            "logmind_agent_lines_read_total",
            "counter",
            "Physical lines read.",
            g(&self.lines_read),
        );
        one(
            "logmind_agent_events_batched_total",
            "counter",
            "Events put into batches.",
            g(&self.events_batched),
        );
        one(
            "logmind_agent_events_shipped_total",
            "counter",
            "Events acknowledged by the indexer.",
            g(&self.events_shipped),
        );
        one(
            "logmind_agent_batches_spooled_total",
            "counter",
            "Batches written to the spool.",
            g(&self.batches_spooled),
        );
        one(
            "logmind_agent_batches_acked_total",
            "counter",
            "Batches acknowledged by the indexer.",
            g(&self.batches_acked),
        );
        one(
            "logmind_agent_batches_duplicate_total",
            "counter",
            "Batches acknowledged as duplicates.",
            g(&self.batches_duplicate),
        );
        one(
            "logmind_agent_batches_retried_total",
            "counter",
            "Failed delivery attempts that were retried.",
            g(&self.batches_retried),
        );
        one(
            "logmind_agent_spool_bytes",
            "gauge",
            "Bytes in the on-disk spool.",
            g(&self.spool_bytes),
        );
        one(
            "logmind_agent_spool_full",
            "gauge",
            "1 while reading is paused because the spool is full.",
            g(&self.spool_full),
        );
        one(
            "logmind_agent_lag_bytes",
            "gauge",
            "Bytes of open files not read yet.",
            g(&self.lag_bytes),
        );
        one(
            "logmind_agent_events_truncated_total",
            "counter",
            "Events cut at max_event_bytes.",
            g(&self.events_truncated),
        );
        one(
            "logmind_agent_lines_malformed_total",
            "counter",
            "Lines with undecodable framing, shipped raw.",
            g(&self.lines_malformed),
        );
        one(
            "logmind_agent_rotations_total",
            "counter",
            "Rotations seen.",
            g(&self.rotations),
        );
        one(
            "logmind_agent_truncations_total",
            "counter",
            "Truncations (copytruncate) seen.",
            g(&self.truncations),
        );
        one(
            "logmind_agent_events_continued_across_rotation_total",
            "counter",
            "Unfinished events (a split line, a stack trace) continued in the file that followed a rotation.",
            g(&self.events_continued),
        );
        one(
            "logmind_agent_checkpoints_total",
            "counter",
            "Checkpoints written.",
            g(&self.checkpoints),
        );
        one(
            "logmind_agent_scans_total",
            "counter",
            "File-system scans.",
            g(&self.scans),
        );
        one(
            "logmind_agent_notify_active",
            "gauge",
            "1 when file-system notifications are active.",
            g(&self.notify_active),
        );
        let _ = writeln!(
            out,
            "# HELP logmind_agent_given_up_total Data given up, by reason (unit in the label).\n\
             # TYPE logmind_agent_given_up_total counter\n\
             logmind_agent_given_up_total{{reason=\"deleted_file_grace\",unit=\"bytes\"}} {}\n\
             logmind_agent_given_up_total{{reason=\"rejected\",unit=\"events\"}} {}\n\
             logmind_agent_given_up_total{{reason=\"bad_gzip\",unit=\"files\"}} {}",
            g(&self.given_up_deleted_bytes),
            g(&self.given_up_rejected_events),
            g(&self.given_up_bad_gzip_files)
        );
        out
    }

    /// Counts something given up.
    pub fn give_up(&self, reason: GiveUp, n: u64) {
        let c = match reason {
            GiveUp::DeletedGrace => &self.given_up_deleted_bytes,
            GiveUp::Rejected => &self.given_up_rejected_events,
            GiveUp::BadGzip => &self.given_up_bad_gzip_files,
        };
        Self::add(c, n);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn render_has_counters_and_labels() {
        let m = Metrics::default();
        Metrics::add(&m.bytes_read, 42);
        m.give_up(GiveUp::Rejected, 3);
        let text = m.render();
        assert!(text.contains("logmind_agent_bytes_read_total 42\n"));
        assert!(
            text.contains("logmind_agent_given_up_total{reason=\"rejected\",unit=\"events\"} 3")
        );
    }
}

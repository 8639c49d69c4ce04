//! Counters and latency histograms, rendered as Prometheus text.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Histogram bucket upper bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A cumulative latency histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; 12],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Mean in seconds (0 when empty).
    pub fn mean_secs(&self) -> f64 {
        let n = self.count();
        if n == 0 {
            return 0.0;
        }
        self.sum_us.load(Ordering::Relaxed) as f64 / 1e6 / n as f64
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let c = self.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {c}");
        }
        let n = self.count();
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {n}");
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {n}");
    }
}

/// All indexer metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Raw (decompressed) NDJSON bytes made durable.
    pub ingest_bytes: AtomicU64,
    /// Records made durable.
    pub ingest_records: AtomicU64,
    /// Batches made durable.
    pub ingest_batches: AtomicU64,
    /// Duplicate batches answered without indexing.
    pub duplicates: AtomicU64,
    /// Batches refused (bad request, too large, auth).
    pub refused: AtomicU64,
    /// Batches answered 429/503.
    pub throttled: AtomicU64,
    /// Records refused because older than their retention.
    pub rejected_old: AtomicU64,
    /// Records added to tantivy.
    pub indexed_records: AtomicU64,
    /// WAL fsyncs.
    pub fsyncs: AtomicU64,
    /// Batches made durable by those fsyncs (batches per fsync = this / fsyncs).
    pub fsync_batches: AtomicU64,
    /// WAL write or fsync failures.
    pub wal_errors: AtomicU64,
    /// Commit failures.
    pub commit_errors: AtomicU64,
    /// Indexing failures (each drops uncommitted documents and indexes the WAL again).
    pub index_failures: AtomicU64,
    /// Recoveries from an indexing failure by indexing the WAL again.
    pub index_recoveries: AtomicU64,
    /// fsync latency.
    pub fsync_latency: Histogram,
    /// tantivy commit latency (all partitions of one cycle).
    pub commit_latency: Histogram,
    /// Partitions dropped by retention.
    pub retention_partitions_dropped: AtomicU64,
    /// Documents deleted by per-namespace retention.
    pub retention_docs_deleted: AtomicU64,
    /// Retention runs.
    pub retention_runs: AtomicU64,
}

/// Point-in-time gauges supplied by the caller when rendering.
#[derive(Debug, Default, Clone, Copy)]
pub struct Gauges {
    /// Open partitions.
    pub partitions: u64,
    /// Writers currently open.
    pub open_writers: u64,
    /// Committed documents over all partitions.
    pub docs: u64,
    /// Bytes of all partitions on disk.
    pub index_bytes: u64,
    /// Bytes of WAL on disk.
    pub wal_bytes: u64,
    /// Bytes accepted but not yet indexed.
    pub pending_bytes: u64,
    /// Templates known.
    pub templates: u64,
}

fn counter(out: &mut String, name: &str, help: &str, v: &AtomicU64) {
    let v = v.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
    );
}

fn gauge(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
}

impl Metrics {
    /// Renders Prometheus text exposition.
    pub fn render(&self, g: Gauges) -> String {
        let mut o = String::with_capacity(4096);
        counter(
            &mut o,
            "logmind_ingest_bytes_total",
            "Raw NDJSON bytes made durable.",
            &self.ingest_bytes,
        );
        counter(
            &mut o,
            "logmind_ingest_records_total",
            "Records made durable.",
            &self.ingest_records,
        );
        counter(
            &mut o,
            "logmind_ingest_batches_total",
            "Batches made durable.",
            &self.ingest_batches,
        );
        counter(
            &mut o,
            "logmind_ingest_duplicates_total",
            "Duplicate batches not indexed again.",
            &self.duplicates,
        );
        counter(
            &mut o,
            "logmind_ingest_refused_total",
            "Batches refused (400/401/403/413).",
            &self.refused,
        );
        counter(
            &mut o,
            "logmind_ingest_throttled_total",
            "Batches answered 429/503.",
            &self.throttled,
        );
        counter(
            &mut o,
            "logmind_ingest_rejected_old_total",
            "Records older than their retention, refused.",
            &self.rejected_old,
        );
        counter(
            &mut o,
            "logmind_indexed_records_total",
            "Records added to the index.",
            &self.indexed_records,
        );
        counter(
            &mut o,
            "logmind_wal_fsyncs_total",
            "WAL fsyncs (group commits).",
            &self.fsyncs,
        );
        counter(
            &mut o,
            "logmind_wal_fsync_batches_total",
            "Batches made durable by WAL fsyncs.",
            &self.fsync_batches,
        );
        counter(
            &mut o,
            "logmind_wal_errors_total",
            "WAL write or fsync failures.",
            &self.wal_errors,
        );
        counter(
            &mut o,
            "logmind_commit_errors_total",
            "Index commit failures.",
            &self.commit_errors,
        );
        counter(
            &mut o,
            "logmind_index_failures_total",
            "Indexing failures: uncommitted documents dropped, ingest refused until the WAL is indexed again.",
            &self.index_failures,
        );
        counter(
            &mut o,
            "logmind_index_recoveries_total",
            "Recoveries from an indexing failure by indexing the WAL again.",
            &self.index_recoveries,
        );
        self.fsync_latency
            .render("logmind_wal_fsync_seconds", "WAL fsync latency.", &mut o);
        self.commit_latency.render(
            "logmind_commit_seconds",
            "Index commit latency per cycle.",
            &mut o,
        );
        counter(
            &mut o,
            "logmind_retention_runs_total",
            "Retention runs.",
            &self.retention_runs,
        );
        counter(
            &mut o,
            "logmind_retention_partitions_dropped_total",
            "Partitions dropped by retention.",
            &self.retention_partitions_dropped,
        );
        counter(
            &mut o,
            "logmind_retention_docs_deleted_total",
            "Documents deleted by namespace retention.",
            &self.retention_docs_deleted,
        );
        gauge(
            &mut o,
            "logmind_partitions",
            "Partitions on disk.",
            g.partitions,
        );
        gauge(
            &mut o,
            "logmind_open_writers",
            "Partition writers open.",
            g.open_writers,
        );
        gauge(&mut o, "logmind_docs", "Committed documents.", g.docs);
        gauge(
            &mut o,
            "logmind_index_bytes",
            "Bytes of partitions on disk.",
            g.index_bytes,
        );
        gauge(
            &mut o,
            "logmind_wal_bytes",
            "Bytes of WAL on disk.",
            g.wal_bytes,
        );
        gauge(
            &mut o,
            "logmind_pending_bytes",
            "Bytes accepted but not yet indexed.",
            g.pending_bytes,
        );
        gauge(
            &mut o,
            "logmind_templates",
            "Message templates known.",
            g.templates,
        );
        o
    }
}

//! `[indexer]` and `[indexer.retention]`: ingest limits, write-ahead log, partitions and retention.

use crate::check::{Checker, RawSize, Zero};
use logmind_protocol::units::{ByteSize, HumanDuration};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// `[indexer]` as written in the file (strings not yet parsed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexerBuilder {
    /// Listen address.
    pub listen: String,
    /// Partition length.
    pub partition: String,
    /// Commit interval.
    pub commit_interval: String,
    /// Compressed request body limit.
    pub max_batch_bytes: RawSize,
    /// Decompressed request body limit.
    pub max_decompressed_bytes: RawSize,
    /// WAL segment size.
    pub wal_segment_bytes: RawSize,
    /// tantivy writer heap.
    pub writer_heap_bytes: RawSize,
    /// Backpressure threshold.
    pub max_pending_bytes: RawSize,
    /// `[indexer.retention]`.
    pub retention: RetentionBuilder,
}

impl Default for IndexerBuilder {
    fn default() -> Self {
        IndexerBuilder {
            listen: "127.0.0.1:3100".into(),
            partition: "1d".into(),
            commit_interval: "1s".into(),
            max_batch_bytes: "16MiB".into(),
            max_decompressed_bytes: "64MiB".into(),
            wal_segment_bytes: "64MiB".into(),
            writer_heap_bytes: "128MiB".into(),
            max_pending_bytes: "256MiB".into(),
            retention: RetentionBuilder::default(),
        }
    }
}

/// `[indexer.retention]` as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionBuilder {
    /// Global retention period.
    pub period: String,
    /// How often retention runs.
    pub check_interval: String,
    /// Disk cap, none by default.
    pub max_disk_bytes: Option<RawSize>,
    /// Per-namespace periods.
    pub namespaces: BTreeMap<String, String>,
}

impl Default for RetentionBuilder {
    fn default() -> Self {
        RetentionBuilder {
            period: "7d".into(),
            check_interval: "10m".into(),
            max_disk_bytes: None,
            namespaces: BTreeMap::new(),
        }
    }
}

/// Validated `[indexer]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexerConfig {
    /// Address the indexer (ingest + query API) listens on.
    pub listen: SocketAddr,
    /// Length of one time partition (one tantivy index each); default one day.
    pub partition: HumanDuration,
    /// How often new data is committed (made searchable).
    pub commit_interval: HumanDuration,
    /// Largest accepted ingest request body as sent (compressed); larger → 413.
    pub max_batch_bytes: ByteSize,
    /// Largest ingest body after decompression; larger → 413, never allocated.
    pub max_decompressed_bytes: ByteSize,
    /// Size at which a write-ahead log segment is rolled over.
    pub wal_segment_bytes: ByteSize,
    /// Memory budget of the tantivy index writer.
    pub writer_heap_bytes: ByteSize,
    /// Bytes accepted but not yet committed above which ingest answers 429.
    pub max_pending_bytes: ByteSize,
    /// Retention policy.
    pub retention: RetentionConfig,
}

/// Validated `[indexer.retention]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionConfig {
    /// Data older than this is deleted (whole partitions are dropped).
    pub period: HumanDuration,
    /// How often retention is enforced.
    pub check_interval: HumanDuration,
    /// When set, the oldest partitions are evicted while the data directory exceeds this size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_disk_bytes: Option<ByteSize>,
    /// Per-namespace retention periods overriding `period` for that namespace.
    pub namespaces: BTreeMap<String, HumanDuration>,
}

impl Default for IndexerConfig {
    /// The built-in defaults (what an empty config file gives).
    fn default() -> Self {
        IndexerBuilder::default()
            .validate(&mut Checker::default())
            .expect("built-in indexer defaults are valid (tested)")
    }
}

impl RetentionConfig {
    /// The retention period that applies to `namespace`.
    pub fn period_for(&self, namespace: &str) -> HumanDuration {
        self.namespaces
            .get(namespace)
            .copied()
            .unwrap_or(self.period)
    }

    /// The longest period of any namespace: partitions younger than this must be kept.
    pub fn max_period(&self) -> HumanDuration {
        self.namespaces
            .values()
            .copied()
            .fold(self.period, HumanDuration::max)
    }
}

impl IndexerBuilder {
    /// Parses and checks every value, recording each problem in `c`.
    pub fn validate(&self, c: &mut Checker) -> Option<IndexerConfig> {
        let listen = c.socket_addr("indexer.listen", &self.listen, "127.0.0.1:3100");
        let partition = c.duration("indexer.partition", &self.partition, Zero::Refuse);
        let commit_interval = c.duration(
            "indexer.commit_interval",
            &self.commit_interval,
            Zero::Refuse,
        );
        let max_batch = c.size(
            "indexer.max_batch_bytes",
            &self.max_batch_bytes,
            Zero::Refuse,
        );
        let max_decompressed = c.size(
            "indexer.max_decompressed_bytes",
            &self.max_decompressed_bytes,
            Zero::Refuse,
        );
        let wal_segment = c.size(
            "indexer.wal_segment_bytes",
            &self.wal_segment_bytes,
            Zero::Refuse,
        );
        let writer_heap = c.size(
            "indexer.writer_heap_bytes",
            &self.writer_heap_bytes,
            Zero::Refuse,
        );
        let max_pending = c.size(
            "indexer.max_pending_bytes",
            &self.max_pending_bytes,
            Zero::Refuse,
        );
        let retention = self.retention.validate(c, partition);

        if let (Some(batch), Some(dec)) = (max_batch, max_decompressed) {
            if dec < batch {
                c.invalid(
                    "indexer.max_decompressed_bytes",
                    &dec.to_string(),
                    format!(
                        "smaller than indexer.max_batch_bytes \"{batch}\" (a body never shrinks when decompressed: raise it to at least \"{batch}\")"
                    ),
                );
            }
        }
        if let (Some(pending), Some(dec)) = (max_pending, max_decompressed) {
            if pending < dec {
                c.invalid(
                    "indexer.max_pending_bytes",
                    &pending.to_string(),
                    format!(
                        "smaller than indexer.max_decompressed_bytes \"{dec}\" (one full batch would always get 429: raise it to at least \"{dec}\")"
                    ),
                );
            }
        }
        Some(IndexerConfig {
            listen: listen?,
            partition: partition?,
            commit_interval: commit_interval?,
            max_batch_bytes: max_batch?,
            max_decompressed_bytes: max_decompressed?,
            wal_segment_bytes: wal_segment?,
            writer_heap_bytes: writer_heap?,
            max_pending_bytes: max_pending?,
            retention: retention?,
        })
    }
}

impl RetentionBuilder {
    fn validate(
        &self,
        c: &mut Checker,
        partition: Option<HumanDuration>,
    ) -> Option<RetentionConfig> {
        let period = c.duration("indexer.retention.period", &self.period, Zero::Refuse);
        if let (Some(p), Some(r)) = (partition, period) {
            if r < p {
                c.invalid(
                    "indexer.retention.period",
                    &self.period,
                    format!(
                        "shorter than indexer.partition \"{p}\" (retention must cover at least one partition: raise the period or lower indexer.partition)"
                    ),
                );
            }
        }
        let check_interval = c.duration(
            "indexer.retention.check_interval",
            &self.check_interval,
            Zero::Refuse,
        );
        let max_disk_bytes = match &self.max_disk_bytes {
            None => Some(None),
            Some(raw) => c
                .size("indexer.retention.max_disk_bytes", raw, Zero::Refuse)
                .map(Some),
        };
        let mut namespaces = BTreeMap::new();
        let mut ok = true;
        for (ns, raw) in &self.namespaces {
            let key = format!("indexer.retention.namespaces.{ns}");
            if ns.trim().is_empty() {
                c.invalid(
                    &key,
                    raw,
                    "empty namespace name (name the namespace, e.g. dev = \"1d\")",
                );
                ok = false;
            } else if let Some(d) = c.duration(&key, raw, Zero::Refuse) {
                namespaces.insert(ns.clone(), d);
            } else {
                ok = false;
            }
        }
        Some(RetentionConfig {
            period: period?,
            check_interval: check_interval?,
            max_disk_bytes: max_disk_bytes?,
            namespaces: ok.then_some(namespaces)?,
        })
    }
}

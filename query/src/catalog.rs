//! What the engine reads: time partitions, retention floors, template texts and the clock.
//!
//! [`Catalog`] is implemented by the indexer's `Store` (in production) and by [`DirCatalog`] (tests and
//! benchmarks: real tantivy indexes in directories, written with the indexer's schema).

use logmind_indexer::schema::LogSchema;
use logmind_protocol::LogRecord;
use std::collections::BTreeMap;
use std::path::Path;
use tantivy::{Index, IndexReader, ReloadPolicy, Searcher};

/// A searcher over one time partition `[start_ns, end_ns)`.
#[derive(Clone)]
pub struct PartitionView {
    /// First ns the partition covers.
    pub start_ns: i64,
    /// End (exclusive) of the partition.
    pub end_ns: i64,
    /// A point-in-time searcher over it.
    pub searcher: Searcher,
}

/// The read side of a store, as the engine needs it.
pub trait Catalog: Send + Sync + 'static {
    /// The schema every partition uses.
    fn schema(&self) -> &LogSchema;
    /// Searchers of the partitions overlapping `[start_ns, end_ns)`, any order.
    fn searchers(&self, start_ns: i64, end_ns: i64) -> Vec<PartitionView>;
    /// Oldest visible ts for records of `namespace`.
    fn retention_floor(&self, namespace: &str) -> i64;
    /// The text of a template id.
    fn template_text(&self, id: u64) -> Option<String>;
    /// Current time, ns since the epoch.
    fn now_ns(&self) -> i64;
}

/// One partition of a [`DirCatalog`].
struct DirPartition {
    start_ns: i64,
    end_ns: i64,
    reader: IndexReader,
}

/// A catalog over tantivy indexes in a directory, one per `partition_ns` of time (tests and benchmarks).
pub struct DirCatalog {
    schema: LogSchema,
    partitions: Vec<DirPartition>,
    /// Retention period (ns) per namespace; `default_retention_ns` for the others.
    pub retention_ns: BTreeMap<String, i64>,
    /// Default retention period (ns).
    pub default_retention_ns: i64,
    /// Template id → text.
    pub templates: BTreeMap<u64, String>,
    /// Fixed "now" (ns); `None` uses the wall clock.
    pub now_ns: Option<i64>,
}

impl DirCatalog {
    /// Writes `records` into `dir/<partition start>/` indexes (one commit per partition, `segments` segments
    /// each) and opens them. `template` maps a message to its template id and text.
    pub fn build(
        dir: &Path,
        partition_ns: i64,
        records: &[LogRecord],
        segments: usize,
        template: &dyn Fn(&str) -> (u64, String),
    ) -> tantivy::Result<DirCatalog> {
        let schema = LogSchema::new();
        let mut by_part: BTreeMap<i64, Vec<&LogRecord>> = BTreeMap::new();
        for r in records {
            by_part
                .entry(r.ts.div_euclid(partition_ns) * partition_ns)
                .or_default()
                .push(r);
        }
        let mut templates = BTreeMap::new();
        let mut partitions = Vec::new();
        for (start, recs) in by_part {
            let index = schema.open_or_create(&dir.join(start.to_string()))?;
            let chunk = recs.len().div_ceil(segments.max(1)).max(1);
            for part in recs.chunks(chunk) {
                let mut writer: tantivy::IndexWriter =
                    index.writer_with_num_threads(1, 50_000_000)?;
                for r in part {
                    let (id, text) = template(&r.message);
                    templates.entry(id).or_insert(text);
                    writer.add_document(schema.to_document(r, id))?;
                }
                writer.commit()?;
                writer.wait_merging_threads()?;
            }
            partitions.push(DirPartition {
                start_ns: start,
                end_ns: start + partition_ns,
                reader: open_reader(&index)?,
            });
        }
        Ok(DirCatalog {
            schema,
            partitions,
            retention_ns: BTreeMap::new(),
            default_retention_ns: i64::MAX,
            templates,
            now_ns: None,
        })
    }

    /// Opens the partitions a previous [`DirCatalog::build`] wrote under `dir`.
    pub fn open(dir: &Path, partition_ns: i64) -> tantivy::Result<DirCatalog> {
        let schema = LogSchema::new();
        let mut partitions = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let Some(start) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i64>().ok())
            else {
                continue;
            };
            let index = schema.open_or_create(&entry.path())?;
            partitions.push(DirPartition {
                start_ns: start,
                end_ns: start + partition_ns,
                reader: open_reader(&index)?,
            });
        }
        partitions.sort_by_key(|p| p.start_ns);
        Ok(DirCatalog {
            schema,
            partitions,
            retention_ns: BTreeMap::new(),
            default_retention_ns: i64::MAX,
            templates: BTreeMap::new(),
            now_ns: None,
        })
    }

    /// Deletes every document of `namespace` older than `before_ns` in every partition (as retention does).
    pub fn delete_older(&self, dir: &Path, namespace: &str, before_ns: i64) -> tantivy::Result<()> {
        for p in &self.partitions {
            let index = self
                .schema
                .open_or_create(&dir.join(p.start_ns.to_string()))?;
            let mut writer: tantivy::IndexWriter = index.writer_with_num_threads(1, 50_000_000)?;
            let q = tantivy::query::BooleanQuery::intersection(vec![
                Box::new(tantivy::query::TermQuery::new(
                    tantivy::Term::from_field_text(self.schema.namespace, namespace),
                    tantivy::schema::IndexRecordOption::Basic,
                )),
                Box::new(tantivy::query::RangeQuery::new(
                    std::ops::Bound::Unbounded,
                    std::ops::Bound::Excluded(tantivy::Term::from_field_i64(
                        self.schema.ts,
                        before_ns,
                    )),
                )),
            ]);
            writer.delete_query(Box::new(q))?;
            writer.commit()?;
            p.reader.reload()?;
        }
        Ok(())
    }
}

fn open_reader(index: &Index) -> tantivy::Result<IndexReader> {
    index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
}

impl Catalog for DirCatalog {
    fn schema(&self) -> &LogSchema {
        &self.schema
    }
    fn searchers(&self, start_ns: i64, end_ns: i64) -> Vec<PartitionView> {
        self.partitions
            .iter()
            .filter(|p| p.start_ns < end_ns && p.end_ns > start_ns)
            .map(|p| PartitionView {
                start_ns: p.start_ns,
                end_ns: p.end_ns,
                searcher: p.reader.searcher(),
            })
            .collect()
    }
    fn retention_floor(&self, namespace: &str) -> i64 {
        let period = self
            .retention_ns
            .get(namespace)
            .copied()
            .unwrap_or(self.default_retention_ns);
        self.now_ns().saturating_sub(period)
    }
    fn template_text(&self, id: u64) -> Option<String> {
        self.templates.get(&id).cloned()
    }
    fn now_ns(&self) -> i64 {
        self.now_ns
            .unwrap_or_else(logmind_protocol::time::now_nanos)
    }
}

/// The indexer's store as a [`Catalog`].
pub struct StoreCatalog(pub std::sync::Arc<logmind_indexer::Store>);

impl Catalog for StoreCatalog {
    fn schema(&self) -> &LogSchema {
        self.0.schema()
    }
    fn searchers(&self, start_ns: i64, end_ns: i64) -> Vec<PartitionView> {
        self.0
            .searchers(start_ns, end_ns)
            .into_iter()
            .map(|p| PartitionView {
                start_ns: p.start_ns,
                end_ns: p.end_ns,
                searcher: p.searcher,
            })
            .collect()
    }
    fn retention_floor(&self, namespace: &str) -> i64 {
        self.0.retention_floor(namespace)
    }
    fn template_text(&self, id: u64) -> Option<String> {
        self.0.templates().text(id)
    }
    fn now_ns(&self) -> i64 {
        self.0.clock().now_ns()
    }
}

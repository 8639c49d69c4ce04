//! Retention: what to drop (pure planning, property-tested) and doing it on the indexing thread.
//!
//! - A partition is dropped whole only when it ends before `now − longest period` of any namespace.
//! - Periods shorter than the longest are applied by deleting documents (namespace + ts range) in the
//!   partitions that still exist; [`crate::Store::retention_floor`] hides them from queries meanwhile.
//! - Past the disk cap, the oldest partitions are evicted first.
//! - The partition containing `now` (being written) and any later one are never removed.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use tantivy::collector::Count;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::Term;

use crate::options::{dur_ns, RetentionPolicy};
use crate::pipeline::Pipeline;
use crate::schema::LogSchema;

/// A partition as retention sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionInfo {
    /// First ns covered.
    pub start_ns: i64,
    /// First ns not covered.
    pub end_ns: i64,
    /// Bytes on disk.
    pub bytes: u64,
}

/// Documents to delete inside a partition that stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteRule {
    /// Records of this namespace older than `before`.
    Namespace {
        /// The namespace.
        namespace: String,
        /// Delete `ts < before`.
        before: i64,
    },
    /// Records of every namespace without its own period, older than `before`.
    Default {
        /// Delete `ts < before`.
        before: i64,
        /// Namespaces with their own period (not touched by this rule).
        except: Vec<String>,
    },
}

/// What one retention run will do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPlan {
    /// Partitions (starts) past the longest period.
    pub drop: Vec<i64>,
    /// Partitions (starts) evicted for the disk cap, oldest first.
    pub evict: Vec<i64>,
    /// Deletions inside kept partitions.
    pub delete: Vec<(i64, DeleteRule)>,
}

/// Plans a run (pure). `partitions` may be in any order.
pub fn plan(
    policy: &RetentionPolicy,
    now: i64,
    partition_ns: i64,
    partitions: &[PartitionInfo],
) -> RetentionPlan {
    let mut parts = partitions.to_vec();
    parts.sort_by_key(|p| p.start_ns);
    let current = now.div_euclid(partition_ns.max(1)) * partition_ns.max(1);
    let removable = |p: &PartitionInfo| p.start_ns < current;
    let longest_floor = now.saturating_sub(dur_ns(policy.longest()));
    let mut out = RetentionPlan::default();
    let mut kept = Vec::new();
    for p in parts {
        if removable(&p) && p.end_ns <= longest_floor {
            out.drop.push(p.start_ns);
        } else {
            kept.push(p);
        }
    }
    if let Some(cap) = policy.max_disk_bytes {
        let mut total: u64 = kept.iter().map(|p| p.bytes).sum();
        let mut still = Vec::new();
        for p in kept {
            if total > cap && removable(&p) {
                total -= p.bytes;
                out.evict.push(p.start_ns);
            } else {
                still.push(p);
            }
        }
        kept = still;
    }
    let longest = dur_ns(policy.longest());
    let mut rules = Vec::new();
    if dur_ns(policy.period) < longest {
        rules.push(DeleteRule::Default {
            before: now.saturating_sub(dur_ns(policy.period)),
            except: policy.namespaces.keys().cloned().collect(),
        });
    }
    for (ns, period) in &policy.namespaces {
        if dur_ns(*period) < longest {
            rules.push(DeleteRule::Namespace {
                namespace: ns.clone(),
                before: now.saturating_sub(dur_ns(*period)),
            });
        }
    }
    for p in &kept {
        for r in &rules {
            let before = match r {
                DeleteRule::Namespace { before, .. } | DeleteRule::Default { before, .. } => {
                    *before
                }
            };
            if p.start_ns < before {
                out.delete.push((p.start_ns, r.clone()));
            }
        }
    }
    out
}

/// The tantivy query selecting a rule's documents.
pub fn rule_query(schema: &LogSchema, rule: &DeleteRule) -> Box<dyn Query> {
    let range = |before: i64| -> Box<dyn Query> {
        Box::new(RangeQuery::new(
            Bound::Unbounded,
            Bound::Excluded(Term::from_field_i64(schema.ts, before)),
        ))
    };
    let ns_term = |ns: &str| -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(schema.namespace, ns),
            IndexRecordOption::Basic,
        ))
    };
    match rule {
        DeleteRule::Namespace { namespace, before } => Box::new(BooleanQuery::new(vec![
            (Occur::Must, ns_term(namespace)),
            (Occur::Must, range(*before)),
        ])),
        DeleteRule::Default { before, except } => {
            let mut clauses = vec![(Occur::Must, range(*before))];
            clauses.extend(except.iter().map(|ns| (Occur::MustNot, ns_term(ns))));
            Box::new(BooleanQuery::new(clauses))
        }
    }
}

/// What a retention run removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionReport {
    /// When it ran (ns).
    pub ran_at_ns: i64,
    /// Partitions dropped past the longest period.
    pub dropped: Vec<String>,
    /// Partitions evicted for the disk cap.
    pub evicted: Vec<String>,
    /// Documents deleted by shorter periods.
    pub docs_deleted: u64,
    /// Bytes freed by dropped and evicted partitions.
    pub bytes_freed: u64,
    /// Errors met (the run continues past them).
    pub errors: Vec<String>,
}

impl Pipeline {
    /// Plans and applies retention now.
    pub fn run_retention(&mut self) -> RetentionReport {
        let now = self.store.clock().now_ns();
        let mut report = RetentionReport {
            ran_at_ns: now,
            ..Default::default()
        };
        let parts = self.store.partitions();
        let infos: Vec<PartitionInfo> = parts
            .iter()
            .map(|p| PartitionInfo {
                start_ns: p.start_ns,
                end_ns: p.end_ns,
                bytes: crate::fsutil::dir_size(&p.dir),
            })
            .collect();
        let plan = plan(
            self.store.retention(),
            now,
            self.store.partition_ns(),
            &infos,
        );
        let evicted: BTreeSet<i64> = plan.evict.iter().copied().collect();
        for start in plan.drop.iter().chain(&plan.evict) {
            self.close_writer(*start);
            let Some(p) = self.store.remove_partition(*start) else {
                continue;
            };
            let bytes = crate::fsutil::dir_size(&p.dir);
            match std::fs::remove_dir_all(&p.dir) {
                Ok(()) => {
                    report.bytes_freed += bytes;
                    self.metrics
                        .retention_partitions_dropped
                        .fetch_add(1, Ordering::Relaxed);
                    let why = if evicted.contains(start) {
                        "disk cap"
                    } else {
                        "period"
                    };
                    tracing::info!(partition = %p.name, bytes, reason = why, "retention removed a partition");
                    if evicted.contains(start) {
                        report.evicted.push(p.name.clone());
                    } else {
                        report.dropped.push(p.name.clone());
                    }
                }
                Err(e) => report
                    .errors
                    .push(format!("remove {}: {e}", p.dir.display())),
            }
        }
        let mut deleted_any = false;
        for (start, rule) in &plan.delete {
            let Some(p) = self.store.partition(*start) else {
                continue;
            };
            let query = rule_query(self.store.schema(), rule);
            let n = match p.reader.searcher().search(query.as_ref(), &Count) {
                Ok(n) => n as u64,
                Err(e) => {
                    report.errors.push(format!("count in {}: {e}", p.name));
                    continue;
                }
            };
            if n == 0 {
                continue;
            }
            let res = self.writer(*start).and_then(|w| {
                w.dirty = true;
                w.writer
                    .delete_query(query)
                    .map_err(crate::error::IndexerError::index("delete", &p.dir))
            });
            match res {
                Ok(_) => {
                    deleted_any = true;
                    report.docs_deleted += n;
                    tracing::info!(partition = %p.name, docs = n, rule = ?rule, "retention deleting documents");
                }
                Err(e) => report.errors.push(e.to_string()),
            }
        }
        if deleted_any {
            if let Err(e) = self.commit() {
                report.errors.push(e.to_string());
            }
        }
        self.metrics
            .retention_docs_deleted
            .fetch_add(report.docs_deleted, Ordering::Relaxed);
        self.metrics.retention_runs.fetch_add(1, Ordering::Relaxed);
        *self.health.last_retention.lock() = Some(report.clone());
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    const DAY: i64 = 86_400 * 1_000_000_000;

    fn policy(days: u64) -> RetentionPolicy {
        RetentionPolicy {
            period: Duration::from_secs(days * 86_400),
            ..Default::default()
        }
    }

    proptest! {
        #[test]
        fn never_removes_the_current_partition_and_only_past_the_longest_period(
            now_day in 10i64..1000, frac in 0i64..DAY, n in 1usize..30, days in 1u64..20,
            ns_days in 1u64..30, cap in proptest::option::of(0u64..5000),
        ) {
            let now = now_day * DAY + frac;
            let mut pol = policy(days);
            pol.namespaces.insert("long".into(), Duration::from_secs(ns_days * 86_400));
            pol.max_disk_bytes = cap;
            let parts: Vec<PartitionInfo> = (0..n as i64)
                .map(|i| PartitionInfo { start_ns: (now_day - i) * DAY, end_ns: (now_day - i + 1) * DAY, bytes: 100 })
                .collect();
            let p = plan(&pol, now, DAY, &parts);
            let longest = dur_ns(pol.longest());
            for s in p.drop.iter().chain(&p.evict) {
                prop_assert!(*s != now_day * DAY, "current partition removed");
            }
            for s in &p.drop {
                prop_assert!(s + DAY <= now - longest);
            }
            if let Some(cap) = cap {
                let left: u64 = parts.iter().filter(|x| !p.drop.contains(&x.start_ns) && !p.evict.contains(&x.start_ns)).map(|x| x.bytes).sum();
                prop_assert!(left <= cap.max(100));
            }
        }
    }

    #[test]
    fn shorter_namespace_period_deletes_instead_of_dropping() {
        let now = 100 * DAY + 5;
        let mut pol = policy(7);
        pol.namespaces
            .insert("short".into(), Duration::from_secs(86_400));
        let parts: Vec<_> = (90..=100)
            .map(|d| PartitionInfo {
                start_ns: d * DAY,
                end_ns: (d + 1) * DAY,
                bytes: 1,
            })
            .collect();
        let p = plan(&pol, now, DAY, &parts);
        assert_eq!(p.drop, vec![90 * DAY, 91 * DAY, 92 * DAY]);
        assert!(p.evict.is_empty());
        let short: Vec<i64> = p.delete.iter().map(|(s, _)| *s).collect();
        assert_eq!(short, (93..=99).map(|d| d * DAY).collect::<Vec<_>>());
    }
}

//! Grouping accuracy (Loghub "GA") of the template miner on the Loghub 2k samples: a message is correctly
//! grouped iff the set of messages sharing its predicted template equals the set sharing its ground-truth
//! `EventId`. One miner per dataset, default options (one parameter set for all logs), message = `Content`.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use logmind_indexer::template::{MinerOptions, TemplateMiner};

/// Datasets that must be present and must reach [`MIN_GA`].
const REQUIRED: [&str; 4] = ["Apache", "HDFS", "Hadoop", "Zookeeper"];
const MIN_GA: f64 = 0.95;

/// `LOGMIND_LOGHUB_DIR`, else the first `shared/datasets/loghub` found walking up from this crate.
fn loghub_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("LOGMIND_LOGHUB_DIR") {
        return PathBuf::from(dir);
    }
    let mut dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")));
    while let Some(d) = dir {
        let candidate = d.join("shared/datasets/loghub");
        if candidate.is_dir() {
            return candidate;
        }
        dir = d.parent();
    }
    panic!("loghub datasets not found: set LOGMIND_LOGHUB_DIR to the directory holding Apache/, HDFS/, …");
}

/// Parses RFC 4180 CSV: quoted fields may hold commas, newlines and doubled quotes.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                any = false;
            }
            _ => field.push(c),
        }
    }
    if any {
        row.push(field);
        rows.push(row);
    }
    rows
}

#[test]
fn csv_parser_handles_quotes_commas_and_doubled_quotes() {
    let rows = parse_csv("a,b,c\n1,\"x, y\",\"say \"\"hi\"\"\"\r\n2,,\"multi\nline\"\n");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1], vec!["1", "x, y", "say \"hi\""]);
    assert_eq!(rows[2], vec!["2", "", "multi\nline"]);
}

/// Loghub grouping accuracy of `predicted` against `truth` (same length).
fn grouping_accuracy(truth: &[String], predicted: &[u64]) -> f64 {
    let mut by_truth: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_pred: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, (t, p)) in truth.iter().zip(predicted).enumerate() {
        by_truth.entry(t).or_default().push(i);
        by_pred.entry(*p).or_default().push(i);
    }
    let correct: usize = by_truth
        .values()
        .filter(|members| by_pred[&predicted[members[0]]] == **members)
        .map(Vec::len)
        .sum();
    correct as f64 / truth.len() as f64
}

#[test]
fn grouping_accuracy_metric_counts_exact_groups_only() {
    let truth: Vec<String> = ["a", "a", "b", "c"].iter().map(|s| s.to_string()).collect();
    assert_eq!(grouping_accuracy(&truth, &[1, 1, 2, 3]), 1.0);
    // b and c merged: only the a group is exact.
    assert_eq!(grouping_accuracy(&truth, &[1, 1, 2, 2]), 0.5);
    // a split: only b and c are exact.
    assert_eq!(grouping_accuracy(&truth, &[1, 4, 2, 3]), 0.5);
}

struct Outcome {
    ga: f64,
    report: String,
}

fn evaluate(csv_path: &Path) -> Outcome {
    let text =
        fs::read_to_string(csv_path).unwrap_or_else(|e| panic!("read {}: {e}", csv_path.display()));
    let rows = parse_csv(&text);
    let header = &rows[0];
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("{}: no {name} column", csv_path.display()))
    };
    let (content, event) = (col("Content"), col("EventId"));
    let miner = TemplateMiner::new(MinerOptions::default());
    let mut truth = Vec::new();
    let mut predicted = Vec::new();
    let mut examples: HashMap<String, String> = HashMap::new();
    for row in &rows[1..] {
        assert_eq!(
            row.len(),
            header.len(),
            "{}: ragged row {row:?}",
            csv_path.display()
        );
        predicted.push(miner.assign(&row[content]));
        truth.push(row[event].clone());
        examples
            .entry(row[event].clone())
            .or_insert_with(|| row[content].clone());
    }
    let ga = grouping_accuracy(&truth, &predicted);
    // Describe wrongly grouped truth events, largest first, to make a failure actionable.
    let mut pred_sets: HashMap<u64, Vec<&str>> = HashMap::new();
    let mut truth_sets: HashMap<&str, Vec<u64>> = HashMap::new();
    for (t, p) in truth.iter().zip(&predicted) {
        pred_sets.entry(*p).or_default().push(t);
        truth_sets.entry(t).or_default().push(*p);
    }
    let mut wrong: Vec<(usize, String)> = truth_sets
        .iter()
        .filter(|(t, ps)| {
            ps.iter()
                .any(|p| p != &ps[0] || pred_sets[p].iter().any(|x| x != *t))
        })
        .map(|(t, ps)| {
            let mut ids: Vec<u64> = ps.clone();
            ids.sort_unstable();
            ids.dedup();
            let texts: Vec<String> = ids
                .iter()
                .map(|id| miner.text(*id).unwrap_or_default())
                .collect();
            (
                ps.len(),
                format!(
                    "  {t} ({} msgs, e.g. {:?}) -> {texts:?}",
                    ps.len(),
                    examples[*t]
                ),
            )
        })
        .collect();
    wrong.sort_by_key(|w| std::cmp::Reverse(w.0));
    let report = wrong
        .into_iter()
        .take(8)
        .map(|w| w.1)
        .collect::<Vec<_>>()
        .join("\n");
    Outcome { ga, report }
}

#[test]
fn loghub_grouping_accuracy_at_least_095_on_each_dataset() {
    let dir = loghub_dir();
    let mut failures = Vec::new();
    let mut seen = Vec::new();
    let mut entries: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    for ds in entries {
        let name = ds.file_name().expect("name").to_string_lossy().to_string();
        let Some(csv) = fs::read_dir(&ds)
            .expect("dataset dir")
            .map(|e| e.expect("entry").path())
            .find(|p| p.to_string_lossy().ends_with("_structured.csv"))
        else {
            continue;
        };
        let out = evaluate(&csv);
        println!("loghub {name}: grouping accuracy {:.4}", out.ga);
        if !out.report.is_empty() {
            println!("{}", out.report);
        }
        if out.ga < MIN_GA {
            failures.push(format!("{name}: {:.4}", out.ga));
        }
        seen.push(name);
    }
    for required in REQUIRED {
        assert!(
            seen.iter().any(|s| s == required),
            "dataset {required} missing in {}",
            dir.display()
        );
    }
    assert!(
        failures.is_empty(),
        "grouping accuracy below {MIN_GA}: {failures:?}"
    );
}

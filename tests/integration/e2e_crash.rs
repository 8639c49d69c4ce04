//! Crash safety end to end: `kill -9` the agent (three times, at random moments) or the indexer (once) while
//! `logmind generate --rate` writes continuously; once everything is shipped the indexer holds exactly the
//! manifest's events: nothing lost, nothing duplicated.

use crate::common;

use common::*;
use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const RATE: &str = "2000";
const DURATION: &str = "8s";
const GEN_SECS: f64 = 8.0;

/// xorshift64*: enough randomness for kill moments; the seed is printed so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn from_env_or_clock() -> Rng {
        let seed = std::env::var("LOGMIND_E2E_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            })
            | 1;
        eprintln!("kill schedule seed: LOGMIND_E2E_SEED={seed}");
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `[lo, hi)`.
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
    }
}

fn start_generator(s: &Scratch) -> Proc {
    Proc::spawn(
        "generate",
        &[
            "generate",
            "--root",
            &s.host().display().to_string(),
            "--rate",
            RATE,
            "--duration",
            DURATION,
            "-q",
        ],
        &s.logs(),
    )
}

/// Waits for the generator to finish and returns the final manifest.
fn finish_generator(gen: &mut Proc, s: &Scratch) -> logmind_workload::Manifest {
    let status = gen
        .wait_exit(Duration::from_secs(40))
        .unwrap_or_else(|| panic!("generator still running after 40s:\n{}", gen.output()));
    assert!(status.success(), "generator failed: {}", gen.output());
    let m = read_manifest(&s.host().join("manifest.json"));
    assert!(m.complete, "final manifest is complete");
    assert!(
        m.totals.events > 1000,
        "generator wrote {} events",
        m.totals.events
    );
    m
}

/// Every event once: exact count, and no two records from the same (agent, file, offset).
fn assert_exact(http: &Http, base: &str, m: &logmind_workload::Manifest) {
    let want = m.totals.events - m.deleted.events;
    let took = wait_docs(http, base, want, Duration::from_secs(60));
    eprintln!(
        "indexer reached {want} events {:.2}s after the generator ended",
        took.as_secs_f64()
    );
    let (events, _) = search_all(http, base, &range_params(m), 5000);
    let mut keys = HashSet::new();
    let dups: Vec<String> = events
        .iter()
        .map(|v| {
            let s = &v["source"];
            format!("{}|{}|{}", s["agent"], s["file"], s["offset"])
        })
        .filter(|k| !keys.insert(k.clone()))
        .collect();
    assert!(
        dups.is_empty(),
        "{} duplicated records, e.g. {:?}",
        dups.len(),
        &dups[..dups.len().min(5)]
    );
    assert_eq!(
        events.len() as u64,
        want,
        "searchable events vs the manifest"
    );
    let per_ns: u64 = m.by_namespace.values().sum();
    assert_eq!(per_ns, m.totals.events, "manifest is self-consistent");
}

#[test]
fn agent_killed_three_times_loses_and_duplicates_nothing() {
    let s = Scratch::new();
    let http = Http::new();
    let indexer = Indexer::start(&http, &s.index(), 0, &s.logs());
    let mut agent = start_agent(&indexer.base, &s.agent(), &s.host(), &s.logs());
    let mut gen = start_generator(&s);
    let t0 = Instant::now();
    let mut rng = Rng::from_env_or_clock();
    // Three moments spread over the generator's run, each in its own third (so they are distinct).
    let kills: Vec<f64> = (0..3)
        .map(|i| {
            let third = (GEN_SECS - 1.0) / 3.0;
            0.5 + i as f64 * third + rng.range(0.1, third - 0.1)
        })
        .collect();
    for (i, at) in kills.iter().enumerate() {
        let wait = Duration::from_secs_f64(*at).saturating_sub(t0.elapsed());
        std::thread::sleep(wait);
        agent.assert_running();
        agent.kill9();
        let docs = indexed_docs(&http, &indexer.base);
        eprintln!(
            "kill -9 #{} of the agent at {:.2}s (indexer holds {docs:?})",
            i + 1,
            t0.elapsed().as_secs_f64()
        );
        std::thread::sleep(Duration::from_secs_f64(rng.range(0.0, 0.5)));
        agent = start_agent(&indexer.base, &s.agent(), &s.host(), &s.logs());
    }
    let m = finish_generator(&mut gen, &s);
    agent.assert_running();
    assert_exact(&http, &indexer.base, &m);
}

#[test]
fn indexer_killed_while_the_agent_ships_loses_and_duplicates_nothing() {
    let s = Scratch::new();
    let http = Http::new();
    let mut indexer = Indexer::start(&http, &s.index(), 0, &s.logs());
    let port = indexer.port;
    let mut agent = start_agent(&indexer.base, &s.agent(), &s.host(), &s.logs());
    let mut gen = start_generator(&s);
    let t0 = Instant::now();
    // Kill once data is flowing (bounded wait), at most 6 s into the run.
    while indexed_docs(&http, &indexer.base).unwrap_or(0) < 2000 && t0.elapsed().as_secs_f64() < 6.0
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = indexed_docs(&http, &indexer.base);
    indexer.proc.kill9();
    eprintln!(
        "kill -9 of the indexer at {:.2}s (it held {before:?})",
        t0.elapsed().as_secs_f64()
    );
    // Restart on the same data directory and port while the agent keeps retrying.
    let indexer = Indexer::start(&http, &s.index(), port, &s.logs());
    let m = finish_generator(&mut gen, &s);
    agent.assert_running();
    assert_exact(&http, &indexer.base, &m);
}

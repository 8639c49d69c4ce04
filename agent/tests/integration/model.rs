//! Model-based randomized test: random sequences of write / rename-rotate / copytruncate / gzip / delete /
//! agent restart against a simple model (the list of lines written); the multiset of shipped messages must
//! equal what was written — nothing lost, nothing duplicated. Seeded (`LOGMIND_MODEL_SEED`), bounded in time;
//! `LOGMIND_MODEL_POLL=1` runs the agent without change notifications.
//! A second run adds lines the runtime split into CRI pieces with a rotation (then maybe gzip) or an agent
//! restart between pieces: each must arrive as one message. That run has no `copytruncate`: kubelet and Docker,
//! which split lines, rotate by rename, and logrotate's `copytruncate` splits no lines. (Mixed, the order of a
//! copy and of the file it was copied from is not always known: a file the agent never saw, emptied by
//! `copytruncate` and then renamed, keeps an inode born before its copy.)

use crate::common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Container {
    dir: PathBuf,
    /// The file the runtime writes: `0.log` (kubelet), `<id>-json.log` (Docker).
    live: PathBuf,
    docker: bool,
    /// kubelet: rotated files (`0.log.<time>`), then compressed ones.
    rotated: Vec<PathBuf>,
    gz: Vec<PathBuf>,
    /// Docker: the rotated files newest first, each at `<live>.<position + 1>`, compressed or not; every rotation
    /// renames them all one up.
    chain: Vec<bool>,
}

impl Container {
    fn chained(&self, i: usize, gz: bool) -> PathBuf {
        let gz = if gz { ".gz" } else { "" };
        PathBuf::from(format!("{}.{}{gz}", self.live.display(), i + 1))
    }

    /// Compresses the `i`-th rotated file the way the runtime does (Docker: `chain[i]`, in place; kubelet:
    /// `rotated[i]`, through a temp file).
    fn compress(&mut self, i: usize) {
        if self.docker {
            gzip_like_docker(&self.chained(i, false), &self.chained(i, true));
            self.chain[i] = true;
        } else {
            let src = self.rotated.remove(i);
            let dst = PathBuf::from(format!("{}.gz", src.display()));
            gzip_like_kubelet(&src, &dst);
            self.gz.push(dst);
        }
    }

    fn line(&self, msg: &str, n: u64) -> String {
        if self.docker {
            docker(msg, n)
        } else {
            cri(msg, n)
        }
    }

    fn piece(&self, piece: &str, last: bool, n: u64) -> String {
        if self.docker {
            docker_piece(piece, last, n)
        } else {
            cri_piece(piece, last, n)
        }
    }
}

struct World {
    containers: Vec<Container>,
    written: Vec<String>,
    n: u64,
    stamp: u64,
}

impl World {
    fn write(&mut self, c: usize, k: u64) {
        let log = self.containers[c].live.clone();
        let mut text = String::new();
        for _ in 0..k {
            self.n += 1;
            let m = format!(
                "model c{c} line {} {}",
                self.n,
                "x".repeat((self.n % 37) as usize)
            );
            text.push_str(&self.containers[c].line(&m, self.n));
            self.written.push(m);
        }
        append(&log, &text);
    }

    /// A line written in 2–4 pieces (CRI `P`…`F`, Docker pieces without `\n`), `cut` of them before `between` runs and the rest after it.
    async fn write_split<F: std::future::Future<Output = ()>>(
        &mut self,
        c: usize,
        pieces: u64,
        cut: u64,
        between: impl FnOnce(&mut World) -> F,
    ) {
        self.n += 1;
        let n = self.n;
        let parts: Vec<String> = (0..pieces)
            .map(|i| {
                format!(
                    "model c{c} split {n} piece {i} {} ",
                    "y".repeat((n % 23) as usize)
                )
            })
            .collect();
        let log = self.containers[c].live.clone();
        let text = |w: &World, r: std::ops::Range<usize>| {
            r.map(|i| w.containers[c].piece(&parts[i], i + 1 == parts.len(), n))
                .collect::<String>()
        };
        append(&log, &text(self, 0..cut as usize));
        between(self).await;
        append(&log, &text(self, cut as usize..parts.len()));
        self.written.push(parts.concat());
    }

    /// Renames the live file away as its runtime rotates (kubelet: to `0.log.<time>`; Docker: every rotated file
    /// one up, the live file to `.1`); false when there is no live file.
    fn rotate(&mut self, c: usize) -> bool {
        let k = &self.containers[c];
        if !k.live.exists() {
            return false;
        }
        if k.docker {
            for i in (0..k.chain.len()).rev() {
                fs::rename(k.chained(i, k.chain[i]), k.chained(i + 1, k.chain[i])).unwrap();
            }
            fs::rename(&k.live, k.chained(0, false)).unwrap();
            self.containers[c].chain.insert(0, false);
        } else {
            let (live, to) = (k.live.clone(), self.next_rotated_name(c));
            fs::rename(live, &to).unwrap();
            self.containers[c].rotated.push(to);
        }
        true
    }

    fn next_rotated_name(&mut self, c: usize) -> PathBuf {
        self.stamp += 1;
        self.containers[c]
            .dir
            .join(format!("0.log.20240501-{:06}", self.stamp))
    }

    /// Compresses the newest rotated file (Docker does so right after a rotation; kubelet later).
    fn gzip_newest(&mut self, c: usize) {
        let k = &mut self.containers[c];
        let newest = if k.docker {
            (k.chain.first() == Some(&false)).then_some(0)
        } else {
            k.rotated.len().checked_sub(1)
        };
        if let Some(i) = newest {
            k.compress(i);
        }
    }

    /// Compresses a rotated file picked at random; false when none is left uncompressed.
    fn gzip_any(&mut self, c: usize, rng: &mut Rng) -> bool {
        let k = &mut self.containers[c];
        let plain: Vec<usize> = if k.docker {
            (0..k.chain.len()).filter(|&i| !k.chain[i]).collect()
        } else {
            (0..k.rotated.len()).collect()
        };
        if plain.is_empty() {
            return false;
        }
        k.compress(plain[rng.below(plain.len() as u64) as usize]);
        true
    }

    fn rotated_files(&self, c: usize) -> usize {
        let k = &self.containers[c];
        k.rotated.len() + k.gz.len() + k.chain.len()
    }

    /// Deletes a rotated file (kubelet: one picked at random; Docker: the oldest, as `max-file` does).
    fn delete_any(&mut self, c: usize, rng: &mut Rng) {
        let total = self.rotated_files(c) as u64;
        let i = rng.below(total) as usize;
        let k = &mut self.containers[c];
        let p = if k.docker {
            let gz = k.chain.pop().unwrap_or(false);
            k.chained(k.chain.len(), gz)
        } else if i < k.rotated.len() {
            k.rotated.remove(i)
        } else {
            let nrot = k.rotated.len();
            k.gz.remove(i - nrot)
        };
        delete(&p);
    }
}

fn expected(w: &World) -> HashMap<String, usize> {
    count(w.written.iter().cloned())
}

async fn sync(recv: &Receiver, w: &World, why: &str, ops: &[String]) {
    let exp = expected(w);
    if !recv.wait_for(&exp, Duration::from_secs(15)).await {
        let got = recv.messages();
        let mut missing: Vec<&String> = exp.keys().filter(|k| !got.contains_key(*k)).collect();
        missing.sort();
        eprintln!("ops {ops:?}");
        dump_records(recv);
        panic!(
            "{} lines not shipped before {why}, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
    }
}

/// With `LOGMIND_TEST_LOG` set, prints every record received with the file identity and offset it was read at.
fn dump_records(recv: &Receiver) {
    if std::env::var_os("LOGMIND_TEST_LOG").is_some() {
        for (i, r) in recv.records().iter().enumerate() {
            eprintln!(
                "record {i}: {:?} from {} at {}",
                r.message, r.source.file, r.source.offset
            );
        }
    }
}

/// gzips `src` the way Docker does: `dst` is written in place next to `src` (here in two writes, so that a scan can
/// find it partly written), then `src` is removed.
fn gzip_like_docker(src: &Path, dst: &Path) {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&fs::read(src).unwrap()).unwrap();
    let gz = enc.finish().unwrap();
    let mut f = fs::File::create(dst).unwrap();
    let half = gz.len() / 2;
    f.write_all(&gz[..half]).unwrap();
    std::thread::sleep(Duration::from_millis(3));
    f.write_all(&gz[half..]).unwrap();
    drop(f);
    fs::remove_file(src).unwrap();
}

fn delete(p: &Path) {
    fs::remove_file(p).unwrap();
}

async fn run_model(seed: u64, ops: usize, split: bool, docker_layout: bool) {
    init_tracing();
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let recv = Receiver::start().await;
    let mut w = World {
        containers: (0..2)
            .map(|i| {
                let (dir, live) = if docker_layout {
                    let id = format!("{:064x}", 0xabc0 + i);
                    let dir = docker_dir(root.path(), &id);
                    let live = dir.join(format!("{id}-json.log"));
                    (dir, live)
                } else {
                    let dir = pod_dir(root.path(), "model", &format!("app-{i}-abc12"), "main");
                    (dir.clone(), dir.join("0.log"))
                };
                Container {
                    dir,
                    live,
                    docker: docker_layout,
                    rotated: Vec::new(),
                    gz: Vec::new(),
                    chain: Vec::new(),
                }
            })
            .collect(),
        written: Vec::new(),
        n: 0,
        stamp: 0,
    };
    let mut opts = test_options(&recv.url(), data.path(), root.path());
    // `LOGMIND_MODEL_POLL=1`: without change notifications, as where inotify is unavailable (scans only).
    opts.notify = std::env::var_os("LOGMIND_MODEL_POLL").is_none();
    if split {
        // A runtime writes the pieces of a line back to back; here a restart can come between them.
        opts.multiline_timeout = Duration::from_secs(3);
    }
    let mut agent = Some(Agent::start(opts.clone()));
    let mut rng = Rng(seed | 1);
    let started = Instant::now();
    let mut log = Vec::new();
    for _ in 0..ops {
        if started.elapsed() > Duration::from_secs(15) {
            break;
        }
        let c = rng.below(2) as usize;
        let r = rng.below(100);
        match r {
            35..=44 if split => {
                let pieces = 2 + rng.below(3);
                let cut = 1 + rng.below(pieces - 1);
                let how = rng.below(4);
                let restart = how == 3;
                if restart && agent.is_none() {
                    agent = Some(Agent::start(opts.clone()));
                }
                let stopped = if restart { agent.take() } else { None };
                w.write_split(c, pieces, cut, |w| {
                    // Between the pieces: rename-rotate (1), then gzip the rotated file (2), or stop the agent (3).
                    let rotated = matches!(how, 1 | 2) && w.rotate(c);
                    if rotated && how == 2 {
                        w.gzip_newest(c);
                    }
                    async move {
                        if let Some(a) = stopped {
                            a.stop().await;
                        }
                    }
                })
                .await;
                if restart {
                    agent = Some(Agent::start(opts.clone()));
                }
                log.push(format!("split c{c} {pieces}/{cut} how {how}"));
            }
            0..=44 => {
                let k = 1 + rng.below(20);
                w.write(c, k);
                log.push(format!("write c{c} {k}"));
            }
            45..=54 => {
                if w.rotate(c) {
                    log.push(format!("rotate c{c}"));
                }
            }
            // The runtimes that split lines rotate by rename; `copytruncate` is logrotate's (see the module doc).
            55..=62 if !split && !docker_layout => {
                let log0 = w.containers[c].live.clone();
                if log0.exists() {
                    let to = w.next_rotated_name(c);
                    copytruncate(&log0, &to);
                    w.containers[c].rotated.push(to);
                    log.push(format!("copytruncate c{c}"));
                }
            }
            63..=72 => {
                if w.gzip_any(c, &mut rng) {
                    log.push(format!("gzip c{c}"));
                }
            }
            73..=78 => {
                if w.rotated_files(c) > 0 {
                    if agent.is_none() {
                        agent = Some(Agent::start(opts.clone()));
                        log.push("start".into());
                    }
                    // Deleting is only lossless once the agent has read the file: like kubelet, delete old files.
                    sync(&recv, &w, "delete", &log).await;
                    w.delete_any(c, &mut rng);
                    log.push(format!("delete c{c}"));
                }
            }
            79..=84 => {
                if let Some(a) = agent.take() {
                    a.stop().await;
                    log.push("stop".into());
                } else {
                    agent = Some(Agent::start(opts.clone()));
                    log.push("start".into());
                }
            }
            85..=89 => {
                if agent.is_none() {
                    agent = Some(Agent::start(opts.clone()));
                    log.push("start".into());
                }
            }
            _ => {
                let ms = 10 + rng.below(150);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                log.push(format!("sleep {ms}"));
            }
        }
    }
    let agent = match agent {
        Some(a) => a,
        None => Agent::start(opts.clone()),
    };
    let exp = expected(&w);
    let ok = recv.wait_for(&exp, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    agent.stop().await;
    let got = recv.messages();
    if !ok || got != exp {
        eprintln!("seed {seed}: ops {log:?}");
        dump_records(&recv);
    }
    assert_exactly_once(&got, &exp);
}

/// `LOGMIND_MODEL_SEED` when set (to replay a failure), else the test's own seeds.
fn seeds(default: &[u64]) -> Vec<u64> {
    match std::env::var("LOGMIND_MODEL_SEED") {
        Ok(s) => vec![s.parse().expect("LOGMIND_MODEL_SEED must be a number")],
        Err(_) => default.to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_random_rotations_restarts_lose_and_duplicate_nothing() {
    for seed in seeds(&[0x5eed_0001, 0x5eed_0002]) {
        run_model(seed, 120, false, false).await;
    }
}

/// Lines split into pieces with a rename rotation, a rename + gzip, or an agent restart between the pieces. It
/// failed in about half of its runs until a compressed file the agent never saw uncompressed was placed among the
/// files of its path by name (it had no known birth and counted as the oldest); `LOGMIND_MODEL_SEED` with
/// `LOGMIND_TEST_LOG=logmind_agent=debug` replays a failing seed with the file decisions logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_with_lines_split_across_rotations_and_restarts() {
    for seed in seeds(&[0x5eed_0003]) {
        run_model(seed, 120, true, false).await;
    }
}

/// The same with Docker's layout: `<id>-json.log` rotated to `.1` (every older file renamed one up, `.1.gz` to
/// `.2.gz`), compressed in place right after the rotation or later, the oldest deleted; lines split into pieces
/// without `\n` (Docker splits lines over 16 KiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_docker_layout_with_split_lines_and_restarts() {
    for seed in seeds(&[0x5eed_0004]) {
        run_model(seed, 120, true, true).await;
    }
}

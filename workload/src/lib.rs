//! Deterministic workload generator with ground truth, behind `logmind generate`.
//!
//! [`generate`] plays a small microservice fleet over a host root directory, writing container log
//! files exactly where and how Kubernetes (CRI) and Docker (`json-file`) write them, and a JSON
//! [`Manifest`] recording what the agent must find. In batch mode (`rate: None`) the output is a pure
//! function of the options: timestamps come from a clock starting at `start_ns`, never the wall clock,
//! and randomness from a hand-written xoshiro256** seeded with `seed`.
//!
//! # Files
//!
//! - Kubernetes: `<root>/var/log/pods/<ns>_<pod>_<uid>/<container>/<restart>.log`, CRI lines
//!   `<RFC3339Nano> <stdout|stderr> <P|F> <content>`; lines longer than `max_line_bytes` are split into
//!   `P` pieces then an `F` piece. A Go panic in `inventory` restarts its container: `1.log` appears
//!   next to `0.log` (at least one restart per batch run with Kubernetes and ≥ 100 events).
//!   Pod names are `<deployment>-<9-char hash>-<5-char suffix>`; `<root>/k8s-pods.json` is the
//!   matching `PodList` (`GET /api/v1/pods`).
//! - Docker: `<root>/var/lib/docker/containers/<id>/<id>-json.log` with
//!   `{"log":"…\n","stream":"stdout","time":"…Z"}` lines (pieces over `max_line_bytes` without the
//!   `\n` except the last) and `config.v2.json` in the daemon's shape. Compose containers
//!   (`shop-storefront-1`, `shop-cart-1`) carry `com.docker.compose.project=shop` and
//!   `com.docker.compose.service`; `nginx-edge` and `legacy-billing` have no compose labels.
//! - Rotation (`rotate_bytes`): see [`rotate`] for kubelet's and Docker's exact naming and gzip.
//!   Rotation happens only between events, so an event never spans two files.
//!
//! # Fleet and identity (what the agent must report)
//!
//! | runtime | namespace | app | style | multi-line |
//! |---|---|---|---|---|
//! | k8s | `shop-prod` | `gateway` | nginx access | – |
//! | k8s | `shop-prod` | `backend` (2 pods) | JSON | – |
//! | k8s | `shop-prod` | `worker` | logfmt | – |
//! | k8s | `shop-prod` | `inventory` | logfmt | Go panic (then restart) |
//! | k8s | `payments-prod` | `payments` | free text | Java stack traces |
//! | k8s | `platform` | `auth` (label `app`, not `app.kubernetes.io/name`) | free text | Python tracebacks |
//! | docker | `shop` (compose project) | `storefront` (compose service) | JSON | – |
//! | docker | `shop` | `cart` | logfmt | – |
//! | docker | `docker` | `nginx-edge` (container name) | nginx access | – |
//! | docker | `docker` | `legacy-billing` (container name) | free text | Java stack traces |
//!
//! # How level and ids appear in the text
//!
//! - JSON: `{"ts":"<RFC3339 ms>","level":"info","request_id":"…","user_id":"…","msg":"…","latency_ms":12}`
//!   — level = the `level` key (`debug`, `info`, `warn`, `error`); ids are the keys, present only on
//!   request events; long lines add a `"payload"` key.
//! - logfmt: `time=… level=warn request_id=… user_id=… msg="…" duration=12ms` — level = `level=`.
//! - free text: `ERROR request_id: <id> user_id: <id> payment failed: <reason>` (also `DEBUG`, `INFO`,
//!   `WARN`; `login failed`/`charge failed` for auth/legacy-billing) — level = the first word; the
//!   id pairs appear only on request events. A share of Java-service request errors are followed by
//!   `\tat …` frames that continue the same event (level error, ids from the first line).
//! - nginx access: `10.0.1.5 - - [15/Jan/2024:10:30:00 +0000] "GET /api/v1/orders HTTP/1.1" 200 512 "-" "curl/8.5.0" rt=0.012 request_id=<id>`
//!   — **level empty** (no level word; 5xx status is not a level); `request_id=` only on request
//!   lines (health checks have none); no user id.
//! - Python traceback (`Traceback (most recent call last):` … `  File "…", line N, in f` /
//!   `    code` … `ValueError: <reason>`) — one event, **level error**, no ids.
//! - Java (`Exception in thread "main" java.lang.IllegalStateException: <reason>` / `\tat …` /
//!   optional `Caused by: …` / `\tat …` / `\t... N more`) — one event, **level error**, no ids.
//! - Go panic (`panic: <reason>` / `goroutine N [running]:` / `main.(*Store).Reserve(…)` /
//!   `\t/src/inventory/store.go:88 +0x1d4` / `main.main()` / `\t…`) — one event, **level fatal**.
//!
//! Streams: JSON, logfmt and access lines go to stdout; free-text `WARN`/`ERROR` lines and every
//! multi-line event go to stderr.
//!
//! Multi-line events write each line as its own CRI/Docker line, line `i` stamped first-line time +
//! `i` µs; the manifest counts the event once with the first line's timestamp. Every error/fatal event
//! carries exactly one instance of one of [`templates::ERROR_TEMPLATES`]; stack traces go to stderr.
//!
//! The manifest's true error groups are the template *with its headline framing*, because that is what an
//! operator sees as one error: JSON/logfmt `user <*> not found`, free text `payment failed: user <*> not
//! found`, Python `ValueError: user <*> not found` (one group per exception class, the headline's first
//! word), Java `Exception in thread "main" <*>: user <*> not found` (the class varies within the group) and
//! Go `panic: user <*> not found`.
//!
//! # Requests
//!
//! A request crosses 2–4 apps under one `request_id` (UUID) and `user_id` (`u10000`…), in time order,
//! e.g. backend → payments → worker then the gateway's access line when it completes; an error at
//! a hop stops the chain and the gateway logs a 5xx.

pub mod error;
pub mod fleet;
pub mod manifest;
pub mod render;
pub mod rng;
pub mod rotate;
pub mod templates;
pub mod timefmt;
pub mod traces;
pub mod writer;

mod engine;
mod output;

pub use error::GenerateError;
pub use manifest::Manifest;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Which container runtimes to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Formats {
    /// Kubernetes CRI logs only.
    Kubernetes,
    /// Docker json-file logs only.
    Docker,
    /// Both.
    #[default]
    Both,
}

impl std::str::FromStr for Formats {
    type Err = GenerateError;

    /// Parses `kubernetes` (or `k8s`), `docker` or `both`, case-insensitively.
    fn from_str(s: &str) -> Result<Formats, GenerateError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "kubernetes" | "k8s" | "cri" => Ok(Formats::Kubernetes),
            "docker" => Ok(Formats::Docker),
            "both" | "all" => Ok(Formats::Both),
            other => Err(GenerateError::Options {
                option: "format",
                reason: format!("{other:?} is not a format (use kubernetes, docker or both)"),
            }),
        }
    }
}

impl std::fmt::Display for Formats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Formats::Kubernetes => "kubernetes",
            Formats::Docker => "docker",
            Formats::Both => "both",
        })
    }
}

/// Options for [`generate`].
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Host root directory (files go under `<root>/var/log/pods` and `<root>/var/lib/docker/containers`).
    /// Use an empty directory: files of an earlier run with other options are not removed.
    pub root: PathBuf,
    /// PRNG seed.
    pub seed: u64,
    /// Batch mode: number of events to write.
    pub events: u64,
    /// Continuous mode: physical lines per second, timestamps from the wall clock; `events` ignored.
    pub rate: Option<f64>,
    /// Continuous mode: stop after this long (None = until the stop flag is set).
    pub duration: Option<Duration>,
    /// Batch mode: timestamp (ns since the epoch) of the first event.
    pub start_ns: i64,
    /// Runtimes to simulate.
    pub format: Formats,
    /// Rotate a log file once it has reached this many bytes.
    pub rotate_bytes: Option<u64>,
    /// Files kept per container log, current included (kubelet `containerLogMaxFiles`, Docker `max-file`).
    pub rotate_keep: usize,
    /// Gzip rotated files (kubelet: all but the newest rotated file; Docker: all rotated files).
    pub gzip: bool,
    /// Manifest path (default `<root>/manifest.json`).
    pub manifest: Option<PathBuf>,
    /// Node name written in the pod list.
    pub node_name: String,
    /// Approximate share of events at level error/fatal.
    pub error_ratio: f64,
    /// Share of background events with a line longer than `max_line_bytes`.
    pub long_line_ratio: f64,
    /// Print a progress line to stderr every ~2 s.
    pub progress: bool,
    /// CRI/Docker maximum line piece (kubelet/containerd and Docker use 16 KiB).
    pub max_line_bytes: usize,
    /// Batch mode: mean gap between events in ns (exponentially distributed).
    pub mean_gap_ns: u64,
    /// Probability that a background event of the Go service is a panic (followed by a restart).
    pub restart_ratio: f64,
    /// Number of distinct user ids.
    pub users: usize,
    /// At most this many requests are listed in the manifest (all are counted).
    pub manifest_requests: usize,
}

/// 2024-01-15T10:00:00Z, the default batch clock start.
pub const DEFAULT_START_NS: i64 = 1_705_312_800_000_000_000;

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            root: PathBuf::from("workload"),
            seed: 42,
            events: 10_000,
            rate: None,
            duration: None,
            start_ns: DEFAULT_START_NS,
            format: Formats::Both,
            rotate_bytes: None,
            rotate_keep: 5,
            gzip: false,
            manifest: None,
            node_name: "node-1".to_string(),
            error_ratio: 0.08,
            long_line_ratio: 0.002,
            progress: false,
            max_line_bytes: 16 * 1024,
            mean_gap_ns: 5_000_000,
            restart_ratio: 0.001,
            users: 200,
            manifest_requests: 20_000,
        }
    }
}

impl GenerateOptions {
    /// The manifest path these options write to.
    pub fn manifest_path(&self) -> PathBuf {
        self.manifest
            .clone()
            .unwrap_or_else(|| self.root.join("manifest.json"))
    }

    /// Rejects inconsistent options.
    pub fn validate(&self) -> Result<(), GenerateError> {
        let bad = |option: &'static str, reason: &str| {
            Err(GenerateError::Options {
                option,
                reason: reason.to_string(),
            })
        };
        if !(0.0..=1.0).contains(&self.error_ratio) {
            return bad("error_ratio", "must be between 0 and 1");
        }
        if !(0.0..=1.0).contains(&self.long_line_ratio) {
            return bad("long_line_ratio", "must be between 0 and 1");
        }
        if !(0.0..=1.0).contains(&self.restart_ratio) {
            return bad("restart_ratio", "must be between 0 and 1");
        }
        if let Some(r) = self.rate {
            if !(r.is_finite() && r > 0.0) {
                return bad("rate", "must be a positive number of lines per second");
            }
        }
        if self.max_line_bytes < 64 {
            return bad(
                "max_line_bytes",
                "must be at least 64 (kubelet and Docker use 16384)",
            );
        }
        if self.rotate_bytes == Some(0) {
            return bad(
                "rotate_bytes",
                "must be positive (leave unset to disable rotation)",
            );
        }
        if self.users == 0 {
            return bad("users", "must be at least 1");
        }
        Ok(())
    }
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Events written.
    pub events: u64,
    /// Physical lines written (CRI/Docker lines, pieces included).
    pub lines: u64,
    /// Log bytes written (uncompressed).
    pub bytes: u64,
    /// Log files present at the end.
    pub files: usize,
    /// Where the manifest is.
    pub manifest: PathBuf,
    /// Wall-clock time taken.
    pub elapsed: Duration,
}

/// Generates the workload; `stop` ends a continuous (or long batch) run early, cleanly.
pub fn generate(
    opts: &GenerateOptions,
    stop: Option<Arc<AtomicBool>>,
) -> Result<Summary, GenerateError> {
    opts.validate()?;
    engine::run(opts, stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_print() {
        for f in [Formats::Kubernetes, Formats::Docker, Formats::Both] {
            assert_eq!(f.to_string().parse::<Formats>().expect("parse"), f);
        }
        assert_eq!(
            "K8S".parse::<Formats>().expect("parse"),
            Formats::Kubernetes
        );
        let err = "podman".parse::<Formats>().expect_err("refused");
        assert!(err.to_string().contains("kubernetes, docker or both"));
    }

    type Tweak = fn(&mut GenerateOptions);

    #[test]
    fn defaults_are_valid_and_each_rejection_names_its_option() {
        assert!(GenerateOptions::default().validate().is_ok());
        let cases: [(&str, Tweak); 6] = [
            ("error_ratio", |o| o.error_ratio = -0.1),
            ("long_line_ratio", |o| o.long_line_ratio = 2.0),
            ("rate", |o| o.rate = Some(f64::NAN)),
            ("max_line_bytes", |o| o.max_line_bytes = 10),
            ("rotate_bytes", |o| o.rotate_bytes = Some(0)),
            ("users", |o| o.users = 0),
        ];
        for (name, set) in cases {
            let mut o = GenerateOptions::default();
            set(&mut o);
            let err = o.validate().expect_err(name);
            assert!(err.to_string().contains(name), "{err}");
        }
    }
}

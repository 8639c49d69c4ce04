//! The shipper: sends spool entries in sequence order to `POST {server}/api/v1/ingest`, retrying with capped
//! exponential backoff and jitter, honouring `Retry-After` on 429/503. 400/413 are logged loudly and the entry
//! is rejected (moved to `rejected/` and counted), never retried forever and never silently dropped.

use std::sync::Arc;
use std::time::Duration;

use logmind_protocol::{IngestResponse, ENCODING_LZ4, HEADER_AGENT, HEADER_BATCH, INGEST_PATH};
use tokio::sync::watch;
use tracing::{debug, error, warn};

use crate::metrics::{GiveUp, Metrics};
use crate::spool::{Spool, Status};

/// Where and how to ship.
#[derive(Debug, Clone)]
pub struct ShipConfig {
    /// Indexer base URL.
    pub server: String,
    /// Agent id header value.
    pub agent_id: String,
    /// Optional bearer token.
    pub token: Option<String>,
    /// Backoff cap.
    pub max_backoff: Duration,
}

/// What one delivery attempt came to.
enum Outcome {
    Acked {
        accepted: u64,
        duplicate: bool,
    },
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    Reject {
        reason: String,
    },
}

/// Runs until `shutdown` turns true. Entries left unsent stay in the spool for the next start.
pub async fn run_shipper(
    spool: Arc<Spool>,
    cfg: ShipConfig,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let client = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            error!(error = %e, "cannot build http client; nothing will be shipped");
            return;
        }
    };
    let url = format!("{}{}", cfg.server.trim_end_matches('/'), INGEST_PATH);
    let mut rng = Jitter::new();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let Some((seq, records)) = spool.take_next() else {
            tokio::select! {
                _ = spool.added.notified() => {}
                _ = shutdown.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            continue;
        };
        let sp = Arc::clone(&spool);
        let body = match tokio::task::spawn_blocking(move || sp.read(seq)).await {
            Ok(Ok((_, body))) => body,
            Ok(Err(e)) => {
                error!(seq, error = %e, "cannot read spool entry; it is kept and retried");
                spool.mark(seq, Status::Pending);
                if sleep_or_shutdown(Duration::from_secs(1), &mut shutdown).await {
                    return;
                }
                continue;
            }
            Err(e) => {
                error!(seq, error = %e, "spool read task failed");
                spool.mark(seq, Status::Pending);
                continue;
            }
        };
        let mut backoff = Duration::from_millis(100);
        loop {
            match attempt(&client, &url, &cfg, seq, &body).await {
                Outcome::Acked {
                    accepted,
                    duplicate,
                } => {
                    debug!(seq, accepted, duplicate, "batch acknowledged");
                    Metrics::add(&metrics.batches_acked, 1);
                    if duplicate {
                        Metrics::add(&metrics.batches_duplicate, 1);
                    }
                    Metrics::add(&metrics.events_shipped, records);
                    spool.mark(seq, Status::Acked);
                    break;
                }
                Outcome::Reject { reason } => {
                    error!(seq, records, reason = %reason, "indexer rejected batch; moved to spool/rejected and counted");
                    metrics.give_up(GiveUp::Rejected, records);
                    spool.mark(seq, Status::Rejected);
                    break;
                }
                Outcome::Retry { after, reason } => {
                    Metrics::add(&metrics.batches_retried, 1);
                    let wait = match after {
                        Some(a) => a.min(cfg.max_backoff.max(Duration::from_secs(1))),
                        None => {
                            let w = rng.jitter(backoff);
                            backoff = (backoff * 2).min(cfg.max_backoff);
                            w
                        }
                    };
                    warn!(seq, reason = %reason, wait_ms = wait.as_millis() as u64, "batch delivery failed; retrying");
                    if sleep_or_shutdown(wait, &mut shutdown).await {
                        spool.mark(seq, Status::Pending);
                        return;
                    }
                }
            }
        }
    }
}

/// Sleeps; returns true when shutdown was requested meanwhile.
async fn sleep_or_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *shutdown.borrow(),
        _ = shutdown.changed() => true,
    }
}

async fn attempt(
    client: &reqwest::Client,
    url: &str,
    cfg: &ShipConfig,
    seq: u64,
    body: &bytes::Bytes,
) -> Outcome {
    let mut req = client
        .post(url)
        .header(HEADER_AGENT, &cfg.agent_id)
        .header(HEADER_BATCH, seq.to_string())
        .header("content-encoding", ENCODING_LZ4)
        .header("content-type", "application/x-ndjson")
        .body(body.clone());
    if let Some(t) = &cfg.token {
        req = req.bearer_auth(t);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            return Outcome::Retry {
                after: None,
                reason: format!("request to {url} failed: {e}"),
            }
        }
    };
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = resp.text().await.unwrap_or_default();
    match status {
        200..=299 => match serde_json::from_str::<IngestResponse>(&text) {
            Ok(r) => Outcome::Acked {
                accepted: r.accepted,
                duplicate: r.duplicate,
            },
            Err(e) => Outcome::Retry {
                after: None,
                reason: format!(
                    "indexer answered {status} with an unreadable body ({e}): {text:.200}"
                ),
            },
        },
        400 | 413 => Outcome::Reject {
            reason: format!("indexer answered {status}: {text:.500}"),
        },
        429 | 503 => Outcome::Retry {
            after: retry_after.or(Some(Duration::from_secs(1))),
            reason: format!("indexer busy ({status})"),
        },
        _ => Outcome::Retry {
            after: None,
            reason: format!("indexer answered {status}: {text:.200}"),
        },
    }
}

/// Small xorshift generator for backoff jitter.
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        let seed = logmind_protocol::time::now_nanos() as u64 | 1;
        Jitter(seed)
    }

    /// A duration uniformly in [d/2, d].
    fn jitter(&mut self, d: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let ms = d.as_millis().max(2) as u64;
        Duration::from_millis(ms / 2 + self.0 % (ms / 2 + 1))
    }
}

//! Turning assembled events into [`LogRecord`]s: metadata resolved once per file, extraction, the source
//! identity, NDJSON encoding into the open [`Batch`].

use std::sync::Arc;
use std::time::Instant;

use logmind_protocol::{batch::encode_one, LogRecord, Source};

use crate::assemble::Event;
use crate::enrich::{Enricher, Meta};
use crate::files::Tracked;
use crate::metrics::Metrics;
use crate::options::AgentOptions;
use crate::parse::extract;

/// The batch being filled.
#[derive(Default)]
pub struct Batch {
    /// NDJSON body.
    pub body: Vec<u8>,
    /// Records in the body.
    pub records: u64,
    /// When the first record was added.
    pub started: Option<Instant>,
}

/// Resolves the file's metadata once; false while waiting for the pod to appear in the cache.
pub(crate) fn ensure_meta(
    t: &mut Tracked,
    enricher: &Enricher,
    opts: &AgentOptions,
    now: Instant,
) -> bool {
    if t.meta.is_some() {
        return true;
    }
    let meta = match &t.origin {
        None => Some(Meta {
            node: opts.node_name.clone(),
            ..Meta::default()
        }),
        Some(o) => match enricher.meta_for(&t.state.path, o) {
            Some(m) => Some(m),
            None if now >= t.meta_deadline || !enricher.worth_waiting(o) => {
                Some(enricher.fallback_for(o))
            }
            None => None,
        },
    };
    t.meta = meta.map(Arc::new);
    t.meta.is_some()
}

pub(crate) fn fallback(t: &Tracked, enricher: &Enricher, opts: &AgentOptions) -> Meta {
    match &t.origin {
        Some(o) => enricher.fallback_for(o),
        None => Meta {
            node: opts.node_name.clone(),
            ..Meta::default()
        },
    }
}

/// Turns assembled events into records appended to the batch.
pub(crate) fn emit(
    batch: &mut Batch,
    t: &mut Tracked,
    events: &mut Vec<Event>,
    opts: &AgentOptions,
    metrics: &Metrics,
) {
    if events.is_empty() {
        return;
    }
    let meta = t.meta.clone().unwrap_or_default();
    let n = events.len() as u64;
    for ev in events.drain(..) {
        let ex = extract(&ev.message, &opts.extract);
        if ev.truncated {
            Metrics::add(&metrics.events_truncated, 1);
        }
        t.state.last_emitted[ev.stream.index()] = ev.end_offset;
        let rec = LogRecord {
            ts: ev.ts,
            namespace: meta.namespace.clone(),
            app: meta.app.clone(),
            pod: meta.pod.clone(),
            container: meta.container.clone(),
            container_id: meta.container_id.clone(),
            restart: meta.restart,
            node: meta.node.clone(),
            stream: ev.stream.as_str().to_string(),
            level: ex.level.map(|l| l.as_str().to_string()).unwrap_or_default(),
            request_id: ex.request_id,
            user_id: ex.user_id,
            trace_id: ex.trace_id,
            message: ev.message,
            fields: ex.fields,
            source: Source {
                agent: opts.agent_id.clone(),
                file: t.state.id.clone(),
                offset: ev.offset,
            },
        };
        encode_one(&rec, &mut batch.body);
    }
    if let Some(asm) = t.asm.as_ref() {
        let m = asm.stats().malformed;
        Metrics::add(&metrics.lines_malformed, m.saturating_sub(t.seen_malformed));
        t.seen_malformed = m;
    }
    batch.records += n;
    batch.started.get_or_insert_with(Instant::now);
    t.dirty = true;
    Metrics::add(&metrics.events_batched, n);
}

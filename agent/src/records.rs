//! Turning assembled events into [`LogRecord`]s: metadata resolved once per file, extraction, the source
//! identity, NDJSON encoding into the open [`Batch`].

use std::sync::Arc;
use std::time::Instant;

use logmind_protocol::batch::{encode_parts, EventParts, RecordPrefix, SharedParts};

use crate::assemble::{Carried, Event, NO_OFFSET};
use crate::enrich::{Enricher, Meta};
use crate::files::Tracked;
use crate::lz4::Lz4Frames;
use crate::metrics::Metrics;
use crate::options::AgentOptions;
use crate::parse::ids::IdKeys;
use crate::parse::{extract_with, Found};

/// The batch being filled, with the buffers reused from record to record and batch to batch.
#[derive(Default)]
pub struct Batch {
    /// NDJSON body.
    pub body: Vec<u8>,
    /// Records in the body.
    pub records: u64,
    /// When the first record was added.
    pub started: Option<Instant>,
    /// Compressor of sealed bodies.
    pub frames: Lz4Frames,
    /// Extraction buffers.
    found: Found<'static>,
    /// Events in the body that started in an earlier file, with their stream index: when the batch is sealed,
    /// those files count them as emitted.
    pub carried: Vec<(Arc<Carried>, usize)>,
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
    // Metadata and source identity are the same for every record of the file: encoded once per call.
    let shared = |file: &str| {
        RecordPrefix::new(&SharedParts {
            namespace: &meta.namespace,
            app: &meta.app,
            pod: &meta.pod,
            container: &meta.container,
            container_id: &meta.container_id,
            restart: meta.restart,
            node: &meta.node,
            agent: &opts.agent_id,
            file,
        })
    };
    let prefix = shared(&t.state.id);
    let n = events.len() as u64;
    let id_keys = IdKeys::new(&opts.extract);
    let mut found = std::mem::take(&mut batch.found);
    for ev in events.drain(..) {
        // Empty, and `Found` is covariant: the 'static buffers serve this message as they are.
        let mut f: Found<'_> = found;
        extract_with(&ev.message, &opts.extract, &id_keys, &mut f);
        if ev.truncated {
            Metrics::add(&metrics.events_truncated, 1);
        }
        if ev.offset != NO_OFFSET {
            let si = ev.stream.index();
            // Lines after an event this file handed over and not yet shipped: replay must not skip that event.
            match t.handed.iter().filter(|h| h.0 == si).map(|h| h.1).min() {
                None => t.state.last_emitted[si] = ev.end_offset,
                Some(h) => {
                    t.held_emitted[si] = t.held_emitted[si].max(ev.end_offset);
                    t.state.last_emitted[si] = t.state.last_emitted[si].max(ev.end_offset.min(h));
                }
            }
        }
        // An event that started in an earlier file is shipped under that file's identity and offset.
        let (carried_prefix, offset) = match &ev.carried {
            Some(c) => (Some(shared(&c.file)), c.offset),
            None => (None, ev.offset),
        };
        let parts = EventParts {
            ts: ev.ts,
            stream: ev.stream.as_str(),
            level: f.level.map_or("", |l| l.as_str()),
            request_id: &f.request_id,
            user_id: &f.user_id,
            trace_id: &f.trace_id,
            message: &ev.message,
            offset,
        };
        let fields = f.fields.iter().map(|(k, v)| (&**k, &**v));
        encode_parts(
            carried_prefix.as_ref().unwrap_or(&prefix),
            &parts,
            fields,
            &mut batch.body,
        );
        if let Some(c) = ev.carried {
            batch.carried.push((c, ev.stream.index()));
        }
        found = f.recycle();
    }
    batch.found = found;
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

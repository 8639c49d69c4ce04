//! The generation loop: picks what happens next (a request hop or a background event), renders it,
//! writes it and counts it.

use crate::error::GenerateError;
use crate::fleet::{self, Container, Runtime, Service, Style, Trace};
use crate::manifest::{level_name, EventRef, RequestTruth, Tally};
use crate::render::{self, Ids, Kind};
use crate::rng::Rng;
use crate::templates;
use crate::writer::LogFile;
use crate::{output, GenerateOptions, Summary};
use logmind_protocol::Level;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Gap between the lines of one multi-line event.
const LINE_GAP_NS: i64 = 1_000;
/// Most requests in flight at once.
const MAX_INFLIGHT: usize = 32;

struct Inflight {
    request_id: String,
    user: usize,
    steps: Vec<(usize, Kind)>,
    next: usize,
    record: Option<usize>,
    had_error: bool,
}

/// The whole state of a run.
pub(crate) struct Engine<'a> {
    pub(crate) opts: &'a GenerateOptions,
    pub(crate) services: Vec<Service>,
    pub(crate) containers: Vec<Container>,
    pub(crate) files: Vec<LogFile>,
    pub(crate) log_dirs: Vec<String>,
    pub(crate) restarts: Vec<u32>,
    pub(crate) container_events: Vec<u64>,
    pub(crate) tally: Tally,
    pub(crate) requests: Vec<RequestTruth>,
    pub(crate) user_ids: Vec<String>,
    pub(crate) template_texts: Vec<String>,
    /// (framing, template index) → index into `template_texts`, assigned in order of first appearance.
    truth_groups: std::collections::HashMap<(String, usize), usize>,
    pub(crate) start_ns: i64,
    pub(crate) last_ns: i64,
    pub(crate) continuous: bool,
    rng: Rng,
    clock_ns: i64,
    seq: u64,
    inflight: Vec<Inflight>,
    pending_steps: u64,
    routes: Vec<fleet::Route>,
    bg_weights: Vec<(usize, u32)>,
    track: bool,
    text: String,
    scratch: String,
}

impl<'a> Engine<'a> {
    fn new(opts: &'a GenerateOptions) -> Result<Engine<'a>, GenerateError> {
        let mut rng = Rng::new(opts.seed);
        let services = fleet::all_services();
        let mut fleet_rng = rng.fork(1);
        let containers = fleet::containers(&services, opts.format, &mut fleet_rng);
        let continuous = opts.rate.is_some();
        let start_ns = if continuous {
            logmind_protocol::time::now_nanos()
        } else {
            opts.start_ns
        };
        let (files, log_dirs) = output::prepare(opts, &services, &containers, start_ns)?;
        let mut routes = Vec::new();
        for rt in [Runtime::Kubernetes, Runtime::Docker] {
            if containers.iter().any(|c| services[c.service].runtime == rt) {
                routes.extend(fleet::routes(rt));
            }
        }
        let mut bg_weights = Vec::new();
        for (i, c) in containers.iter().enumerate() {
            bg_weights.push((i, services[c.service].weight));
        }
        let user_ids = (0..opts.users)
            .map(|u| format!("u{}", 10_000 + u))
            .collect();
        let template_texts = Vec::new();
        let n = containers.len();
        Ok(Engine {
            opts,
            tally: Tally::new(services.len(), opts.users, 0),
            truth_groups: std::collections::HashMap::new(),
            services,
            containers,
            files,
            log_dirs,
            restarts: vec![0; n],
            container_events: vec![0; n],
            requests: Vec::new(),
            user_ids,
            template_texts,
            start_ns,
            last_ns: start_ns,
            continuous,
            rng: rng.fork(2),
            clock_ns: start_ns,
            seq: 0,
            inflight: Vec::new(),
            pending_steps: 0,
            routes,
            bg_weights,
            // Deleted events are listed one by one only in batch mode: a long continuous run would
            // otherwise hold every event in memory. Continuous runs still count deletions.
            track: opts.rotate_bytes.is_some() && !continuous,
            text: String::with_capacity(1024),
            scratch: String::with_capacity(256),
        })
    }

    fn replica_of(&mut self, app: &str) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.containers.len())
            .filter(|&i| self.services[self.containers[i].service].app == app)
            .collect();
        if candidates.is_empty() {
            return None;
        }
        Some(candidates[self.rng.index(candidates.len())])
    }

    /// Plans a new request; None when the fleet has no routes.
    fn plan_request(&mut self) -> Option<Inflight> {
        if self.routes.is_empty() {
            return None;
        }
        let route = self.routes[self.rng.index(self.routes.len())].clone();
        let error_at = if self.rng.chance((self.opts.error_ratio * 2.0).min(1.0)) {
            // Without an edge proxy the failing hop is never the first, so the request still
            // crosses two apps.
            let first = usize::from(route.edge.is_none());
            Some(first + self.rng.index(route.hops.len() - first))
        } else {
            None
        };
        let mut steps = Vec::new();
        for (i, app) in route.hops.iter().enumerate() {
            let c = self.replica_of(app)?;
            if error_at == Some(i) {
                steps.push((c, Kind::Error(templates::pick(&mut self.rng))));
                break;
            }
            let kind = if self.rng.chance(0.05) {
                Kind::Warn
            } else {
                Kind::Info
            };
            steps.push((c, kind));
        }
        if let Some(edge) = route.edge {
            let c = self.replica_of(edge)?;
            let status = if error_at.is_some() {
                *self.rng.pick(&[500u16, 502, 503])
            } else {
                200
            };
            steps.push((c, Kind::Access(status)));
        }
        let mut request_id = String::with_capacity(36);
        self.rng.push_uuid(&mut request_id);
        let user = self.rng.index(self.opts.users);
        let record = if self.requests.len() < self.opts.manifest_requests {
            self.requests.push(RequestTruth {
                request_id: request_id.clone(),
                user_id: self.user_ids[user].clone(),
                ..Default::default()
            });
            Some(self.requests.len() - 1)
        } else {
            None
        };
        self.tally.totals.requests += 1;
        Some(Inflight {
            request_id,
            user,
            steps,
            next: 0,
            record,
            had_error: false,
        })
    }

    fn background_kind(&mut self, c: usize) -> Kind {
        let svc = &self.services[self.containers[c].service];
        let (style, trace) = (svc.style, svc.trace);
        let r = self.rng.unit();
        if self.rng.chance(self.opts.long_line_ratio) {
            let max = self.opts.max_line_bytes;
            return Kind::Long(max + self.rng.index(max * 2));
        }
        if style == Style::Access {
            return Kind::Info;
        }
        if trace == Trace::GoPanic && self.rng.chance(self.opts.restart_ratio) {
            return Kind::Trace(templates::pick(&mut self.rng));
        }
        if r < self.opts.error_ratio {
            let t = templates::pick(&mut self.rng);
            if matches!(trace, Trace::Python | Trace::Java) && self.rng.chance(0.35) {
                return Kind::Trace(t);
            }
            return Kind::Error(t);
        }
        if r < self.opts.error_ratio + 0.06 {
            Kind::Warn
        } else if r < self.opts.error_ratio + 0.11 {
            Kind::Debug
        } else {
            Kind::Info
        }
    }

    fn pick_background_container(&mut self) -> usize {
        let total: u64 = self.bg_weights.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut x = self.rng.below(total);
        for &(c, w) in &self.bg_weights {
            if x < u64::from(w) {
                return c;
            }
            x -= u64::from(w);
        }
        0
    }

    /// Produces one event; `remaining` is the batch budget left (None = unlimited).
    fn step(&mut self, remaining: Option<u64>) -> Result<(), GenerateError> {
        let must_drain = remaining.is_some_and(|r| r <= self.pending_steps);
        let r = self.rng.unit();
        if !self.inflight.is_empty() && (must_drain || r < 0.45) {
            let i = self.rng.index(self.inflight.len());
            return self.advance(i);
        }
        if r < 0.75 && self.inflight.len() < MAX_INFLIGHT {
            if let Some(req) = self.plan_request() {
                let fits =
                    remaining.is_none_or(|r| req.steps.len() as u64 <= r - self.pending_steps);
                if fits {
                    self.pending_steps += req.steps.len() as u64;
                    self.inflight.push(req);
                    return self.advance(self.inflight.len() - 1);
                }
                // Does not fit the budget: forget it (never written, never counted).
                if let Some(idx) = req.record {
                    self.requests.truncate(idx);
                }
                self.tally.totals.requests -= 1;
            }
        }
        let c = self.pick_background_container();
        // Force one Go panic (and restart) from half-way through a batch run if none happened yet.
        let forced = remaining.is_some_and(|r| r <= self.opts.events / 2)
            && self.opts.events >= 100
            && self.tally.totals.restarts == 0;
        if forced {
            if let Some(inv) = self.replica_of("inventory") {
                let kind = Kind::Trace(templates::pick(&mut self.rng));
                return self.emit(inv, kind, None);
            }
        }
        let kind = self.background_kind(c);
        self.emit(c, kind, None)
    }

    fn advance(&mut self, i: usize) -> Result<(), GenerateError> {
        let (c, kind) = self.inflight[i].steps[self.inflight[i].next];
        self.inflight[i].next += 1;
        self.pending_steps -= 1;
        self.emit(c, kind, Some(i))?;
        if self.inflight[i].next >= self.inflight[i].steps.len() {
            let done = self.inflight.swap_remove(i);
            if done.had_error {
                self.tally.totals.requests_with_error += 1;
            }
        }
        Ok(())
    }

    fn emit(&mut self, c: usize, kind: Kind, req: Option<usize>) -> Result<(), GenerateError> {
        let ts = if self.continuous {
            logmind_protocol::time::now_nanos().max(self.last_ns + 1)
        } else {
            self.clock_ns
        };
        let si = self.containers[c].service;
        let (rid, user) = match req {
            Some(i) => (
                Some(self.inflight[i].request_id.as_str()),
                Some(self.inflight[i].user),
            ),
            None => (None, None),
        };
        let ids = Ids {
            request_id: rid,
            user_id: user.map(|u| self.user_ids[u].as_str()),
        };
        let rendered = render::render(
            &mut self.rng,
            &self.services[si],
            kind,
            ts,
            &ids,
            &mut self.text,
            &mut self.scratch,
        );
        let lines = self.text.split('\n').count() as u64;
        let first_line = self.text.split('\n').next().unwrap_or("");
        let want_ref = self.track || req.and_then(|i| self.inflight[i].record).is_some();
        let event_ref = want_ref.then(|| {
            let svc = &self.services[si];
            let cont = &self.containers[c];
            EventRef {
                seq: self.seq,
                ts,
                namespace: svc.namespace.to_string(),
                app: svc.app.to_string(),
                pod: cont.pod.clone(),
                container: if cont.pod.is_empty() {
                    cont.docker_name.clone()
                } else {
                    svc.container.to_string()
                },
                level: level_name(rendered.level).to_string(),
                stream: if rendered.stderr { "stderr" } else { "stdout" }.to_string(),
                request_id: rid.unwrap_or("").to_string(),
                // The access log carries no user id in its text.
                user_id: if svc.style == Style::Access {
                    ""
                } else {
                    ids.user_id.unwrap_or("")
                }
                .to_string(),
                lines: lines as u32,
                first_line: first_line.to_string(),
            }
        });
        let is_error = rendered.level.is_some_and(Level::is_error);
        let template = match rendered.template.filter(|_| is_error) {
            Some(t) => {
                let framing = rendered.framing.as_deref().unwrap_or("");
                let key = (framing.to_string(), t);
                Some(match self.truth_groups.get(&key) {
                    Some(&g) => g,
                    None => {
                        let g = self.template_texts.len();
                        self.template_texts
                            .push(format!("{framing}{}", templates::template_text(t)));
                        self.truth_groups.insert(key, g);
                        g
                    }
                })
            }
            None => None,
        };
        if let Some(t) = template {
            self.tally.grow_templates(t + 1);
            if self.tally.examples[t].is_empty() {
                self.tally.examples[t] = first_line.to_string();
            }
        }
        // The request's event list gets its own copy; the file keeps one only when tracking.
        if let Some(i) = req {
            self.inflight[i].had_error |= is_error;
            if let (Some(rec), Some(e)) = (self.inflight[i].record, event_ref.as_ref()) {
                let r = &mut self.requests[rec];
                if !r.apps.contains(&e.app) {
                    r.apps.push(e.app.clone());
                }
                r.has_error |= is_error;
                r.events.push(e.clone());
            }
        }
        let file_ref = if self.track { event_ref } else { None };
        let (file_lines, bytes) =
            self.files[c].write_event(ts, LINE_GAP_NS, rendered.stderr, &self.text, file_ref)?;
        let user_idx = user.filter(|_| !matches!(self.services[si].style, Style::Access));
        self.tally.count(si, rendered.level, user_idx, template);
        let t = &mut self.tally.totals;
        t.events += 1;
        t.lines += lines;
        t.file_lines += file_lines;
        t.bytes += bytes;
        t.multiline_events += u64::from(rendered.multiline);
        t.long_events += u64::from(file_lines > lines);
        t.error_events += u64::from(is_error);
        self.container_events[c] += 1;
        self.seq += 1;
        self.last_ns = ts + (lines as i64 - 1) * LINE_GAP_NS;
        if !self.continuous {
            self.clock_ns = self.last_ns + self.rng.exp_u64(self.opts.mean_gap_ns as f64) as i64;
        }
        let panicked = matches!(kind, Kind::Trace(_)) && self.services[si].trace == Trace::GoPanic;
        if panicked && self.services[si].runtime == Runtime::Kubernetes {
            self.restarts[c] += 1;
            self.tally.totals.restarts += 1;
            self.files[c].restart(format!("{}.log", self.restarts[c]))?;
        }
        Ok(())
    }

    fn flush_all(&mut self) -> Result<(), GenerateError> {
        self.files.iter_mut().try_for_each(LogFile::flush)
    }

    fn progress(&self, started: Instant) {
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        let mb = self.tally.totals.bytes as f64 / 1e6;
        eprintln!(
            "generate: {} events, {} lines, {:.1} MB, {:.0} lines/s, {:.1} MB/s",
            self.tally.totals.events,
            self.tally.totals.file_lines,
            mb,
            self.tally.totals.file_lines as f64 / secs,
            mb / secs
        );
    }
}

fn stopped(stop: &Option<Arc<AtomicBool>>) -> bool {
    stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed))
}

/// Runs the generator to completion.
pub(crate) fn run(
    opts: &GenerateOptions,
    stop: Option<Arc<AtomicBool>>,
) -> Result<Summary, GenerateError> {
    let started = Instant::now();
    let mut eng = Engine::new(opts)?;
    let mut last_progress = Instant::now();
    match opts.rate {
        None => {
            while eng.seq < opts.events {
                eng.step(Some(opts.events - eng.seq))?;
                if eng.seq % 4096 == 0 {
                    if stopped(&stop) {
                        break;
                    }
                    if opts.progress && last_progress.elapsed() >= Duration::from_secs(2) {
                        eng.progress(started);
                        last_progress = Instant::now();
                    }
                }
            }
        }
        Some(rate) => {
            let mut last_manifest = Instant::now();
            let tick = Duration::from_millis(50);
            loop {
                let elapsed = started.elapsed();
                if stopped(&stop) || opts.duration.is_some_and(|d| elapsed >= d) {
                    break;
                }
                let target = (rate * elapsed.as_secs_f64()) as u64;
                let mut budget = 1_000_000u64;
                while eng.tally.totals.file_lines < target && budget > 0 {
                    eng.step(None)?;
                    budget -= 1;
                }
                eng.flush_all()?;
                if opts.progress && last_progress.elapsed() >= Duration::from_secs(2) {
                    eng.progress(started);
                    last_progress = Instant::now();
                }
                if last_manifest.elapsed() >= Duration::from_secs(3) {
                    output::write_interim_manifest(&eng)?;
                    last_manifest = Instant::now();
                }
                std::thread::sleep(tick);
            }
        }
    }
    if opts.progress {
        eng.progress(started);
    }
    output::finish(eng, started)
}

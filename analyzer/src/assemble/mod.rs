//! Folding records into what the store keeps: span trees rebuilt across
//! threads into requests, process runs into invocations, latency
//! histograms, metrics, per-level counts, warnings and errors by callsite,
//! process exits, panics and the scrubbed log lines.
//!
//! Records arrive ingest by ingest, so a request or an invocation may
//! start in one ingest and end in the next: the spans, requests and
//! invocations still open are the [`Assembly`], which the store keeps
//! between ingests in the same transaction as the cursor. Everything
//! complete goes into a [`Batch`].
//!
//! A request is a root span (caro's `process_query`). Its backend, intent,
//! error category and risk level are the `backend`, `intent`, `error` and
//! `risk_level` fields of its spans and events; it failed when an ERROR
//! event or a panic happened in it, and was blocked when an event gave it
//! a `risk_level` of `high` or `critical`, which caro's policy refuses.
//!
//! Those four are categories: they become the report's names, metric
//! labels and the telemetry bundle's keys. A category holds only program
//! text (a dictionary string, scrubbed) or a run-time string that passes
//! the recorder's identifier rule; anything else is [`OTHER`] ([`label`]).
//! The choice is made here, from the raw value, where its provenance is
//! still known, so that the store never holds anything else.
//!
//! An invocation is one run of a process, from its PROCESS_START to the
//! PROCESS_EXIT of the same pid, spans or none: a host that serves one
//! request per process and records no span (the real caro) is measured
//! by its invocations. Records name their thread, and each thread's
//! process is known from its THREAD_START. An invocation ended
//! [`InvocationOutcome::Panicked`] when a panic was recorded in it; else,
//! by its exit status when the exit record carries one (0 is
//! [`InvocationOutcome::Ok`]), by its ERROR events when not; one whose
//! process went silent without an exit for [`GIVE_UP_NS`] was killed
//! ([`InvocationOutcome::Unfinished`]). Its WARN and ERROR events are
//! counted by callsite, each as its [`message_template`].

//!
//! - this module: the [`Assembly`] and how each kind of record folds in;
//! - [`categories`]: what text a category or a callsite's template holds;
//! - [`requests`] and [`invocations`]: each one's end, outcome and trace;
//! - [`trace`]: the traces kept ([`trace::SamplingPolicy`]) and their shape;
//! - [`rows`]: what completes, as the store writes it ([`Batch`]).
//!
//! The assembly sits on the scrubber (every text it keeps is scrubbed
//! or an identifier) and the records the reader decoded; the store is
//! above it and keeps what it completes.

pub mod categories;
pub mod invocations;
pub mod requests;
pub mod rows;
pub mod trace;

use categories::categories_of;
pub use categories::{label, message_template, CATEGORY_FIELDS, OTHER};
pub use invocations::INVOCATION_SPAN;
use requests::{finish, metric};
pub use rows::{
    new_histogram, Batch, CallsiteCount, CallsiteKey, HistKey, HistKind, InvocationOutcome,
    InvocationRow, Outcome, PanicRow, ProcessRow, RequestRow,
};

use std::collections::{BTreeMap, BTreeSet};

use caro_format::{Dictionary, Level, Record, RecordKind, Value};
use serde::{Deserialize, Serialize};

use crate::scrub::event::{Field, FieldValue, LogEvent, SpanView};
use crate::time;
use trace::{Trace, TraceEvent, TraceSpan};

/// Histogram values are microseconds: spans and requests from their
/// records' nanoseconds, `histogram.*` metrics from their values × 10⁶
/// (so `histogram.x_seconds` is in microseconds too).
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// Spans and requests still open after this long, and invocations whose
/// process recorded nothing for this long, measured against the newest
/// record seen, are given up (their process was killed).
pub const GIVE_UP_NS: u64 = time::DAY_NS;

/// Above this a request is slow.
pub const SLOW_REQUEST_NS: u64 = 1_000_000_000;

/// The open invocation that thread `thread` belongs to, if any: a free
/// function over the two maps, so that the requests stay borrowable.
fn invocation_of<'a>(
    pids: &BTreeMap<u32, u32>,
    invocations: &'a mut BTreeMap<u32, OpenInvocation>,
    thread: u32,
) -> Option<&'a mut OpenInvocation> {
    invocations.get_mut(pids.get(&thread)?)
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct OpenSpan {
    name: String,
    parent: u32,
    /// The request's root span, or 0 when the span is in no known request.
    root: u32,
    start_ns: u64,
    /// Time spent in closed children.
    child_ns: u64,
    fields: Vec<Field>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct OpenRequest {
    request_id: Option<u64>,
    backend: Option<String>,
    intent: Option<String>,
    error: Option<String>,
    risk_level: Option<String>,
    failed: bool,
    panicked: bool,
    /// (span name, duration, self time) of its closed spans.
    spans: Vec<(String, u64, u64)>,
    /// Its spans and their events, the root first.
    tree: Vec<TraceSpan>,
    /// Events in `tree`, and spans and events left out of it.
    events: usize,
    left_out: u64,
}

/// A process run still open: started, not yet exited.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct OpenInvocation {
    /// The thread that recorded its start (its main thread).
    thread: u32,
    start_ns: u64,
    /// Its newest record: where an unfinished one was last alive.
    last_ns: u64,
    version: Option<String>,
    /// An ERROR event happened in it.
    error: bool,
    panicked: bool,
    warnings: u64,
    errors: u64,
    /// The callsites of its warnings and errors so far: each counts the
    /// invocation once (a day).
    callsites: BTreeSet<CallsiteKey>,
    /// A root span started in it: its trace is its requests' traces.
    has_requests: bool,
    /// Its events, for its own trace while it has no request, and those
    /// left out past [`MAX_EVENTS`](trace::MAX_EVENTS).
    events: Vec<TraceEvent>,
    left_out: u64,
}

/// The spans, requests and invocations still open between ingests.
/// Ordered maps, so the state stored is the same bytes for the same
/// records.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Assembly {
    spans: BTreeMap<u32, OpenSpan>,
    requests: BTreeMap<u32, OpenRequest>,
    /// By pid. (A store written before invocations has none.)
    #[serde(default)]
    invocations: BTreeMap<u32, OpenInvocation>,
    /// The newest record time seen.
    newest_ns: u64,
    /// The process of each thread, from its THREAD_START (or PROCESS_START).
    pids: BTreeMap<u32, u32>,
    /// Traces completed per UTC day (the sampling policy keeps the first
    /// ones of each day).
    traces_seen: BTreeMap<i64, u64>,
}

impl Assembly {
    /// Folds `r` in; what completes goes into `batch`.
    pub fn fold(&mut self, r: &Record, dict: &Dictionary, batch: &mut Batch) {
        batch.records += 1;
        self.newest_ns = self.newest_ns.max(r.time_ns);
        match r.kind {
            RecordKind::SpanNew => self.span_new(r, dict),
            RecordKind::SpanRecord => {
                let fields = crate::scrub::event::fields_of(r, dict);
                if let Some(span) = self.spans.get_mut(&r.span) {
                    let root = span.root;
                    if let Some(req) = self.requests.get_mut(&root) {
                        req.take_categories(categories_of(r, dict), None);
                    }
                    for (name, value) in fields {
                        match span.fields.iter_mut().find(|(n, _)| *n == name) {
                            Some(f) => f.1 = value.clone(),
                            None => span.fields.push((name.clone(), value.clone())),
                        }
                        if let Some(req) = self.requests.get_mut(&root) {
                            req.take_field(&name, &value);
                            if let Some(s) = req.tree.iter_mut().find(|s| s.id == r.span) {
                                match s.fields.iter_mut().find(|(n, _)| *n == name) {
                                    Some(f) => f.1 = value.clone(),
                                    None => s.fields.push((name.clone(), value.clone())),
                                }
                            }
                        }
                    }
                }
            }
            RecordKind::ThreadStart => self.thread_start(r),
            RecordKind::ProcessStart => {
                self.thread_start(r);
                let version = r.values.iter().find(|f| f.field == 1);
                // Records come oldest first: the last one seen is newest.
                if let Some(v) = version {
                    if let FieldValue::Str(s) =
                        crate::scrub::event::resolve(&v.value, r.callsite, dict)
                    {
                        batch.version = Some(s);
                    }
                }
                let version = version.and_then(|v| label(&v.value, r.callsite, dict));
                self.invocation_start(r, version, batch);
            }
            RecordKind::SpanEnter | RecordKind::SpanExit => {}
            RecordKind::SpanClose => self.span_close(r, batch),
            RecordKind::Event => self.event(r, dict, batch),
            RecordKind::Panic => self.panic(r, dict, batch),
            RecordKind::ProcessExit => {
                let v = |i: u8| {
                    r.values
                        .iter()
                        .find(|f| f.field == i)
                        .and_then(|f| match f.value {
                            caro_format::Value::U64(x) => Some(x),
                            _ => None,
                        })
                        .unwrap_or(0)
                };
                let status = r
                    .values
                    .iter()
                    .find(|f| f.field == 6)
                    .and_then(|f| match f.value {
                        Value::I64(x) => Some(x),
                        Value::U64(x) => i64::try_from(x).ok(),
                        _ => None,
                    });
                if let Some(inv) = u32::try_from(v(0))
                    .ok()
                    .and_then(|pid| Some((pid, self.invocations.remove(&pid)?)))
                {
                    self.end_invocation(inv, Some((r.time_ns, status)), batch);
                }
                self.pids.retain(|_, pid| u64::from(*pid) != v(0));
                batch.processes.push(ProcessRow {
                    time_ns: r.time_ns,
                    pid: v(0),
                    cpu_user_us: v(1),
                    cpu_system_us: v(2),
                    peak_rss_kib: v(3),
                    open_fds: v(4),
                    wall_us: v(5),
                });
            }
        }
        if let Some(inv) = invocation_of(&self.pids, &mut self.invocations, r.thread) {
            inv.last_ns = inv.last_ns.max(r.time_ns);
        }
    }

    /// THREAD_START, and PROCESS_START (whose thread is in its process too,
    /// in rings of v1.0): the process of `r.thread`.
    fn thread_start(&mut self, r: &Record) {
        if let Some(pid) = r.named_pid() {
            self.pids.insert(r.thread, pid);
        }
    }

    fn span_new(&mut self, r: &Record, dict: &Dictionary) {
        let (name, target) = dict.callsites.get(&r.callsite).map_or_else(
            || {
                let unknown = crate::scrub::event::UNKNOWN_TARGET.to_owned();
                (unknown.clone(), unknown)
            },
            |c| (c.name.clone(), c.target.clone()),
        );
        let fields = crate::scrub::event::fields_of(r, dict);
        let root = match r.parent {
            0 => {
                self.requests.insert(r.span, OpenRequest::default());
                if let Some(inv) = invocation_of(&self.pids, &mut self.invocations, r.thread) {
                    inv.has_requests = true;
                    inv.events = Vec::new();
                    inv.left_out = 0;
                }
                r.span
            }
            parent => self.spans.get(&parent).map_or(0, |p| p.root),
        };
        if let Some(req) = self.requests.get_mut(&root) {
            for (name, value) in &fields {
                req.take_field(name, value);
            }
            req.take_categories(categories_of(r, dict), None);
            let pid = self.pids.get(&r.thread).copied();
            req.add_span(r, pid, &name, target, &fields);
        }
        self.spans.insert(
            r.span,
            OpenSpan {
                name,
                parent: r.parent,
                root,
                start_ns: r.time_ns,
                child_ns: 0,
                fields,
            },
        );
    }

    fn span_close(&mut self, r: &Record, batch: &mut Batch) {
        let Some(span) = self.spans.remove(&r.span) else {
            return;
        };
        let duration = r.time_ns.saturating_sub(span.start_ns);
        let self_ns = duration.saturating_sub(span.child_ns);
        if let Some(parent) = self.spans.get_mut(&span.parent) {
            parent.child_ns = parent.child_ns.saturating_add(duration);
        }
        let day = time::day(r.time_ns);
        for (kind, ns) in [(HistKind::Span, duration), (HistKind::SpanSelf, self_ns)] {
            batch.record_ns(
                HistKey {
                    day,
                    kind,
                    name: span.name.clone(),
                    backend: String::new(),
                },
                ns,
            );
        }
        let Some(req) = self.requests.get_mut(&span.root) else {
            return;
        };
        if let Some(s) = req.tree.iter_mut().find(|s| s.id == r.span) {
            s.end_ns = Some(r.time_ns);
        }
        if span.root == r.span {
            if let Some(mut req) = self.requests.remove(&r.span) {
                req.spans.push((span.name.clone(), duration, self_ns));
                self.keep_trace(&mut req, batch);
                finish(req, &span.name, r.time_ns, duration, batch);
            }
        } else {
            req.spans.push((span.name, duration, self_ns));
        }
    }

    fn event(&mut self, r: &Record, dict: &Dictionary, batch: &mut Batch) {
        let level = dict.callsites.get(&r.callsite).map(|c| c.level);
        let day = time::day(r.time_ns);
        let Some(e) = self.log_event(r, dict) else {
            return;
        };
        *batch.levels.entry((day, e.level)).or_default() += 1;
        let root = self.spans.get(&r.span).map_or(0, |s| s.root);
        if let Some(req) = self.requests.get_mut(&root) {
            if level == Some(Level::Error) {
                req.failed = true;
            }
            for (name, value) in e.other_fields() {
                req.take_field(name, value);
            }
            req.take_categories(categories_of(r, dict), level);
        }
        for (name, value) in e.other_fields() {
            metric(batch, day, r.time_ns, name, value);
        }
        let mut invocation = invocation_of(&self.pids, &mut self.invocations, r.thread);
        if let Some(level @ (Level::Warn | Level::Error)) = level {
            let key = CallsiteKey {
                day,
                level: e.level.to_owned(),
                target: e.target.clone(),
                message: message_template(r, dict),
            };
            let mut first_in_invocation = false;
            if let Some(inv) = invocation.as_deref_mut() {
                match level {
                    Level::Error => {
                        inv.error = true;
                        inv.errors += 1;
                    }
                    _ => inv.warnings += 1,
                }
                first_in_invocation = !inv.callsites.contains(&key);
                if first_in_invocation {
                    inv.callsites.insert(key.clone());
                }
            }
            let count = batch.callsites.entry(key).or_default();
            count.events += 1;
            count.invocations += u64::from(first_in_invocation);
        }
        // Writing to a Vec cannot fail.
        caro_format::render::json::write(&mut batch.log_lines, &e);
        if let Some(req) = self.requests.get_mut(&root) {
            req.add_event(r, e);
        } else if let Some(inv) = invocation.filter(|inv| !inv.has_requests) {
            inv.add_event(r, e);
        }
    }

    fn panic(&mut self, r: &Record, dict: &Dictionary, batch: &mut Batch) {
        let Some(e) = self.log_event(r, dict) else {
            return;
        };
        let get = |name: &str| e.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        batch.panics.push(PanicRow {
            time_ns: r.time_ns,
            thread: r.thread,
            file: get("file")
                .and_then(FieldValue::as_str)
                .unwrap_or_default()
                .to_owned(),
            line: get("line").and_then(FieldValue::as_f64).unwrap_or(0.0) as u64,
        });
        *batch
            .levels
            .entry((time::day(r.time_ns), e.level))
            .or_default() += 1;
        let root = self.spans.get(&r.span).map_or(0, |s| s.root);
        if let Some(req) = self.requests.get_mut(&root) {
            req.panicked = true;
        }
        let mut invocation = invocation_of(&self.pids, &mut self.invocations, r.thread);
        if let Some(inv) = invocation.as_deref_mut() {
            inv.panicked = true;
        }
        caro_format::render::json::write(&mut batch.log_lines, &e);
        if let Some(req) = self.requests.get_mut(&root) {
            req.add_event(r, e);
        } else if let Some(inv) = invocation.filter(|inv| !inv.has_requests) {
            inv.add_event(r, e);
        }
    }

    /// The EVENT or PANIC record `r` as a log event, its span as the open
    /// span table has it.
    fn log_event(&self, r: &Record, dict: &Dictionary) -> Option<LogEvent> {
        let mut e = LogEvent::from_record(r, dict, &crate::scrub::event::spans())?;
        e.span = match (r.span, self.spans.get(&r.span)) {
            (0, _) => None,
            (_, Some(s)) => Some(SpanView::Known {
                name: s.name.clone(),
                fields: s.fields.clone(),
            }),
            (id, None) => Some(SpanView::Missing { id }),
        };
        Some(e)
    }

    /// Gives up spans and requests open for longer than [`GIVE_UP_NS`]
    /// before the newest record, and invocations that recorded nothing
    /// for that long: their process died without closing them, or without
    /// exiting. Their traces are kept as unfinished.
    pub fn give_up_stale(&mut self, batch: &mut Batch) {
        let cutoff = self.newest_ns.saturating_sub(GIVE_UP_NS);
        let before = self.spans.len() as u64;
        self.spans.retain(|_, s| s.start_ns >= cutoff);
        batch.unfinished += before - self.spans.len() as u64;
        let spans = &self.spans;
        let (open, stale): (BTreeMap<_, _>, BTreeMap<_, _>) = std::mem::take(&mut self.requests)
            .into_iter()
            .partition(|(root, _)| spans.contains_key(root));
        self.requests = open;
        for mut req in stale.into_values() {
            self.keep_trace(&mut req, batch);
        }
        // By last record: a long-lived process that records is alive.
        let (open, silent): (BTreeMap<_, _>, BTreeMap<_, _>) =
            std::mem::take(&mut self.invocations)
                .into_iter()
                .partition(|(_, inv)| inv.last_ns >= cutoff);
        self.invocations = open;
        for (pid, inv) in silent {
            self.pids.retain(|_, p| *p != pid);
            self.end_invocation((pid, inv), None, batch);
        }
        // Days before yesterday take no more first traces.
        let today = time::day(self.newest_ns);
        self.traces_seen.retain(|&day, _| day >= today - 1);
    }

    /// The traces of the requests still open, and of the invocations
    /// still open that serve none, unfinished so far.
    pub fn open_traces(&self) -> Vec<Trace> {
        let requests = self
            .requests
            .values()
            .filter_map(|req| req.trace_of(req.tree.clone()));
        let invocations = self
            .invocations
            .iter()
            .filter(|(_, inv)| !inv.has_requests)
            .map(|(pid, inv)| inv.trace_of(*pid, inv.events.clone(), None));
        requests.chain(invocations).collect()
    }

    /// Counts the finished (or given up) request's trace on its day, and
    /// keeps it in `batch` if the policy says so. Takes the request's tree.
    fn keep_trace(&mut self, req: &mut OpenRequest, batch: &mut Batch) {
        let tree = std::mem::take(&mut req.tree);
        if let Some(trace) = req.trace_of(tree) {
            self.keep(trace, batch);
        }
    }

    /// Counts a complete trace on its day, and keeps it in `batch` if the
    /// policy says so.
    fn keep(&mut self, trace: Trace, batch: &mut Batch) {
        let seen = self
            .traces_seen
            .entry(time::day(trace.root().start_ns))
            .or_default();
        let kept = batch.policy.decide(&trace, *seen);
        *seen += 1;
        if let Some(kept) = kept {
            batch.traces.push((trace, kept));
        }
    }
}

#[cfg(test)]
mod tests;

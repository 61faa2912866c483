//! Folding records into what the store keeps: span trees rebuilt across
//! threads into requests, latency histograms, metrics, per-level counts,
//! process exits, panics and the scrubbed log lines.
//!
//! Records arrive ingest by ingest, so a request may start in one ingest
//! and end in the next: the spans and requests still open are the
//! [`Assembly`], which the store keeps between ingests in the same
//! transaction as the cursor. Everything complete goes into a [`Batch`].
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

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use caro_format::text::{template_pieces, Piece};
use caro_format::{Dictionary, Level, Record, RecordKind, Value};
use caro_recorder::privacy::is_identifier;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::event::{Field, FieldValue, LogEvent, SpanView, Spans};
use crate::trace::{Kept, SamplingPolicy, Trace, TraceEvent, TraceSpan, MAX_EVENTS, MAX_SPANS};
use crate::{json, scrub, time};

/// Histogram values are microseconds: spans and requests from their
/// records' nanoseconds, `histogram.*` metrics from their values × 10⁶
/// (so `histogram.x_seconds` is in microseconds too).
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// Spans and requests still open after this long, measured against the
/// newest record seen, are given up (their process was killed).
pub const GIVE_UP_NS: u64 = time::DAY_NS;

/// Above this a request is slow.
pub const SLOW_REQUEST_NS: u64 = 1_000_000_000;

/// The fields whose values are a request's categories.
pub const CATEGORY_FIELDS: [&str; 4] = ["backend", "intent", "error", "risk_level"];

/// The one category of every value that is neither program text nor an
/// identifier.
pub const OTHER: &str = "other";

/// The category a raw value of record callsite `callsite` is kept as:
///
/// - program text — a dictionary string ([`Value::StaticStr`]), the
///   callsite's message literal, a template made only of program text —
///   scrubbed;
/// - a run-time string ([`Value::Str`]) as it is, when it passes
///   [`is_identifier`] and the scrubber finds nothing in it (the recorder
///   writes short program text this way too, only when it passes the
///   same rule);
/// - [`OTHER`] for any other text: a run-time string that is not an
///   identifier (a host opted the field in with `keep_text_fields`), a
///   withheld value, a template with a hole, a string cut short, a value
///   of a newer format, a dictionary string that is missing.
///
/// `None` for numbers and booleans, which name no category.
pub fn label(v: &Value, callsite: u64, dict: &Dictionary) -> Option<String> {
    let program = |s: &str| scrub::text(s).into_owned();
    Some(match v {
        Value::U64(_)
        | Value::I64(_)
        | Value::F64(_)
        | Value::Bool(_)
        | Value::U128(_)
        | Value::I128(_) => return None,
        Value::StaticStr(id) => dict
            .strings
            .get(id)
            .map_or_else(|| OTHER.to_owned(), |s| program(s)),
        Value::Message => dict
            .messages
            .get(&callsite)
            .map_or_else(|| OTHER.to_owned(), |s| program(s)),
        Value::Str {
            text,
            truncated: false,
        } if is_identifier(text) && matches!(scrub::text(text), Cow::Borrowed(_)) => text.clone(),
        // Program text only if every piece is: a hole, a cut or a missing
        // dictionary string is a placeholder.
        Value::Template(parts) => {
            let mut text = String::new();
            for piece in template_pieces(parts, dict) {
                match piece {
                    Piece::Text(t) => text.push_str(t),
                    Piece::Placeholder(_) => return Some(OTHER.to_owned()),
                }
            }
            program(&text)
        }
        _ => OTHER.to_owned(),
    })
}

/// The categories record `r` gives: (field, [`label`]) for each of its
/// values whose field is one of [`CATEGORY_FIELDS`]. Allocates nothing
/// for a record without one.
fn categories_of(r: &Record, dict: &Dictionary) -> Vec<(&'static str, Option<String>)> {
    let Some(c) = dict.callsites.get(&r.callsite) else {
        return Vec::new();
    };
    r.values
        .iter()
        .filter_map(|fv| {
            let name = c.fields.get(usize::from(fv.field))?;
            let field = CATEGORY_FIELDS.iter().find(|f| **f == name.as_str())?;
            Some((*field, label(&fv.value, r.callsite, dict)))
        })
        .collect()
}

/// What a histogram measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HistKind {
    /// Duration of requests (root spans), by backend.
    Request,
    /// Duration of every span, by name.
    Span,
    /// Duration of the spans of requests, by name and backend.
    SpanBackend,
    /// A `histogram.NAME` metric.
    Metric,
}

impl HistKind {
    /// The name the store uses.
    pub fn name(self) -> &'static str {
        match self {
            HistKind::Request => "request",
            HistKind::Span => "span",
            HistKind::SpanBackend => "span_backend",
            HistKind::Metric => "metric",
        }
    }
}

/// Which histogram: a UTC day, a kind, a name (span, root span or metric)
/// and a backend ("" where there is none).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HistKey {
    pub day: i64,
    pub kind: HistKind,
    pub name: String,
    pub backend: String,
}

/// A new, empty latency histogram.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new(SIGNIFICANT_DIGITS).expect("3 significant digits are valid")
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Generated,
    Failed,
    Blocked,
    Panicked,
}

impl Outcome {
    /// The `event_type` of its row.
    pub fn event_type(self) -> &'static str {
        match self {
            Outcome::Generated => "command_generated",
            Outcome::Failed => "command_failed",
            Outcome::Blocked => "command_blocked",
            Outcome::Panicked => "panic",
        }
    }
}

/// One row of the `events` table: a finished request.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestRow {
    pub end_ns: u64,
    pub duration_ns: u64,
    pub outcome: Outcome,
    pub request_id: Option<u64>,
    pub backend: Option<String>,
    pub intent: Option<String>,
    pub error_category: Option<String>,
    pub risk_level: Option<String>,
    /// Self time per span name, nanoseconds.
    pub self_ns: Vec<(String, u64)>,
}

/// A process's exit record.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessRow {
    pub time_ns: u64,
    pub pid: u64,
    pub cpu_user_us: u64,
    pub cpu_system_us: u64,
    pub peak_rss_kib: u64,
    pub open_fds: u64,
    pub wall_us: u64,
}

/// A panic record.
#[derive(Clone, Debug, PartialEq)]
pub struct PanicRow {
    pub time_ns: u64,
    pub thread: u32,
    pub file: String,
    pub line: u64,
}

/// Everything complete that one ingest adds to the store.
#[derive(Debug, Default)]
pub struct Batch {
    pub histograms: HashMap<HistKey, Histogram<u64>>,
    /// Counters (`counter.*`, `monotonic_counter.*`) summed by day.
    pub counters: HashMap<(i64, String), f64>,
    /// Gauges: the last value of each day and when it was set.
    pub gauges: HashMap<(i64, String), (u64, f64)>,
    /// Events per day and level.
    pub levels: HashMap<(i64, &'static str), u64>,
    pub requests: Vec<RequestRow>,
    pub processes: Vec<ProcessRow>,
    pub panics: Vec<PanicRow>,
    /// Scrubbed JSON lines for telemetry.log.
    pub log_lines: Vec<u8>,
    /// Records folded in.
    pub records: u64,
    /// Spans and requests given up as unfinished.
    pub unfinished: u64,
    /// The version the newest process start in the batch gave, if any.
    pub version: Option<String>,
    /// Which traces to keep, and those kept.
    pub policy: SamplingPolicy,
    pub traces: Vec<(Trace, Kept)>,
}

impl Batch {
    fn record_ns(&mut self, key: HistKey, ns: u64) {
        let h = self.histograms.entry(key).or_insert_with(new_histogram);
        // The histogram grows to fit; `saturating_record` would clamp.
        if h.record(ns / 1000).is_err() {
            h.saturating_record(ns / 1000);
        }
    }
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

/// The spans and requests still open between ingests. Ordered maps, so
/// the state stored is the same bytes for the same records.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Assembly {
    spans: BTreeMap<u32, OpenSpan>,
    requests: BTreeMap<u32, OpenRequest>,
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
                let fields = crate::event::fields_of(r, dict);
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
                // Records come oldest first: the last one seen is newest.
                if let Some(v) = r.values.iter().find(|f| f.field == 1) {
                    if let FieldValue::Str(s) = FieldValue::resolve(&v.value, r.callsite, dict) {
                        batch.version = Some(s);
                    }
                }
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
    }

    /// THREAD_START, and PROCESS_START (whose thread is in its process too,
    /// in rings of v1.0): the process of `r.thread`.
    fn thread_start(&mut self, r: &Record) {
        if let Some(caro_format::Value::U64(pid)) =
            r.values.iter().find(|f| f.field == 0).map(|f| &f.value)
        {
            self.pids.insert(r.thread, *pid as u32);
        }
    }

    fn span_new(&mut self, r: &Record, dict: &Dictionary) {
        let (name, target) = dict.callsites.get(&r.callsite).map_or_else(
            || {
                let unknown = crate::event::UNKNOWN_TARGET.to_owned();
                (unknown.clone(), unknown)
            },
            |c| (c.name.clone(), c.target.clone()),
        );
        let fields = crate::event::fields_of(r, dict);
        let root = match r.parent {
            0 => {
                self.requests.insert(r.span, OpenRequest::default());
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
        batch.record_ns(
            HistKey {
                day,
                kind: HistKind::Span,
                name: span.name.clone(),
                backend: String::new(),
            },
            duration,
        );
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
        // Writing to a Vec cannot fail.
        let _ = json::write_event(&mut batch.log_lines, &e);
        if let Some(req) = self.requests.get_mut(&root) {
            req.add_event(r, e);
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
        let _ = json::write_event(&mut batch.log_lines, &e);
        if let Some(req) = self.requests.get_mut(&root) {
            req.add_event(r, e);
        }
    }

    /// The EVENT or PANIC record `r` as a log event, its span as the open
    /// span table has it.
    fn log_event(&self, r: &Record, dict: &Dictionary) -> Option<LogEvent> {
        let mut e = LogEvent::from_record(r, dict, &Spans::default())?;
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
    /// before the newest record: their process died without closing them.
    /// Their traces are kept as unfinished.
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
        // Days before yesterday take no more first traces.
        let today = time::day(self.newest_ns);
        self.traces_seen.retain(|&day, _| day >= today - 1);
    }

    /// The traces of the requests still open, unfinished so far.
    pub fn open_traces(&self) -> Vec<Trace> {
        self.requests
            .values()
            .filter_map(|req| req.trace_of(req.tree.clone()))
            .collect()
    }

    /// Counts the finished (or given up) request's trace on its day, and
    /// keeps it in `batch` if the policy says so. Takes the request's tree.
    fn keep_trace(&mut self, req: &mut OpenRequest, batch: &mut Batch) {
        let tree = std::mem::take(&mut req.tree);
        let Some(trace) = req.trace_of(tree) else {
            return;
        };
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

impl OpenRequest {
    /// Its trace, of `tree` (its own, or a copy of it).
    fn trace_of(&self, tree: Vec<TraceSpan>) -> Option<Trace> {
        let root = tree.first()?;
        Some(Trace {
            id: Trace::id_for(root.id, root.start_ns, root.pid),
            request_id: self.request_id,
            error: self.failed || self.panicked,
            spans: tree,
            left_out: self.left_out,
        })
    }

    /// Adds the span that record `r` opens to the tree, unless the tree is
    /// full or its parent was left out. `pid` is its thread's process, if
    /// known.
    fn add_span(
        &mut self,
        r: &Record,
        pid: Option<u32>,
        name: &str,
        target: String,
        fields: &[Field],
    ) {
        let parent = self.tree.iter().find(|s| s.id == r.parent);
        if self.tree.len() >= MAX_SPANS || (r.parent != 0 && parent.is_none()) {
            self.left_out += 1;
            return;
        }
        // A thread of a process that recorded no start (a worker) belongs
        // to the process of the span it works for.
        let pid = pid.unwrap_or_else(|| parent.map_or(r.thread, |p| p.pid));
        self.tree.push(TraceSpan {
            id: r.span,
            parent: r.parent,
            name: name.to_owned(),
            target,
            pid,
            thread: r.thread,
            start_ns: r.time_ns,
            end_ns: None,
            fields: fields.to_vec(),
            events: Vec::new(),
        });
    }

    /// Adds the event `e` of record `r` to its span.
    fn add_event(&mut self, r: &Record, e: LogEvent) {
        let span = self.tree.iter_mut().find(|s| s.id == r.span);
        match span {
            Some(s) if self.events < MAX_EVENTS => {
                self.events += 1;
                s.events.push(TraceEvent {
                    time_ns: r.time_ns,
                    level: e.level.to_owned(),
                    target: e.target,
                    thread: r.thread,
                    fields: e.fields,
                });
            }
            _ => self.left_out += 1,
        }
    }

    /// Takes the request id from a field of one of its spans or events.
    fn take_field(&mut self, name: &str, value: &FieldValue) {
        if let ("request_id", FieldValue::U64(id)) = (name, value) {
            self.request_id = Some(*id);
        }
    }

    /// Takes the categories ([`categories_of`]) of one of its spans or
    /// events (`level` is the event's): the first backend and intent, the
    /// first error of an ERROR event, the last risk level.
    fn take_categories(
        &mut self,
        categories: Vec<(&'static str, Option<String>)>,
        level: Option<Level>,
    ) {
        for (name, label) in categories {
            match name {
                "backend" if self.backend.is_none() => self.backend = label,
                "intent" if self.intent.is_none() => self.intent = label,
                "error" if level == Some(Level::Error) && self.error.is_none() => {
                    self.error = Some(label.unwrap_or_else(|| "unknown".to_owned()));
                }
                "risk_level" => self.risk_level = label,
                _ => {}
            }
        }
    }
}

/// The request ends: its row and its histograms.
fn finish(req: OpenRequest, root_name: &str, end_ns: u64, duration: u64, batch: &mut Batch) {
    let blocked = matches!(req.risk_level.as_deref(), Some("high" | "critical"));
    let outcome = if req.panicked {
        Outcome::Panicked
    } else if req.failed {
        Outcome::Failed
    } else if blocked {
        Outcome::Blocked
    } else {
        Outcome::Generated
    };
    let day = time::day(end_ns);
    let backend = req.backend.clone().unwrap_or_default();
    batch.record_ns(
        HistKey {
            day,
            kind: HistKind::Request,
            name: root_name.to_owned(),
            backend: backend.clone(),
        },
        duration,
    );
    let mut self_ns: Vec<(String, u64)> = Vec::new();
    for (name, d, s) in &req.spans {
        batch.record_ns(
            HistKey {
                day,
                kind: HistKind::SpanBackend,
                name: name.clone(),
                backend: backend.clone(),
            },
            *d,
        );
        match self_ns.iter_mut().find(|(n, _)| n == name) {
            Some(e) => e.1 += s,
            None => self_ns.push((name.clone(), *s)),
        }
    }
    batch.requests.push(RequestRow {
        end_ns,
        duration_ns: duration,
        outcome,
        request_id: req.request_id,
        error_category: match outcome {
            Outcome::Failed => Some(req.error.unwrap_or_else(|| "unknown".to_owned())),
            _ => None,
        },
        backend: req.backend,
        intent: req.intent,
        risk_level: req.risk_level,
        self_ns,
    });
}

/// Folds a field into the metrics when its name follows the convention of
/// tracing-opentelemetry's metrics layer (`monotonic_counter.`, `counter.`,
/// `histogram.`), or is a `gauge.`.
fn metric(batch: &mut Batch, day: i64, time_ns: u64, name: &str, value: &FieldValue) {
    let Some((kind, metric)) = name.split_once('.') else {
        return;
    };
    let Some(x) = value.as_f64() else { return };
    match kind {
        "monotonic_counter" | "counter" => {
            *batch.counters.entry((day, metric.to_owned())).or_default() += x;
        }
        "gauge" => {
            let g = batch
                .gauges
                .entry((day, metric.to_owned()))
                .or_insert((time_ns, x));
            if time_ns >= g.0 {
                *g = (time_ns, x);
            }
        }
        "histogram" if x >= 0.0 => batch.record_ns(
            HistKey {
                day,
                kind: HistKind::Metric,
                name: metric.to_owned(),
                backend: String::new(),
            },
            // Micro-units, recorded as the spans' nanoseconds are.
            (x * 1e9) as u64,
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caro_format::Part;

    fn record(kind: RecordKind, time_ns: u64, span: u32, parent: u32) -> Record {
        Record {
            lane: 0,
            seq: 0,
            time_ns,
            thread: 7,
            kind,
            callsite: 0,
            span,
            parent,
            truncated: false,
            left_out: 0,
            values: Vec::new(),
        }
    }

    fn text(s: &str) -> Value {
        Value::Str {
            text: s.to_owned(),
            truncated: false,
        }
    }

    #[test]
    fn categories_hold_program_text_or_identifiers_and_else_other() {
        let mut dict = Dictionary::default();
        dict.strings.insert(1, "BackendTimeout".to_owned());
        dict.strings.insert(2, "mail ana@example.org".to_owned());
        dict.strings.insert(3, "timeout".to_owned());
        dict.messages.insert(9, "Backend timed out".to_owned());
        let label = |v: Value| label(&v, 9, &dict);
        let some = |s: &str| Some(s.to_owned());
        // Program text, scrubbed.
        assert_eq!(label(Value::StaticStr(1)), some("BackendTimeout"));
        assert_eq!(label(Value::StaticStr(2)), some("mail <email>"));
        assert_eq!(label(Value::Message), some("Backend timed out"));
        let template = Value::Template(vec![Part::Text("HTTP ".into()), Part::Static(3)]);
        assert_eq!(label(template), some("HTTP timeout"));
        // Run-time identifiers.
        for id in ["embedded", "file_search", "qwen2.5-coder:1.5b", "high"] {
            assert_eq!(label(text(id)), some(id));
        }
        // Anything else that is text.
        for other in [
            text("NL91ABNA0417164300"),
            text("DE89 3704 0044 0532 0130 00"),
            text("Backend timed out"),
            text("jürgen.weiß@example.org"),
            text("someones-macbook-air.local"),
            text("+4915112345678"),
            Value::Str {
                text: "embedded".into(),
                truncated: true,
            },
            Value::Redacted(18),
            Value::StaticStr(404),
            Value::Template(vec![Part::Text("for ".into()), Part::Hole(18)]),
            Value::Template(vec![Part::Static(404)]),
            Value::Ext {
                ext_type: 9,
                len: 2,
            },
        ] {
            assert_eq!(label(other.clone()), some(OTHER), "{other:?}");
        }
        // Numbers name no category.
        assert_eq!(label(Value::U64(3)), None);
        assert_eq!(label(Value::Bool(true)), None);
    }

    #[test]
    fn a_request_keeps_its_categories_by_provenance() {
        use caro_format::{Callsite, CallsiteKind};
        let callsite = |kind, level, fields: &[&str]| Callsite {
            level,
            kind,
            name: "process_query".to_owned(),
            target: "caro::agent".to_owned(),
            file: "src/agent.rs".to_owned(),
            line: 1,
            fields: fields.iter().map(|f| f.to_string()).collect(),
            message: String::new(),
        };
        let mut dict = Dictionary::default();
        dict.callsites.insert(
            1,
            callsite(CallsiteKind::Span, Level::Info, &["backend", "intent"]),
        );
        dict.callsites.insert(
            2,
            callsite(CallsiteKind::Event, Level::Error, &["error", "risk_level"]),
        );
        dict.strings.insert(5, "embedded".to_owned());
        let iban = "NL91ABNA0417164300";
        let with = |mut r: Record, callsite: u64, values: Vec<Value>| {
            r.callsite = callsite;
            r.values = values
                .into_iter()
                .enumerate()
                .map(|(i, value)| caro_format::FieldValue {
                    field: i as u8,
                    value,
                })
                .collect();
            r
        };
        let mut a = Assembly::default();
        let mut batch = Batch::default();
        let mut fold = |r: Record| a.fold(&r, &dict, &mut batch);
        // An IBAN as the backend and the error (a host opted them in),
        // program text as the intent.
        fold(with(
            record(RecordKind::SpanNew, 1, 1, 0),
            1,
            vec![text(iban), Value::StaticStr(5)],
        ));
        fold(with(
            record(RecordKind::Event, 2, 1, 0),
            2,
            vec![text(iban), text("low")],
        ));
        fold(with(record(RecordKind::SpanClose, 3, 1, 0), 1, vec![]));
        let row = &batch.requests[0];
        assert_eq!(row.outcome, Outcome::Failed);
        assert_eq!(row.backend.as_deref(), Some(OTHER));
        assert_eq!(row.error_category.as_deref(), Some(OTHER));
        assert_eq!(row.intent.as_deref(), Some("embedded"));
        assert_eq!(row.risk_level.as_deref(), Some("low"));
        assert!(batch.histograms.keys().all(|k| !k.backend.contains("NL91")));
        assert!(batch
            .histograms
            .keys()
            .any(|k| k.kind == HistKind::Request && k.backend == OTHER));
    }

    #[test]
    fn a_request_that_loops_keeps_a_bounded_trace_and_counts_the_rest() {
        let dict = Dictionary::default();
        let mut a = Assembly::default();
        let mut batch = Batch::default();
        let mut fold = |r: Record| a.fold(&r, &dict, &mut batch);
        fold(record(RecordKind::SpanNew, 1, 1, 0));
        for i in 0..MAX_EVENTS as u32 + 10 {
            fold(record(RecordKind::Event, 2, 1, 0));
            fold(record(RecordKind::SpanNew, 3, 100 + i, 1));
            fold(record(RecordKind::SpanClose, 4, 100 + i, 0));
        }
        // A child of a span left out is left out too.
        fold(record(RecordKind::SpanNew, 5, 60_000, 1));
        fold(record(RecordKind::SpanNew, 5, 50_000, 60_000));
        fold(record(RecordKind::SpanClose, 6, 50_000, 0));
        fold(record(RecordKind::SpanClose, 6, 60_000, 0));
        fold(record(RecordKind::SpanClose, 6, 1, 0));
        assert_eq!(batch.requests.len(), 1, "the request is counted whole");
        let (trace, kept) = &batch.traces[0];
        assert_eq!(*kept, Kept::FirstOfDay);
        assert_eq!(trace.spans.len(), MAX_SPANS);
        assert_eq!(trace.spans[0].events.len(), MAX_EVENTS);
        assert_eq!(trace.left_out, 10 + 11 + 2);
        assert!(!trace.unfinished());
    }
}

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

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use caro_format::text::{template_pieces, Piece};
use caro_format::{Dictionary, Level, Record, RecordKind, Value};
use caro_recorder::privacy::is_identifier;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::event::{Field, FieldValue, LogEvent, SpanView, MESSAGE_FIELD};
use crate::trace::{Kept, SamplingPolicy, Trace, TraceEvent, TraceSpan, MAX_EVENTS, MAX_SPANS};
use crate::{scrub, time};

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

/// The open invocation that thread `thread` belongs to, if any: a free
/// function over the two maps, so that the requests stay borrowable.
fn invocation_of<'a>(
    pids: &BTreeMap<u32, u32>,
    invocations: &'a mut BTreeMap<u32, OpenInvocation>,
    thread: u32,
) -> Option<&'a mut OpenInvocation> {
    invocations.get_mut(pids.get(&thread)?)
}

/// How [`message_template`] shows an argument to the scrubber: one of its
/// own placeholders, which it reads as a word and leaves as it is (a
/// `{}` before a `/` would start a path). No hole is 0 bytes long.
const ARGUMENT: &str = "<redacted 0 bytes>";

/// The units a `Debug` duration ends with (`1.234ms`): part of its
/// argument, not of the message.
const DURATION_UNITS: [&str; 4] = ["ns", "µs", "ms", "s"];

/// The message of event `r` as program text, scrubbed, each run-time
/// argument shown as `{}`: a literal message as it is; a formatted one
/// as its template's program text, each hole, cut and kept number (`42`,
/// `0.62`, a `Debug` duration `1.234ms`) one `{}` — `Parse attempt {}/{}
/// failed` — so that every event of a callsite has the same text; a
/// run-time string or a withheld value `{}`. An event without a message
/// is its callsite's name (`event src/main.rs:42`).
pub fn message_template(r: &Record, dict: &Dictionary) -> String {
    let Some(c) = dict.callsites.get(&r.callsite) else {
        return String::new();
    };
    let message = c
        .fields
        .iter()
        .position(|f| f == MESSAGE_FIELD)
        .and_then(|i| r.values.iter().find(|fv| usize::from(fv.field) == i));
    let text: Cow<str> = match message.map(|fv| &fv.value) {
        None => Cow::Borrowed(&c.name),
        Some(Value::Message) => dict
            .messages
            .get(&r.callsite)
            .map_or(Cow::Borrowed(&c.name), |m| Cow::Borrowed(m)),
        Some(Value::StaticStr(id)) => dict
            .strings
            .get(id)
            .map_or(Cow::Borrowed(ARGUMENT), |s| Cow::Borrowed(s)),
        Some(Value::Template(parts)) => Cow::Owned(template_with_arguments(parts, dict)),
        Some(_) => Cow::Borrowed(ARGUMENT),
    };
    scrub::text(&text).replace(ARGUMENT, "{}")
}

/// A template's program text with each run-time argument as [`ARGUMENT`].
fn template_with_arguments(parts: &[caro_format::Part], dict: &Dictionary) -> String {
    // A number is written in pieces (`1`, `.`, `234`, then `ms`): the
    // pieces after an argument's first are folded into it.
    let mut pieces: Vec<Option<&str>> = Vec::new();
    for piece in template_pieces(parts, dict) {
        let text = match piece {
            Piece::Text(t) if !is_number(t) => Some(t),
            _ => None,
        };
        match (pieces.as_slice(), text) {
            ([.., None], None) => {}
            ([.., None], Some(unit)) if DURATION_UNITS.contains(&unit) => {}
            ([.., None, Some(".")], None) => {
                pieces.pop();
            }
            _ => pieces.push(text),
        }
    }
    pieces.into_iter().map(|p| p.unwrap_or(ARGUMENT)).collect()
}

/// Whether template text `t` is a number (`42`, `-1.5`, `0.`, `3e-5`): a
/// run-time piece the recorder kept, not program text.
fn is_number(t: &str) -> bool {
    t.trim_start_matches(['+', '-'])
        .starts_with(|c: char| c.is_ascii_digit())
        && t.bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
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
    /// Self time of every span (its duration less its children's), by
    /// name: what `report` sums for the spans' self time.
    SpanSelf,
    /// Duration of the spans of requests, by name and backend.
    SpanBackend,
    /// A `histogram.NAME` metric.
    Metric,
    /// Duration of invocations (process runs); name and backend empty.
    Invocation,
}

impl HistKind {
    /// The name the store uses.
    pub fn name(self) -> &'static str {
        match self {
            HistKind::Request => "request",
            HistKind::Span => "span",
            HistKind::SpanSelf => "span_self",
            HistKind::SpanBackend => "span_backend",
            HistKind::Metric => "metric",
            HistKind::Invocation => "invocation",
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
    /// Its root span's name.
    pub name: String,
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

/// How an invocation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvocationOutcome {
    /// Exit status 0, or no status and no ERROR event.
    Ok,
    /// A non-zero exit status, or no status and an ERROR event.
    Failed,
    /// A panic was recorded in it.
    Panicked,
    /// No exit was recorded: given up ([`GIVE_UP_NS`]), its process killed.
    Unfinished,
}

impl InvocationOutcome {
    pub const ALL: [InvocationOutcome; 4] = [
        InvocationOutcome::Ok,
        InvocationOutcome::Failed,
        InvocationOutcome::Panicked,
        InvocationOutcome::Unfinished,
    ];

    /// Its name in the store, the report and the metrics.
    pub fn name(self) -> &'static str {
        match self {
            InvocationOutcome::Ok => "ok",
            InvocationOutcome::Failed => "failed",
            InvocationOutcome::Panicked => "panicked",
            InvocationOutcome::Unfinished => "unfinished",
        }
    }
}

/// One row of the `invocations` table: a finished (or given up) process run.
#[derive(Clone, Debug, PartialEq)]
pub struct InvocationRow {
    pub start_ns: u64,
    /// Its exit, or its last record when it never exited.
    pub end_ns: u64,
    pub outcome: InvocationOutcome,
    /// The exit status, when the exit record carries one.
    pub status: Option<i64>,
    pub warnings: u64,
    pub errors: u64,
    /// The host's version, as its process start gave it ([`label`]).
    pub version: Option<String>,
}

/// Which WARN or ERROR events are counted together: by UTC day, level,
/// target and [`message_template`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CallsiteKey {
    pub day: i64,
    pub level: String,
    pub target: String,
    pub message: String,
}

/// The events of one [`CallsiteKey`], and the invocations they occurred in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallsiteCount {
    pub events: u64,
    pub invocations: u64,
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
    pub invocations: Vec<InvocationRow>,
    /// WARN and ERROR events by callsite.
    pub callsites: HashMap<CallsiteKey, CallsiteCount>,
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
    /// left out past [`MAX_EVENTS`].
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
                let version = r.values.iter().find(|f| f.field == 1);
                // Records come oldest first: the last one seen is newest.
                if let Some(v) = version {
                    if let FieldValue::Str(s) = crate::event::resolve(&v.value, r.callsite, dict) {
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

    /// PROCESS_START `r` opens an invocation of its pid. One still open
    /// with the same pid never exited: its process died and the pid was
    /// used again.
    fn invocation_start(&mut self, r: &Record, version: Option<String>, batch: &mut Batch) {
        let Some(pid) = r.named_pid() else {
            return;
        };
        let open = OpenInvocation {
            thread: r.thread,
            start_ns: r.time_ns,
            last_ns: r.time_ns,
            version,
            error: false,
            panicked: false,
            warnings: 0,
            errors: 0,
            callsites: BTreeSet::new(),
            has_requests: false,
            events: Vec::new(),
            left_out: 0,
        };
        if let Some(dead) = self.invocations.insert(pid, open) {
            self.end_invocation((pid, dead), None, batch);
        }
    }

    /// The invocation of pid `inv.0` ends: at its exit (time and status),
    /// or, without one, given up at its last record. Its row, its
    /// duration, and its trace unless it served requests.
    fn end_invocation(
        &mut self,
        (pid, mut inv): (u32, OpenInvocation),
        exit: Option<(u64, Option<i64>)>,
        batch: &mut Batch,
    ) {
        let status = exit.and_then(|(_, status)| status);
        let outcome = match (inv.panicked, exit, status) {
            (true, _, _) => InvocationOutcome::Panicked,
            (false, None, _) => InvocationOutcome::Unfinished,
            (false, Some(_), Some(0)) => InvocationOutcome::Ok,
            (false, Some(_), Some(_)) => InvocationOutcome::Failed,
            (false, Some(_), None) if inv.error => InvocationOutcome::Failed,
            (false, Some(_), None) => InvocationOutcome::Ok,
        };
        let end_ns = exit.map_or(inv.last_ns, |(t, _)| t);
        batch.record_ns(
            HistKey {
                day: time::day(end_ns),
                kind: HistKind::Invocation,
                name: String::new(),
                backend: String::new(),
            },
            end_ns.saturating_sub(inv.start_ns),
        );
        if !inv.has_requests {
            let events = std::mem::take(&mut inv.events);
            let end = exit.map(|(t, _)| (t, outcome, status));
            let trace = inv.trace_of(pid, events, end);
            self.keep(trace, batch);
        }
        batch.invocations.push(InvocationRow {
            start_ns: inv.start_ns,
            end_ns,
            outcome,
            status,
            warnings: inv.warnings,
            errors: inv.errors,
            version: inv.version,
        });
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
                let unknown = crate::event::UNKNOWN_TARGET.to_owned();
                (unknown.clone(), unknown)
            },
            |c| (c.name.clone(), c.target.clone()),
        );
        let fields = crate::event::fields_of(r, dict);
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
        let mut e = LogEvent::from_record(r, dict, &crate::event::spans())?;
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

/// The name of an invocation's span, the root of its trace.
pub const INVOCATION_SPAN: &str = "invocation";
/// The target of that span: it stands for the process.
const INVOCATION_TARGET: &str = "process";
/// The id of that span, the only one of its trace (any id but 0).
const INVOCATION_SPAN_ID: u32 = u32::MAX;

impl OpenInvocation {
    /// Its trace, of process `pid`, with `events`: one span,
    /// [`INVOCATION_SPAN`], from its start to its exit (`end`: when, how
    /// it ended and its status), or unfinished.
    fn trace_of(
        &self,
        pid: u32,
        events: Vec<TraceEvent>,
        end: Option<(u64, InvocationOutcome, Option<i64>)>,
    ) -> Trace {
        let mut fields: Vec<Field> = Vec::new();
        if let Some((_, outcome, status)) = end {
            fields.push(("outcome".into(), FieldValue::Str(outcome.name().into())));
            if let Some(status) = status {
                fields.push(("status".into(), FieldValue::I64(status)));
            }
        }
        if let Some(v) = &self.version {
            fields.push(("version".into(), FieldValue::Str(v.clone())));
        }
        let failed = matches!(
            end,
            Some((
                _,
                InvocationOutcome::Failed | InvocationOutcome::Panicked,
                _
            ))
        );
        Trace {
            id: Trace::id_for(INVOCATION_SPAN_ID, self.start_ns, pid),
            request_id: None,
            error: failed || self.error || self.panicked,
            spans: vec![TraceSpan {
                id: INVOCATION_SPAN_ID,
                parent: 0,
                name: INVOCATION_SPAN.to_owned(),
                target: INVOCATION_TARGET.to_owned(),
                pid,
                thread: self.thread,
                start_ns: self.start_ns,
                end_ns: end.map(|(t, _, _)| t),
                fields,
                events,
            }],
            left_out: self.left_out,
        }
    }

    /// Adds the event `e` of record `r` to its trace, within the cap.
    fn add_event(&mut self, r: &Record, e: LogEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.left_out += 1;
            return;
        }
        self.events.push(TraceEvent {
            time_ns: r.time_ns,
            level: e.level.to_owned(),
            target: e.target,
            thread: r.thread,
            fields: e.fields,
        });
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
        name: root_name.to_owned(),
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
            identity: None,
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
        let with = |r: Record, callsite: u64, values: Vec<Value>| {
            let thread = r.thread;
            on(thread, r, callsite, values)
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

    /// `r` of callsite `callsite` on thread `thread`, its values fields
    /// 0, 1, … in order.
    fn on(thread: u32, mut r: Record, callsite: u64, values: Vec<Value>) -> Record {
        r.thread = thread;
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
    }

    /// PROCESS_START of pid `pid`, on its main thread, version 0.4.2.
    fn start(pid: u32, time_ns: u64) -> Record {
        let r = record(RecordKind::ProcessStart, time_ns, 0, 0);
        on(pid, r, 0, vec![Value::U64(pid.into()), text("0.4.2")])
    }

    /// PROCESS_EXIT of pid `pid`, with `status` if given.
    fn exit(pid: u32, time_ns: u64, status: Option<i64>) -> Record {
        let r = record(RecordKind::ProcessExit, time_ns, 0, 0);
        let mut values = vec![Value::U64(pid.into())];
        values.extend([0, 0, 0, 0, 0].map(Value::U64));
        values.extend(status.map(Value::I64));
        on(pid, r, 0, values)
    }

    /// A dictionary of one message callsite: 1 WARN, 2 ERROR, 3 INFO.
    fn log_dictionary() -> Dictionary {
        use caro_format::{Callsite, CallsiteKind};
        let mut dict = Dictionary::default();
        for (id, level) in [(1, Level::Warn), (2, Level::Error), (3, Level::Info)] {
            let callsite = Callsite {
                level,
                kind: CallsiteKind::Event,
                name: format!("event src/main.rs:{id}"),
                target: "host::agent".to_owned(),
                file: "src/main.rs".to_owned(),
                line: id as u32,
                fields: vec![MESSAGE_FIELD.to_owned()],
                message: String::new(),
            };
            dict.callsites.insert(id, callsite);
        }
        dict.strings
            .insert(10, " failed, retrying with correction prompt".to_owned());
        dict
    }

    /// `warn!("Parse attempt {}/{} failed, …", attempt, of)`, as the
    /// recorder writes it: the numbers kept.
    fn parse_attempt(thread: u32, time_ns: u64, attempt: u64) -> Record {
        let parts = vec![
            Part::Text("Parse attempt ".into()),
            Part::Text(attempt.to_string()),
            Part::Text("/".into()),
            Part::Text("3".into()),
            Part::Static(10),
        ];
        let r = record(RecordKind::Event, time_ns, 0, 0);
        on(thread, r, 1, vec![Value::Template(parts)])
    }

    /// The store's copy of `a`, as the next ingest reads it.
    fn stored(a: &Assembly) -> Assembly {
        serde_json::from_str(&serde_json::to_string(a).unwrap()).unwrap()
    }

    #[test]
    fn message_templates_keep_program_text_and_show_arguments_as_braces() {
        let mut dict = log_dictionary();
        dict.messages.insert(3, "Model unloaded".to_owned());
        let template = |parts: Vec<Part>| {
            let r = record(RecordKind::Event, 1, 0, 0);
            message_template(&on(7, r, 1, vec![Value::Template(parts)]), &dict)
        };
        let t = |s: &str| Part::Text(s.into());
        assert_eq!(
            message_template(&parse_attempt(7, 1, 2), &dict),
            "Parse attempt {}/{} failed, retrying with correction prompt"
        );
        // A Debug duration, a {:.2} score, a withheld path, a cut.
        assert_eq!(
            template(vec![
                t("found in "),
                t("1"),
                t("."),
                t("234"),
                t("ms"),
                t(": "),
                Part::Hole(23)
            ]),
            "found in {}: {}"
        );
        assert_eq!(
            template(vec![t("Low confidence ("), t("0."), t("62"), t(")")]),
            "Low confidence ({})"
        );
        assert_eq!(template(vec![t("at "), Part::Cut(40)]), "at {}");
        // Program text is scrubbed; a path written as program text too.
        assert_eq!(
            template(vec![t("mail ana@example.org at "), t("/home/ana/x")]),
            "mail <email> at <path>"
        );
        let literal = on(
            7,
            record(RecordKind::Event, 1, 0, 0),
            3,
            vec![Value::Message],
        );
        assert_eq!(message_template(&literal, &dict), "Model unloaded");
        let runtime = on(7, record(RecordKind::Event, 1, 0, 0), 1, vec![text("ana")]);
        assert_eq!(message_template(&runtime, &dict), "{}");
        let none = on(7, record(RecordKind::Event, 1, 0, 0), 1, vec![]);
        assert_eq!(message_template(&none, &dict), "event src/main.rs:1");
    }

    #[test]
    fn an_invocation_spans_ingests_and_a_silent_one_is_given_up() {
        let dict = log_dictionary();
        let ms = 1_000_000;
        let t0 = 20_000 * time::DAY_NS;
        let mut a = Assembly::default();
        let mut first = Batch::default();
        for r in [
            start(100, t0),
            parse_attempt(100, t0 + ms, 1),
            start(200, t0 + 2 * ms),
            on(200, record(RecordKind::Event, t0 + 3 * ms, 0, 0), 2, vec![]),
        ] {
            a.fold(&r, &dict, &mut first);
        }
        a.give_up_stale(&mut first);
        assert!(first.invocations.is_empty(), "both still open");
        let key = CallsiteKey {
            day: 20_000,
            level: "WARN".into(),
            target: "host::agent".into(),
            message: "Parse attempt {}/{} failed, retrying with correction prompt".into(),
        };
        let once = CallsiteCount {
            events: 1,
            invocations: 1,
        };
        assert_eq!(first.callsites[&key], once);
        let open = a.open_traces();
        assert_eq!(open.len(), 2);
        assert!(open
            .iter()
            .all(|t| t.unfinished() && t.root().name == INVOCATION_SPAN));

        // The next ingest: the same warning again in the same invocation,
        // then its exit with status 3.
        let mut a = stored(&a);
        let mut second = Batch::default();
        for r in [
            parse_attempt(100, t0 + 4 * ms, 2),
            exit(100, t0 + 10 * ms, Some(3)),
        ] {
            a.fold(&r, &dict, &mut second);
        }
        a.give_up_stale(&mut second);
        assert_eq!(
            second.callsites[&key],
            CallsiteCount {
                events: 1,
                invocations: 0
            },
            "the invocation was counted for that callsite and day already"
        );
        assert_eq!(
            second.invocations,
            [InvocationRow {
                start_ns: t0,
                end_ns: t0 + 10 * ms,
                outcome: InvocationOutcome::Failed,
                status: Some(3),
                warnings: 2,
                errors: 0,
                version: Some("0.4.2".into()),
            }]
        );
        let (trace, kept) = &second.traces[0];
        assert_eq!(*kept, Kept::Error);
        assert_eq!(trace.duration_ns(), Some(10 * ms));
        assert_eq!(trace.root().events.len(), 2, "its events of both ingests");
        assert!(trace
            .root()
            .fields
            .contains(&("status".into(), FieldValue::I64(3))));
        let h = &second.histograms[&HistKey {
            day: 20_000,
            kind: HistKind::Invocation,
            name: String::new(),
            backend: String::new(),
        }];
        assert!(
            h.len() == 1 && h.equivalent(h.max(), 10_000),
            "10 ms, in µs"
        );

        // A day later something else records: pid 200, silent since its
        // ERROR event, never exited: killed.
        let mut third = Batch::default();
        let later = on(
            300,
            record(RecordKind::ThreadStart, t0 + 3 * ms + GIVE_UP_NS + 1, 0, 0),
            0,
            vec![Value::U64(300)],
        );
        a.fold(&later, &dict, &mut third);
        a.give_up_stale(&mut third);
        let row = &third.invocations[0];
        assert_eq!(
            (
                row.outcome,
                row.status,
                row.errors,
                row.end_ns - row.start_ns
            ),
            (InvocationOutcome::Unfinished, None, 1, ms),
            "given up at its last record"
        );
        let (trace, kept) = &third.traces[0];
        assert_eq!((*kept, trace.root().pid), (Kept::Error, 200));
        assert!(trace.unfinished());
        assert!(a.open_traces().is_empty());
    }

    #[test]
    fn an_invocation_that_serves_requests_is_traced_by_them_and_ends_by_its_panic() {
        let dict = log_dictionary();
        let mut a = Assembly::default();
        let mut batch = Batch::default();
        for r in [
            start(7, 1),
            record(RecordKind::SpanNew, 2, 1, 0),
            on(7, record(RecordKind::Panic, 3, 1, 0), 0, vec![]),
            record(RecordKind::SpanClose, 4, 1, 0),
            // Exit status 0: the panic was caught, and still counts.
            exit(7, 5, Some(0)),
        ] {
            a.fold(&r, &dict, &mut batch);
        }
        assert_eq!(batch.invocations[0].outcome, InvocationOutcome::Panicked);
        assert_eq!(batch.requests.len(), 1);
        assert_eq!(
            batch.traces.len(),
            1,
            "the request's trace, not a second one"
        );
        assert_eq!(batch.traces[0].0.root().name, "<unknown callsite>");
        // Without a status, an ERROR event fails an invocation; without
        // either, it is ok.
        for (events, outcome) in [
            (vec![2], InvocationOutcome::Failed),
            (vec![1, 3], InvocationOutcome::Ok),
        ] {
            let mut batch = Batch::default();
            a.fold(&start(8, 10), &dict, &mut batch);
            for callsite in events {
                let r = record(RecordKind::Event, 11, 0, 0);
                a.fold(&on(8, r, callsite, vec![Value::Message]), &dict, &mut batch);
            }
            a.fold(&exit(8, 12, None), &dict, &mut batch);
            assert_eq!(batch.invocations[0].outcome, outcome);
        }
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

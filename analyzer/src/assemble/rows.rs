//! What an assembly completes, in the shape the store writes it: rows of
//! requests, invocations, process exits, panics and callsites, latency
//! histograms, metrics and counts, gathered in one [`Batch`] an ingest.

use std::collections::HashMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::SIGNIFICANT_DIGITS;
use crate::assemble::trace::{Kept, SamplingPolicy, Trace};

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
    /// No exit was recorded: given up ([`GIVE_UP_NS`](super::GIVE_UP_NS)), its process killed.
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
    /// The host's version, as its process start gave it ([`label`](super::label)).
    pub version: Option<String>,
}

/// Which WARN or ERROR events are counted together: by UTC day, level,
/// target and [`message_template`](super::message_template).
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
    pub(super) fn record_ns(&mut self, key: HistKey, ns: u64) {
        let h = self.histograms.entry(key).or_insert_with(new_histogram);
        // The histogram grows to fit; `saturating_record` would clamp.
        if h.record(ns / 1000).is_err() {
            h.saturating_record(ns / 1000);
        }
    }
}

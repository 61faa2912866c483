//! Requests: a root span's categories, outcome and trace, and the
//! metrics its events carry.

use caro_format::{Level, Record};

use super::rows::{Batch, HistKey, HistKind, Outcome, RequestRow};
use super::OpenRequest;
use crate::assemble::trace::{Trace, TraceEvent, TraceSpan, MAX_EVENTS, MAX_SPANS};
use crate::scrub::event::{Field, FieldValue, LogEvent};
use crate::time;

impl OpenRequest {
    /// Its trace, of `tree` (its own, or a copy of it).
    pub(super) fn trace_of(&self, tree: Vec<TraceSpan>) -> Option<Trace> {
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
    pub(super) fn add_span(
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
    pub(super) fn add_event(&mut self, r: &Record, e: LogEvent) {
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
    pub(super) fn take_field(&mut self, name: &str, value: &FieldValue) {
        if let ("request_id", FieldValue::U64(id)) = (name, value) {
            self.request_id = Some(*id);
        }
    }

    /// Takes the categories ([`categories_of`](super::categories::categories_of)) of one of its spans or
    /// events (`level` is the event's): the first backend and intent, the
    /// first error of an ERROR event, the last risk level.
    pub(super) fn take_categories(
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
pub(super) fn finish(
    req: OpenRequest,
    root_name: &str,
    end_ns: u64,
    duration: u64,
    batch: &mut Batch,
) {
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
pub(super) fn metric(batch: &mut Batch, day: i64, time_ns: u64, name: &str, value: &FieldValue) {
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

//! Invocations: a process run from its PROCESS_START to its PROCESS_EXIT,
//! its outcome, and its own trace while it serves no request.

use std::collections::BTreeSet;

use caro_format::Record;

use super::rows::{Batch, HistKey, HistKind, InvocationOutcome, InvocationRow};
use super::{Assembly, OpenInvocation};
use crate::assemble::trace::{Trace, TraceEvent, TraceSpan, MAX_EVENTS};
use crate::scrub::event::{Field, FieldValue, LogEvent};
use crate::time;

impl Assembly {
    /// PROCESS_START `r` opens an invocation of its pid. One still open
    /// with the same pid never exited: its process died and the pid was
    /// used again.
    pub(super) fn invocation_start(
        &mut self,
        r: &Record,
        version: Option<String>,
        batch: &mut Batch,
    ) {
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
    pub(super) fn end_invocation(
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
    pub(super) fn trace_of(
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
    pub(super) fn add_event(&mut self, r: &Record, e: LogEvent) {
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

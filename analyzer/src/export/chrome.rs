//! `export --format chrome`: Chrome's trace-event JSON, for Perfetto and
//! chrome://tracing.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::json;

use crate::assemble::trace::{fields_json, Trace};
use crate::scrub::event::FieldValue;
use crate::time;

/// Chrome's trace-event JSON of `traces`. Times are microseconds from the
/// first trace's start (`otherData.start` says when that was).
pub fn write_chrome(traces: &[Trace], out: &mut dyn Write) -> io::Result<()> {
    let t0 = traces.iter().map(|t| t.root().start_ns).min().unwrap_or(0);
    // Whole microseconds, each end rounded down on its own: a reader's
    // `ts + dur` is then exact, so a child that ends with its parent stays
    // inside it, and a span that ends as the next starts does not overlap
    // it (fractions summed in floating point do; DevTools then drops them).
    let us = |ns: u64| ns.saturating_sub(t0) / 1000;
    let mut events = Vec::new();
    let mut tracks = BTreeMap::new();
    for t in traces {
        for (i, s) in t.spans.iter().enumerate() {
            tracks.insert((s.pid, s.thread), ());
            let mut args = fields_json(&s.fields);
            args["trace_id"] = t.id_hex().into();
            if s.end_ns.is_none() {
                args["unfinished"] = true.into();
            }
            events.push(json!({
                "name": s.name,
                "cat": s.target,
                "ph": "X",
                "ts": us(s.start_ns),
                "dur": us(t.end_or_last_ns(i)).saturating_sub(us(s.start_ns)),
                "pid": s.pid,
                "tid": s.thread,
                "args": args,
            }));
            for e in &s.events {
                let mut args = fields_json(e.other_fields());
                args["level"] = e.level.clone().into();
                events.push(json!({
                    "name": match e.message() {
                        Some(FieldValue::Str(m)) => m.clone(),
                        _ => e.level.clone(),
                    },
                    "cat": e.target,
                    "ph": "i",
                    "s": "t",
                    "ts": us(e.time_ns),
                    "pid": s.pid,
                    "tid": e.thread,
                    "args": args,
                }));
            }
        }
    }
    let mut named = Vec::new();
    let mut last_pid = None;
    for &(pid, tid) in tracks.keys() {
        if last_pid != Some(pid) {
            named.push(
                json!({"name": "process_name", "ph": "M", "pid": pid, "tid": pid,
                "args": {"name": format!("caro {pid}")}}),
            );
            last_pid = Some(pid);
        }
        named.push(
            json!({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
            "args": {"name": format!("thread {tid}")}}),
        );
    }
    named.extend(events);
    let doc = json!({
        "traceEvents": named,
        "displayTimeUnit": "ms",
        "otherData": {"start": time::rfc3339(t0), "traces": traces.len()},
    });
    serde_json::to_writer(&mut *out, &doc)?;
    writeln!(out)
}

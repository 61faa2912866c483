//! Traces: the span tree of one request, rebuilt from its records across
//! threads, with the events that happened in each span, and the policy
//! that decides which traces the store keeps.
//!
//! An invocation (one run of the host's process) that served no request
//! — a host that records no span — is a trace too: one span named
//! `invocation` (target `process`), from the process's start to its exit,
//! with the fields `outcome`, `status` (when its exit gave one) and
//! `version`, and every event its process recorded.
//!
//! Every request is recorded in full in the ring; which traces are kept
//! is decided offline, once a trace is complete ("tail-based" sampling,
//! [`SamplingPolicy`]). Aggregates count every request whatever is kept.
//!
//! `caro-analyze traces --json` prints one object per trace ([`Trace::to_json`]):
//!
//! | key | value |
//! |---|---|
//! | `trace_id` | 32 hex digits, the same in every export |
//! | `request_id` | the request's `request_id` field, or `null` |
//! | `start` | RFC 3339, UTC |
//! | `duration_ms` | the root's duration, `null` while unfinished |
//! | `error` | an ERROR event or a panic happened in it |
//! | `unfinished` | a span of it never closed |
//! | `left_out` | spans and events past the caps ([`MAX_SPANS`], [`MAX_EVENTS`]) |
//! | `kept` | why the store kept it (`error`, `slow`, `unfinished`, `first_of_day`, `sampled`); absent for a request still open |
//! | `bottleneck` | `null`, or `span` and `share` (0 to 1): the span with the most self time, and that time's share of the request |
//! | `root` | the root span: `name`, `target`, `pid`, `thread`, `start`, `offset_ms` (from the root's start), `duration_ms` (`null` while open), `self_ms`, `unfinished`, `fields`, `events` (`time`, `level`, `target`, `message`, `fields`) and `children`, spans of the same shape |

use std::io::{self, Write};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::scrub::event::{split_message, Field, FieldValue};
use crate::time::{self, duration};

/// One request's spans and events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// 128 bits derived from the root span's id, start and process, so
    /// that every export of the same trace gives it the same id.
    pub id: u128,
    pub request_id: Option<u64>,
    /// An ERROR event or a panic happened in it (or, an invocation's, it
    /// failed: a non-zero exit status).
    pub error: bool,
    /// The root first, then the others in the order they started.
    pub spans: Vec<TraceSpan>,
    /// Spans and events left out past [`MAX_SPANS`] and [`MAX_EVENTS`].
    #[serde(default)]
    pub left_out: u64,
}

/// A trace keeps at most this many spans and events: a request that loops
/// over a span or an event a million times still makes a readable trace.
pub const MAX_SPANS: usize = 2000;
/// See [`MAX_SPANS`].
pub const MAX_EVENTS: usize = 2000;

/// A span of a trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceSpan {
    /// The span's id in the ring (unique within a ring file).
    pub id: u32,
    /// The parent's id, 0 for the root.
    pub parent: u32,
    pub name: String,
    pub target: String,
    /// The process that recorded it (the thread's own id when no process
    /// start record names it) and its thread.
    pub pid: u32,
    pub thread: u32,
    pub start_ns: u64,
    /// `None` when its close record never came (a killed process, a lap).
    pub end_ns: Option<u64>,
    pub fields: Vec<Field>,
    pub events: Vec<TraceEvent>,
}

/// An event inside a span.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceEvent {
    pub time_ns: u64,
    pub level: String,
    pub target: String,
    pub thread: u32,
    /// Its fields, `message` last.
    pub fields: Vec<Field>,
}

impl TraceEvent {
    /// Its message, if it has one.
    pub fn message(&self) -> Option<&FieldValue> {
        split_message(&self.fields).0
    }

    /// The fields other than the message.
    pub fn other_fields(&self) -> &[Field] {
        split_message(&self.fields).1
    }

    /// ERROR, or a panic.
    pub fn is_error(&self) -> bool {
        self.level == "ERROR"
    }
}

impl Trace {
    /// The id of the trace whose root span `span` started at `start_ns`
    /// in process `pid`.
    pub fn id_for(span: u32, start_ns: u64, pid: u32) -> u128 {
        let hi = mix(start_ns ^ u64::from(pid).rotate_left(32));
        let lo = mix(hi ^ u64::from(span));
        (u128::from(hi) << 64) | u128::from(lo)
    }

    /// The trace id as 32 hex digits (W3C trace context, OTLP).
    pub fn id_hex(&self) -> String {
        format!("{:032x}", self.id)
    }

    /// The 64-bit id of one of its spans, as 16 hex digits: unique across
    /// traces, unlike the ring's span ids, which repeat in a new ring.
    pub fn span_id_hex(&self, span: u32) -> String {
        format!("{:016x}", mix(self.id as u64 ^ u64::from(span)) | 1)
    }

    pub fn root(&self) -> &TraceSpan {
        &self.spans[0]
    }

    /// The root's duration, `None` when it never closed.
    pub fn duration_ns(&self) -> Option<u64> {
        self.root().duration_ns()
    }

    /// Some span never closed.
    pub fn unfinished(&self) -> bool {
        self.spans.iter().any(|s| s.end_ns.is_none())
    }

    /// The newest time recorded in it: where an unfinished span is last
    /// known to have been alive.
    pub fn last_seen_ns(&self) -> u64 {
        self.spans
            .iter()
            .flat_map(|s| {
                [s.start_ns, s.end_ns.unwrap_or(0)]
                    .into_iter()
                    .chain(s.events.iter().map(|e| e.time_ns))
            })
            .max()
            .unwrap_or(0)
    }

    /// Where the span at `i` ends, or the last time it was seen alive.
    pub fn end_or_last_ns(&self, i: usize) -> u64 {
        self.spans[i].end_ns.unwrap_or_else(|| self.last_seen_ns())
    }

    /// The indexes of the children of the span at `i`, in start order.
    pub fn children(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let id = self.spans[i].id;
        (0..self.spans.len()).filter(move |&j| j != i && self.spans[j].parent == id)
    }

    /// Time in the span at `i` not spent in its children.
    pub fn self_ns(&self, i: usize) -> u64 {
        let last = self.last_seen_ns();
        let length = |j: usize| {
            let s = &self.spans[j];
            s.end_ns.unwrap_or(last).saturating_sub(s.start_ns)
        };
        let children = self
            .children(i)
            .fold(0u64, |sum, c| sum.saturating_add(length(c)));
        length(i).saturating_sub(children)
    }

    /// Whether the spans form one tree, within the caps: the root first
    /// with no parent, ids unique, every other span's parent before it.
    /// Assembly builds only such traces; a stored one that is not (a
    /// damaged or foreign store) is refused before anything walks it.
    pub fn check(&self) -> std::result::Result<(), String> {
        let events: usize = self.spans.iter().map(|s| s.events.len()).sum();
        if self.spans.is_empty() || self.spans.len() > MAX_SPANS || events > MAX_EVENTS {
            return Err(format!(
                "{} spans and {events} events, not 1 to {MAX_SPANS} and at most {MAX_EVENTS}",
                self.spans.len()
            ));
        }
        let mut seen = std::collections::HashSet::with_capacity(self.spans.len());
        for (i, s) in self.spans.iter().enumerate() {
            let parent_ok = match i {
                0 => s.parent == 0,
                _ => s.parent != 0 && seen.contains(&s.parent),
            };
            if s.id == 0 || !parent_ok || !seen.insert(s.id) {
                return Err(format!(
                    "span {} of {} is not in its tree",
                    i,
                    self.spans.len()
                ));
            }
        }
        Ok(())
    }

    /// The span (not the root) with the most self time, and its share of
    /// the whole request: where the time went.
    pub fn bottleneck(&self) -> Option<(usize, f64)> {
        let total = self.end_or_last_ns(0).saturating_sub(self.root().start_ns);
        if total == 0 {
            return None;
        }
        (1..self.spans.len())
            .map(|i| (i, self.self_ns(i)))
            .max_by_key(|&(i, ns)| (ns, std::cmp::Reverse(i)))
            .map(|(i, ns)| (i, ns as f64 / total as f64))
    }

    /// The spans from the root down, each with its depth.
    pub fn walk(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::with_capacity(self.spans.len());
        let mut stack = vec![(0, 0)];
        while let Some((i, depth)) = stack.pop() {
            out.push((i, depth));
            let children: Vec<usize> = self.children(i).collect();
            stack.extend(children.into_iter().rev().map(|c| (c, depth + 1)));
        }
        out
    }

    /// The trace as one JSON object: its spans nested as a tree.
    pub fn to_json(&self, kept: Option<Kept>) -> Value {
        let mut obj = Map::new();
        obj.insert("trace_id".into(), self.id_hex().into());
        obj.insert("request_id".into(), json!(self.request_id));
        obj.insert("start".into(), time::rfc3339(self.root().start_ns).into());
        obj.insert("duration_ms".into(), json!(self.duration_ns().map(ms)));
        obj.insert("error".into(), self.error.into());
        obj.insert("unfinished".into(), self.unfinished().into());
        obj.insert("left_out".into(), self.left_out.into());
        if let Some(k) = kept {
            obj.insert("kept".into(), k.name().into());
        }
        obj.insert(
            "bottleneck".into(),
            match self.bottleneck() {
                Some((i, share)) => json!({"span": self.spans[i].name, "share": share}),
                None => Value::Null,
            },
        );
        obj.insert("root".into(), self.span_json(0));
        Value::Object(obj)
    }

    fn span_json(&self, i: usize) -> Value {
        let s = &self.spans[i];
        json!({
            "name": s.name,
            "target": s.target,
            "pid": s.pid,
            "thread": s.thread,
            "start": time::rfc3339(s.start_ns),
            "offset_ms": ms(s.start_ns.saturating_sub(self.root().start_ns)),
            "duration_ms": s.duration_ns().map(ms),
            "self_ms": ms(self.self_ns(i)),
            "unfinished": s.end_ns.is_none(),
            "fields": fields_json(&s.fields),
            "events": s.events.iter().map(|e| json!({
                "time": time::rfc3339(e.time_ns),
                "level": e.level,
                "target": e.target,
                "message": e.message().map(value_json),
                "fields": fields_json(e.other_fields()),
            })).collect::<Vec<_>>(),
            "children": self.children(i).map(|c| self.span_json(c)).collect::<Vec<_>>(),
        })
    }

    /// The trace as caro's design draws it: one line per span with its
    /// duration, its fields and, on the bottleneck, its share of the
    /// request; under each span its events and child spans, in the order
    /// they happened.
    pub fn write_text(&self, out: &mut dyn Write, kept: Option<Kept>) -> io::Result<()> {
        let mut head = format!(
            "trace {} at {}",
            self.id_hex(),
            time::human(self.root().start_ns)
        );
        if let Some(id) = self.request_id {
            head += &format!(", request {id}");
        }
        if self.error {
            head += ", failed";
        }
        if self.unfinished() {
            head += ", unfinished";
        }
        if self.left_out > 0 {
            head += &format!(", {} spans and events left out", self.left_out);
        }
        if let Some(k) = kept {
            head += &format!(" (kept: {})", k.name());
        }
        writeln!(out, "{head}")?;
        let bottleneck = self.bottleneck().filter(|&(_, share)| share > 0.0);
        writeln!(out, "  {}", self.span_line(0, bottleneck))?;
        // Depth first, without recursion: a trace may nest MAX_SPANS deep.
        // Each entry: a span, the prefix of the lines under it, and how
        // many of its items are drawn.
        let mut stack = vec![(0, "  ".to_owned(), self.items(0), 0)];
        while let Some((_, lead, items, next)) = stack.last_mut() {
            let Some(&item) = items.get(*next) else {
                stack.pop();
                continue;
            };
            *next += 1;
            let more = *next < items.len();
            let lead = lead.clone();
            // Events hang from their span as its child spans do, so that
            // one after a child's subtree is not read as the child's.
            let branch = if more { "├─ " } else { "└─ " };
            match item {
                Item::Event(i, e) => {
                    let e = &self.spans[i].events[e];
                    writeln!(out, "{lead}{branch}{}", self.event_line(i, e))?;
                }
                Item::Span(c) => {
                    writeln!(out, "{lead}{branch}{}", self.span_line(c, bottleneck))?;
                    let under = format!("{lead}{}", if more { "│   " } else { "    " });
                    stack.push((c, under, self.items(c), 0));
                }
            }
        }
        Ok(())
    }

    /// The events and child spans of the span at `i`, in time order (an
    /// event before a span that starts at the same time).
    fn items(&self, i: usize) -> Vec<Item> {
        let mut items: Vec<(u64, Item)> = (0..self.spans[i].events.len())
            .map(|e| (self.spans[i].events[e].time_ns, Item::Event(i, e)))
            .chain(
                self.children(i)
                    .map(|c| (self.spans[c].start_ns, Item::Span(c))),
            )
            .collect();
        // Stable: events keep their order, children theirs.
        items.sort_by_key(|&(t, item)| (t, matches!(item, Item::Span(_))));
        items.into_iter().map(|(_, item)| item).collect()
    }

    /// The line of the span at `i`: name, duration, fields, and its share
    /// of the request when it is the `bottleneck`.
    fn span_line(&self, i: usize, bottleneck: Option<(usize, f64)>) -> String {
        let s = &self.spans[i];
        let mut line = s.name.clone();
        line += &match s.duration_ns() {
            Some(d) => format!(" [{}]", duration(ms(d))),
            None => format!(
                " [unfinished, ≥ {}]",
                duration(ms(self.end_or_last_ns(i).saturating_sub(s.start_ns)))
            ),
        };
        let shown: Vec<String> = s
            .fields
            .iter()
            .map(|(k, v)| format!("{k}={}", text(v)))
            .collect();
        if !shown.is_empty() {
            line += "  ";
            line += &shown.join(" ");
        }
        if let Some((b, share)) = bottleneck {
            if b == i {
                let self_ns = self.self_ns(i);
                let length = self.end_or_last_ns(i).saturating_sub(s.start_ns);
                line += &if self_ns >= length {
                    // All its time is its own: the share is of its duration.
                    format!("  ← {:.0} % of the request", share * 100.0)
                } else {
                    format!(
                        "  ← self time {}, {:.0} % of the request",
                        duration(ms(self_ns)),
                        share * 100.0
                    )
                };
            }
        }
        line
    }

    /// The line of event `e` of the span at `i`: when (from the span's
    /// start), level, message and fields.
    fn event_line(&self, i: usize, e: &TraceEvent) -> String {
        let mark = if e.is_error() { "✗" } else { "·" };
        let mut line = format!(
            "{mark} +{} {}",
            duration(ms(e.time_ns.saturating_sub(self.spans[i].start_ns))),
            e.level
        );
        if let Some(m) = e.message() {
            line += &format!(" {}", text(m));
        }
        for (k, v) in e.other_fields() {
            line += &format!(" {k}={}", text(v));
        }
        line
    }
}

/// What is drawn under a span: one of its events (span index, event
/// index) or a child span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    Event(usize, usize),
    Span(usize),
}

/// A trace id as `traces ID` takes it: 32 hex digits, or the first 16 of
/// them; returned in lowercase, as [`Trace::id_hex`] writes ids.
pub fn parse_id(id: &str) -> Result<String> {
    let id = id.trim().to_ascii_lowercase();
    if matches!(id.len(), 16 | 32) && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id)
    } else {
        Err(Error::BadSetting {
            name: "the trace id".to_owned(),
            value: id,
            expected: "32 hex digits (as the exports write it) or its first 16".to_owned(),
        })
    }
}

impl TraceSpan {
    pub fn duration_ns(&self) -> Option<u64> {
        self.end_ns.map(|e| e.saturating_sub(self.start_ns))
    }
}

/// Why the store kept a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kept {
    /// An error or a panic happened in it.
    Error,
    /// Slower than the policy's threshold.
    Slow,
    /// A span of it never closed (its process was killed, or the ring
    /// lapped it).
    Unfinished,
    /// Among the first traces of its day.
    FirstOfDay,
    /// Chosen by the hash of its id, at the policy's rate.
    Sampled,
}

impl Kept {
    pub fn name(self) -> &'static str {
        match self {
            Kept::Error => "error",
            Kept::Slow => "slow",
            Kept::Unfinished => "unfinished",
            Kept::FirstOfDay => "first_of_day",
            Kept::Sampled => "sampled",
        }
    }

    pub fn from_name(name: &str) -> Option<Kept> {
        [
            Kept::Error,
            Kept::Slow,
            Kept::Unfinished,
            Kept::FirstOfDay,
            Kept::Sampled,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// Which complete traces the store keeps: caro's policy by default
/// (every error, every trace slower than 1 s, the first 1,000 of each day,
/// 10 % of the rest), set by `CARO_TRACE_SLOW_MS`,
/// `CARO_TRACE_FIRST_PER_DAY` and `CARO_TRACE_SAMPLE_RATE`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplingPolicy {
    pub slow_ns: u64,
    pub first_per_day: u64,
    /// The share of the rest kept, 0 to 1.
    pub rate: f64,
}

impl Default for SamplingPolicy {
    fn default() -> Self {
        SamplingPolicy {
            slow_ns: 1_000_000_000,
            first_per_day: 1000,
            rate: 0.1,
        }
    }
}

impl SamplingPolicy {
    /// The policy the environment sets, caro's default where it is silent.
    pub fn from_env() -> Result<SamplingPolicy> {
        let mut p = SamplingPolicy::default();
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let bad = |name: &str, value: String, expected: &str| Error::BadSetting {
            name: name.to_owned(),
            value,
            expected: expected.to_owned(),
        };
        if let Some(v) = var("CARO_TRACE_SLOW_MS") {
            let ms: u64 = v
                .parse()
                .map_err(|_| bad("CARO_TRACE_SLOW_MS", v, "milliseconds"))?;
            p.slow_ns = ms.saturating_mul(1_000_000);
        }
        if let Some(v) = var("CARO_TRACE_FIRST_PER_DAY") {
            p.first_per_day = v
                .parse()
                .map_err(|_| bad("CARO_TRACE_FIRST_PER_DAY", v, "a count"))?;
        }
        if let Some(v) = var("CARO_TRACE_SAMPLE_RATE") {
            p.rate = v
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| bad("CARO_TRACE_SAMPLE_RATE", v, "a share from 0 to 1"))?;
        }
        Ok(p)
    }

    /// Whether to keep `trace`, the `nth_of_day` trace (from 0) of its day.
    pub fn decide(&self, trace: &Trace, nth_of_day: u64) -> Option<Kept> {
        if trace.error {
            Some(Kept::Error)
        } else if trace.unfinished() {
            Some(Kept::Unfinished)
        } else if trace.duration_ns().unwrap_or(0) > self.slow_ns {
            Some(Kept::Slow)
        } else if nth_of_day < self.first_per_day {
            Some(Kept::FirstOfDay)
        } else if self.sampled(trace.id) {
            Some(Kept::Sampled)
        } else {
            None
        }
    }
}

impl SamplingPolicy {
    /// The rate's share of ids, chosen by hash: the same trace is chosen
    /// the same way by every ingest.
    fn sampled(&self, id: u128) -> bool {
        let draw = mix(id as u64 ^ (id >> 64) as u64) % 1_000_000;
        (draw as f64) < self.rate * 1_000_000.0
    }
}

/// splitmix64's finaliser: a stable, well-spread hash of a u64, so that
/// trace ids and sampling choices are the same on every run and machine.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// A value as text: strings as they are, the rest as JSON writes them.
pub(crate) fn text(v: &FieldValue) -> String {
    match v {
        FieldValue::Str(s) => s.clone(),
        other => value_json(other).to_string(),
    }
}

fn value_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::U64(x) => (*x).into(),
        FieldValue::I64(x) => (*x).into(),
        FieldValue::F64(x) => json!(x),
        FieldValue::Bool(x) => (*x).into(),
        FieldValue::Str(x) => x.clone().into(),
    }
}

/// Fields as a JSON object.
pub fn fields_json(fields: &[Field]) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|(k, v)| (k.clone(), value_json(v)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: u32, parent: u32, name: &str, start: u64, end: Option<u64>) -> TraceSpan {
        TraceSpan {
            id,
            parent,
            name: name.into(),
            target: "caro".into(),
            pid: 7,
            thread: 7,
            start_ns: start,
            end_ns: end,
            fields: vec![],
            events: vec![],
        }
    }

    fn request() -> Trace {
        let ms = 1_000_000;
        Trace {
            id: Trace::id_for(1, 0, 7),
            request_id: Some(3),
            error: false,
            left_out: 0,
            spans: vec![
                span(1, 0, "process_query", 0, Some(2500 * ms)),
                span(2, 1, "select_backend", 0, Some(100 * ms)),
                span(3, 1, "generate_command", 100 * ms, Some(2300 * ms)),
                span(4, 3, "load_model", 100 * ms, Some(1900 * ms)),
                span(5, 3, "inference", 1900 * ms, None),
            ],
        }
    }

    #[test]
    fn self_time_and_bottleneck() {
        let t = request();
        assert_eq!(t.self_ns(0), 200_000_000);
        assert_eq!(t.self_ns(4), 600_000_000, "unfinished: up to the last seen");
        let (i, share) = t.bottleneck().unwrap();
        assert_eq!(t.spans[i].name, "load_model");
        assert!((share - 0.72).abs() < 1e-9);
        assert_eq!(
            t.walk(),
            vec![(0, 0), (1, 1), (2, 1), (3, 2), (4, 2)],
            "depth first, children in start order"
        );
    }

    #[test]
    fn text_draws_the_tree() {
        let mut out = Vec::new();
        request().write_text(&mut out, Some(Kept::Slow)).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(
            lines,
            [
                "  process_query [2.50 s]",
                "  ├─ select_backend [100.0 ms]",
                "  └─ generate_command [2.20 s]",
                "      ├─ load_model [1.80 s]  ← 72 % of the request",
                "      └─ inference [unfinished, ≥ 600.0 ms]",
            ]
        );
        let id = text.split(' ').nth(1).unwrap();
        assert_eq!(id, request().id_hex(), "the id the exports use");
        assert!(text.lines().next().unwrap().ends_with("(kept: slow)"));
    }

    #[test]
    fn events_and_child_spans_are_drawn_in_the_order_they_happened() {
        let ms = 1_000_000;
        let event = |t: u64, message: &str| TraceEvent {
            time_ns: t,
            level: "INFO".into(),
            target: "caro".into(),
            thread: 7,
            fields: vec![("message".into(), FieldValue::Str(message.into()))],
        };
        let mut t = request();
        t.spans[0].events = vec![event(0, "start"), event(2400 * ms, "done")];
        t.spans[2].events = vec![event(1950 * ms, "tokens")];
        // A parent whose own work outweighs its children's: its self time
        // is named apart from its share of the request.
        t.spans[3].end_ns = Some(500 * ms);
        let mut out = Vec::new();
        t.write_text(&mut out, None).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(
            lines,
            [
                "  process_query [2.50 s]",
                "  ├─ · +0.00 ms INFO start",
                "  ├─ select_backend [100.0 ms]",
                "  ├─ generate_command [2.20 s]  ← self time 1.20 s, 48 % of the request",
                "  │   ├─ load_model [400.0 ms]",
                "  │   ├─ inference [unfinished, ≥ 600.0 ms]",
                "  │   └─ · +1.85 s INFO tokens",
                "  └─ · +2.40 s INFO done",
            ]
        );
    }

    #[test]
    fn ids_are_taken_whole_or_by_their_first_16_digits() {
        let id = request().id_hex();
        assert_eq!(parse_id(&id.to_uppercase()).unwrap(), id);
        assert_eq!(parse_id(&id[..16]).unwrap(), id[..16]);
        for bad in ["", "xyz", &id[..15], &format!("{id}0")] {
            assert!(parse_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_one_tree_within_the_caps_passes_the_check() {
        assert_eq!(request().check(), Ok(()));
        let broken = |f: fn(&mut Trace)| {
            let mut t = request();
            f(&mut t);
            t.check().unwrap_err()
        };
        // A cycle would make every walk of the tree endless.
        broken(|t| t.spans[0].parent = 5);
        broken(|t| t.spans[3].parent = 5);
        broken(|t| t.spans[2].id = 2);
        broken(|t| t.spans[1].id = 0);
        broken(|t| t.spans.clear());
        broken(|t| {
            let child = t.spans[1].clone();
            t.spans.extend((0..MAX_SPANS as u32).map(|i| TraceSpan {
                id: 100 + i,
                ..child.clone()
            }));
        });
    }

    #[test]
    fn the_policy_keeps_errors_slow_first_and_a_share() {
        let p = SamplingPolicy::default();
        let mut t = request();
        assert_eq!(p.decide(&t, 5000), Some(Kept::Unfinished));
        t.spans[4].end_ns = Some(2300 * 1_000_000);
        assert_eq!(p.decide(&t, 5000), Some(Kept::Slow));
        t.error = true;
        assert_eq!(p.decide(&t, 5000), Some(Kept::Error));
        let fast = |id: u32| Trace {
            id: Trace::id_for(id, u64::from(id) * 1000, 9),
            request_id: None,
            error: false,
            left_out: 0,
            spans: vec![span(id, 0, "process_query", 0, Some(1000))],
        };
        assert_eq!(p.decide(&fast(1), 999), Some(Kept::FirstOfDay));
        let kept = (1..=20_000)
            .filter(|&id| p.decide(&fast(id), 1000).is_some())
            .count();
        assert!((1800..2200).contains(&kept), "{kept} of 20000 kept at 10 %");
        assert_eq!(
            (1..=100)
                .map(|id| p.decide(&fast(id), 1000))
                .collect::<Vec<_>>(),
            (1..=100)
                .map(|id| p.decide(&fast(id), 1000))
                .collect::<Vec<_>>(),
            "deterministic"
        );
    }
}

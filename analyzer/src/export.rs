//! `caro-analyze export --format F`: the store's data in the formats the
//! tools people already use read.
//!
//! - `chrome`: Chrome trace-event JSON (Perfetto, chrome://tracing): every
//!   span a complete (`X`) event, every event an instant (`i`) on its
//!   thread, one track per process and thread, named by metadata events.
//! - `folded`: folded stacks (`process_query;generate_command;load_model
//!   1800000`) weighted by self time in microseconds, summed over the
//!   traces, for inferno or flamegraph.pl.
//! - `prometheus`: caro's metrics in the Prometheus text format (0.0.4,
//!   what `promtool check metrics` reads); `serve` gives OpenMetrics to
//!   scrapers that ask for it.
//! - `otlp`: OTLP/JSON, one `ExportTraceServiceRequest` line then one
//!   `ExportMetricsServiceRequest` line (what a collector's `otlpjsonfile`
//!   receiver reads), or POSTed to a collector with `--endpoint`.
//! - `jsonl`: the scrubbed log lines of telemetry.log and its archives.
//!
//! Traces are those the store kept ([`SamplingPolicy`](crate::trace::SamplingPolicy)):
//! the requests' span trees, and the invocations that served no request
//! as one `invocation` span each; everything is scrubbed before it was
//! stored. The store keeps per-request self times by span name but no
//! call stacks, so a flame graph can only be drawn from the kept traces:
//! `--help` and the line on stderr say so, since tail sampling keeps every
//! slow and failed request and only a share of the rest.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::event::FieldValue;
use crate::ingest::{log_archives, DataPaths};
use crate::metrics::Snapshot;
use crate::store::{read_traces, Store, TraceQuery};
use crate::trace::{fields_json, Trace};
use crate::{exposition, otlp, time};

/// The formats `export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Chrome,
    Folded,
    Prometheus,
    Otlp,
    Jsonl,
}

/// What `export` is asked for.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    pub format: ExportFormat,
    /// Only what happened from this time on.
    pub since_ns: Option<u64>,
    /// POST OTLP to this collector instead of writing it.
    pub endpoint: Option<String>,
}

/// Writes the export to `out` (or posts it); returns what it holds, for
/// the line `export` prints on stderr.
pub fn run(
    store: &Store,
    paths: &DataPaths,
    opts: &ExportOptions,
    now_ns: u64,
    out: &mut dyn Write,
) -> Result<String> {
    let traces = || -> Result<Vec<Trace>> {
        let q = TraceQuery {
            since_ns: opts.since_ns,
            ..TraceQuery::default()
        };
        Ok(read_traces(store, &q)?
            .into_iter()
            .map(|(t, _)| t)
            .collect())
    };
    let version = store.meta(crate::ingest::CARO_VERSION)?;
    match opts.format {
        ExportFormat::Chrome => {
            let traces = traces()?;
            write_chrome(&traces, out)?;
            Ok(kept_traces(traces.len()))
        }
        ExportFormat::Folded => {
            let traces = traces()?;
            write_folded(&traces, out)?;
            Ok(kept_traces(traces.len()))
        }
        ExportFormat::Prometheus => {
            out.write_all(exposition::render(&Snapshot::build(store, now_ns)?).as_bytes())?;
            Ok("caro's metrics".to_owned())
        }
        ExportFormat::Otlp => {
            let traces = traces()?;
            let t = otlp::traces_request(&traces, version.as_deref());
            let m = otlp::metrics_request(&Snapshot::build(store, now_ns)?, version.as_deref());
            match &opts.endpoint {
                Some(url) => {
                    otlp::post(url, &t, &m)?;
                    Ok(format!(
                        "{} and caro's metrics sent to {url}",
                        kept_traces(traces.len())
                    ))
                }
                None => {
                    for request in [&t, &m] {
                        serde_json::to_writer(&mut *out, request).map_err(io::Error::from)?;
                        writeln!(out)?;
                    }
                    Ok(format!("{} and caro's metrics", kept_traces(traces.len())))
                }
            }
        }
        ExportFormat::Jsonl => {
            let n = write_jsonl(paths, opts.since_ns, out)?;
            Ok(format!("{n} log lines"))
        }
    }
}

/// What the stderr line says of `n` exported traces.
fn kept_traces(n: usize) -> String {
    format!("{n} kept traces")
}

/// The line on stderr after an export of traces: which ones they are.
pub const KEPT_TRACES_NOTE: &str = "the traces are those the store kept: every failed, slow \
    or unfinished request and a sample of the rest, so slow and failed requests weigh more \
    than they did (see `caro-analyze export --help`)";

impl ExportFormat {
    /// Whether it holds traces (the ones the store kept).
    pub fn holds_traces(self) -> bool {
        matches!(
            self,
            ExportFormat::Chrome | ExportFormat::Folded | ExportFormat::Otlp
        )
    }
}

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

/// Folded stacks of `traces`, weighted by self time in microseconds.
pub fn write_folded(traces: &[Trace], out: &mut dyn Write) -> io::Result<()> {
    let mut stacks: BTreeMap<String, u64> = BTreeMap::new();
    for t in traces {
        let mut path: Vec<String> = Vec::new();
        for (i, depth) in t.walk() {
            path.truncate(depth);
            // A frame separator or a space in a name would split it.
            path.push(t.spans[i].name.replace([';', ' ', '\n'], "_"));
            let us = stacks.entry(path.join(";")).or_default();
            *us = us.saturating_add(t.self_ns(i) / 1000);
        }
    }
    for (stack, us) in stacks {
        if us > 0 {
            writeln!(out, "{stack} {us}")?;
        }
    }
    Ok(())
}

/// The longest telemetry.log line read: its lines are a few hundred bytes.
const MAX_LINE: u64 = 1 << 20;

/// The scrubbed log lines from `since_ns` on, oldest first: the archived
/// days of telemetry.log, then the current one. Returns how many.
pub fn write_jsonl(paths: &DataPaths, since_ns: Option<u64>, out: &mut dyn Write) -> Result<u64> {
    let since = since_ns.unwrap_or(0);
    let mut sources: Vec<(std::path::PathBuf, Box<dyn Read>)> = Vec::new();
    for (day, path) in log_archives(paths) {
        if (day + 1) * time::DAY_NS as i64 <= since as i64 {
            continue;
        }
        let f = crate::files::open_read(&path)?;
        let decoder = zstd::stream::Decoder::new(f).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        sources.push((path, Box::new(decoder)));
    }
    match crate::files::open_read(&paths.log) {
        Ok(f) => sources.push((paths.log.clone(), Box::new(f))),
        Err(Error::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    let mut n = 0;
    let mut buf = Vec::new();
    for (path, source) in sources {
        let read_error = |source| Error::Read {
            path: path.clone(),
            source,
        };
        let mut reader = BufReader::new(source);
        loop {
            // Lines are read to a bound: an archive is decompressed as it
            // is read, and one without line ends must not fill memory.
            buf.clear();
            let got = (&mut reader)
                .take(MAX_LINE + 1)
                .read_until(b'\n', &mut buf)
                .map_err(read_error)?;
            if got == 0 {
                break;
            }
            if buf.len() as u64 > MAX_LINE {
                return Err(read_error(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a line longer than 1 MiB: not a telemetry log",
                )));
            }
            let Ok(line) = std::str::from_utf8(&buf) else {
                continue;
            };
            let line = line.trim_end_matches('\n');
            let time = serde_json::from_str::<Value>(line)
                .ok()
                .and_then(|v| v["timestamp"].as_str().and_then(time::parse_rfc3339));
            if time.is_some_and(|t| t >= since) {
                writeln!(out, "{line}")?;
                n += 1;
            }
        }
    }
    Ok(n)
}

/// `--since`: an RFC 3339 time, a day (`2026-01-15`, from its start, UTC),
/// or a duration back from now (`2d`, `12h`).
pub fn parse_since(s: &str, now_ns: u64) -> Result<u64> {
    if let Some(t) = time::parse_rfc3339(s) {
        return Ok(t);
    }
    // A day alone (`2026-01-15`) is its start, UTC, as the report's days are.
    if let Some(day) = time::parse_day_name(s) {
        return Ok(u64::try_from(day).unwrap_or(0) * time::DAY_NS);
    }
    humantime::parse_duration(s)
        .map(|d| now_ns.saturating_sub(d.as_nanos().min(u128::from(u64::MAX)) as u64))
        .map_err(|_| Error::BadSetting {
            name: "--since".to_owned(),
            value: s.to_owned(),
            expected: "an RFC 3339 time, a day (2026-01-15) or a duration such as 2d or 12h"
                .to_owned(),
        })
}

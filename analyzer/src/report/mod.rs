//! `caro-analyze report`: what caro did over the last days, how fast, what
//! failed, and where the time went, from the store alone.
//!
//! The window is the last `--days` UTC days, today included. Latencies
//! come from the merged day histograms (HdrHistogram, 3 significant
//! digits: a percentile is within 0.1 % of the recorded value), counts
//! from the `events` and `invocations` rows.
//!
//! A request is a root span; `--request-span NAME` (repeatable) counts
//! only the root spans of those names (the requests' counts, backends,
//! errors, safety blocks and bottleneck; spans are every span's). An
//! invocation is one run of the host's process, spans or none: a host
//! that records no span (one request per process, as caro) is reported
//! by its invocations.
//!
//! `--json` prints one object whose top-level keys are stable:
//!
//! | key | value |
//! |---|---|
//! | `window_days` | the window, in days |
//! | `requests` | requests finished in the window |
//! | `success_rate` | share of them that produced a command, 0 to 1 (`null` without requests) |
//! | `backends` | backend → `count`, `share` (0 to 1), `p50_ms`, `p95_ms`, `p99_ms`, `max_ms` of its requests |
//! | `spans` | span name → `count`, `p50_ms`, `p95_ms`, `p99_ms`, `max_ms`, `total_ms` (the time of all of them), `self_ms` (that time less their direct children's, over finished requests) |
//! | `span_backends` | span name → backend of its request → the same five figures |
//! | `errors` | error category → requests that failed with it |
//! | `safety_blocks` | risk level → requests blocked at it |
//! | `slow_requests` | requests that took more than a second |
//! | `panicked_requests` | requests that ended in a panic (with the successful ones, `errors` and `safety_blocks`, they add up to `requests`) |
//! | `panics` | panics recorded |
//! | `panic_locations` | `file:line` in the program's source → panics there |
//! | `processes` | `count`, `cpu_user_s`, `cpu_system_s`, `peak_rss_max_kib`, `open_fds_max` of the processes that exited |
//! | `bottleneck` | `null`, or `span`, `of` (the request span), `share` (0 to 1) and `text`: the span with the largest share of self time in the slowest 5 % of requests |
//! | `counters` | counter metric (`counter.*`, `monotonic_counter.*` fields) → sum |
//! | `gauges` | gauge metric (`gauge.*`) → its last value |
//! | `histograms` | histogram metric (`histogram.*`) → `count`, `p50`, `p95`, `p99`, `max`, in the metric's own unit |
//! | `levels` | level → events recorded |
//! | `invocations` | the processes that ended in the window: `count`; `outcomes` → `ok` (exit status 0, or none and no ERROR event), `failed` (a non-zero status, or none and an ERROR event), `panicked`, `unfinished` (killed: no exit); `exit_statuses` (status → count, of those that recorded one); `p50_ms`, `p95_ms`, `p99_ms`, `max_ms` of their durations, start to exit (`null` without invocations); `slowest` (the 5 slowest: `start` RFC 3339, `duration_ms`, `outcome`, `status` or `null`, `warnings`, `errors`, `version` or `null`); `by_callsite` (the 10 WARN and ERROR callsites with the most events: `level`, `target`, `message` — program text, each run-time argument `{}` —, `count`, `invocations` they occurred in, counted once a day); `versions` (host version → count) |
//! | `recorder` | `written` (records), `lost` (slots lost to laps before an ingest), `abandoned` (slots of killed writers), `dropped` (records the recorder could not write), `unfinished` (spans never closed), `corrupt` (slots that could not be read: damaged, or of a newer format), `cpu_share` (estimated share of the processes' CPU time spent recording, or `null`) |

//!
//! - this module: the [`Report`] built from the store, and its JSON;
//! - [`invocations`]: the process runs' section;
//! - [`text`]: the report for a person, and the small formats it uses;
//! - [`layout`]: the terminal's width and tables that fit it;
//! - [`status`]: what `status` shows of a ring and the store.
//!
//! The report reads the store (and, for `status`, the ring) and uses the
//! assembly's names; the exports above it may use its figures.

pub mod invocations;
pub mod layout;
pub mod status;
pub mod text;

pub use invocations::{CallsiteFigures, InvocationFigures, Invocations};
pub use text::{bucket_labels, bytes, color_wanted, sparkline, thousands};

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use rusqlite::params;
use serde_json::{json, Map, Value};

use crate::assemble::{HistKind, SLOW_REQUEST_NS};
use crate::error::Result;
use crate::store::{classify, merged_histograms, RecorderCounts, Store};
use crate::time::{self, DAY_NS};

/// What recording one record costs the host, on average, as the criterion
/// benchmarks measure it (an event about 50 ns, a span's four records
/// about 130 ns): the basis of the recorder's estimated CPU share.
pub const RECORD_COST_NS: u64 = 50;

/// The share of the slowest requests the bottleneck is found in.
pub const SLOWEST_SHARE: f64 = 0.05;

/// The slowest invocations the report lists.
pub const SLOWEST_INVOCATIONS: usize = 5;

/// The callsites with the most warnings and errors the report lists.
pub const TOP_CALLSITES: usize = 10;

/// Latency percentiles, in milliseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The sum of every value, within the histogram's precision.
    pub total_ms: f64,
    /// Counts in [`BUCKETS_MS`] (the last is everything above).
    pub buckets: Vec<u64>,
}

/// The heading of the distribution's column, one bar per bucket of
/// [`BUCKETS_MS`], which the text report names below the table ([`text`]).
const HISTOGRAM: &str = "histogram";

/// Upper bounds of the distribution's buckets, caro's histogram buckets.
pub const BUCKETS_MS: [u64; 7] = [10, 50, 100, 500, 1000, 2000, 5000];

impl Latency {
    fn of(h: &Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        // One pass: each recorded value into the first bucket it is under.
        let mut buckets = vec![0; BUCKETS_MS.len() + 1];
        for v in h.iter_recorded() {
            let us = v.value_iterated_to();
            buckets[BUCKETS_MS.partition_point(|b| b * 1000 <= us)] +=
                v.count_since_last_iteration();
        }
        Latency {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            total_ms: h.mean() * h.len() as f64 / 1000.0,
            buckets,
        }
    }

    fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("count".into(), self.count.into());
        m.insert("p50_ms".into(), self.p50_ms.into());
        m.insert("p95_ms".into(), self.p95_ms.into());
        m.insert("p99_ms".into(), self.p99_ms.into());
        m.insert("max_ms".into(), self.max_ms.into());
        m
    }
}

/// The span that takes the most of the slowest requests.
#[derive(Clone, Debug, PartialEq)]
pub struct Bottleneck {
    pub span: String,
    pub of: String,
    pub share: f64,
}

impl Bottleneck {
    pub fn text(&self) -> String {
        format!(
            "{} is {:.0} % of {} at p95",
            self.span,
            self.share * 100.0,
            self.of
        )
    }
}

/// Resource use of the processes that exited in the window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Processes {
    pub count: u64,
    pub cpu_user_us: u64,
    pub cpu_system_us: u64,
    pub peak_rss_max_kib: u64,
    pub open_fds_max: u64,
}

/// The report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub window_days: u64,
    pub first_day: i64,
    /// The root span names that count as requests; empty: every one.
    pub request_spans: Vec<String>,
    pub requests: u64,
    pub succeeded: u64,
    pub backends: Vec<(String, Latency)>,
    pub spans: Vec<(String, Latency)>,
    /// Span name → its self time, over the finished requests.
    pub span_self_ms: BTreeMap<String, f64>,
    /// (span, backend) → latencies of the span in requests on that backend.
    pub span_backends: Vec<((String, String), Latency)>,
    pub errors: BTreeMap<String, u64>,
    pub safety_blocks: BTreeMap<String, u64>,
    pub slow_requests: u64,
    /// Requests that ended in a panic.
    pub panicked_requests: u64,
    pub panics: u64,
    pub panic_locations: BTreeMap<String, u64>,
    pub processes: Processes,
    pub bottleneck: Option<Bottleneck>,
    pub counters: BTreeMap<String, f64>,
    pub gauges: BTreeMap<String, f64>,
    /// Histogram metrics, recorded in millionths of their unit.
    pub histograms: Vec<(String, Latency)>,
    pub levels: BTreeMap<String, u64>,
    /// The recorder's own counts, added up over the window's ingests.
    pub recorder: RecorderCounts,
    /// Its estimated share of the processes' CPU time.
    pub recorder_cpu_share: Option<f64>,
    pub invocations: Invocations,
}

/// The condition on `events` rows that they are requests of the root
/// span names the JSON array parameter `?N` holds (NULL: every one).
fn is_request(n: u8) -> String {
    format!("(?{n} IS NULL OR root_span IN (SELECT value FROM json_each(?{n})))")
}

impl Report {
    /// The report over the `days` UTC days up to and including `now_ns`'s,
    /// every root span a request.
    pub fn build(store: &Store, days: u64, now_ns: u64) -> Result<Report> {
        Report::build_with(store, days, now_ns, &[])
    }

    /// The report over the `days` UTC days up to and including `now_ns`'s,
    /// the root spans named in `request_spans` the requests (empty: every
    /// root span).
    pub fn build_with(
        store: &Store,
        days: u64,
        now_ns: u64,
        request_spans: &[String],
    ) -> Result<Report> {
        let days = days.max(1);
        let first_day = time::day(now_ns) - (days as i64 - 1);
        let since_s = first_day * (DAY_NS / 1_000_000_000) as i64;
        let conn = store.conn();
        let err = |e| classify(&store.path, e);
        let mut r = Report {
            window_days: days,
            first_day,
            request_spans: request_spans.to_vec(),
            ..Report::default()
        };
        let spans = (!request_spans.is_empty()).then(|| json!(request_spans).to_string());
        (
            r.requests,
            r.succeeded,
            r.slow_requests,
            r.panicked_requests,
        ) = conn
            .query_row(
                &format!(
                    "SELECT count(*), coalesce(sum(success), 0), coalesce(sum(latency_ms > ?2), 0),
                        coalesce(sum(event_type = 'panic'), 0)
                     FROM events WHERE timestamp >= ?1 AND {}",
                    is_request(3)
                ),
                params![since_s, SLOW_REQUEST_NS as f64 / 1e6, spans],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .map_err(err)?;
        r.errors = grouped(
            store,
            &format!(
                "SELECT error_category, count(*) FROM events
                 WHERE timestamp >= ?1 AND event_type = 'command_failed' AND {} GROUP BY 1",
                is_request(2)
            ),
            params![since_s, spans],
        )?;
        r.safety_blocks = grouped(
            store,
            &format!(
                "SELECT risk_level, count(*) FROM events
                 WHERE timestamp >= ?1 AND event_type = 'command_blocked' AND {} GROUP BY 1",
                is_request(2)
            ),
            params![since_s, spans],
        )?;
        r.levels = grouped(
            store,
            "SELECT level, sum(count) FROM levels WHERE day >= ?1 GROUP BY 1",
            [first_day],
        )?;
        r.counters = grouped(
            store,
            "SELECT name, sum(value) FROM counters WHERE day >= ?1 GROUP BY 1",
            [first_day],
        )?;
        r.gauges = grouped(
            store,
            "SELECT name, value FROM gauges g WHERE day >= ?1
             AND time_ns = (SELECT max(time_ns) FROM gauges WHERE name = g.name AND day >= ?1)",
            [first_day],
        )?;
        r.histograms = merged_histograms(store, HistKind::Metric, first_day)?
            .into_iter()
            .map(|((name, _), h)| (name, Latency::of(&h)))
            .collect();
        r.panic_locations = grouped(
            store,
            "SELECT file || ':' || line, count(*) FROM panics WHERE timestamp >= ?1 GROUP BY 1",
            [since_s],
        )?;
        r.panics = conn
            .query_row(
                "SELECT count(*) FROM panics WHERE timestamp >= ?1",
                [since_s],
                |row| row.get(0),
            )
            .map_err(err)?;
        r.processes = conn
            .query_row(
                "SELECT count(*), coalesce(sum(cpu_user_us), 0), coalesce(sum(cpu_system_us), 0),
                        coalesce(max(peak_rss_kib), 0), coalesce(max(open_fds), 0)
                 FROM processes WHERE timestamp >= ?1",
                [since_s],
                |row| {
                    Ok(Processes {
                        count: row.get(0)?,
                        cpu_user_us: row.get(1)?,
                        cpu_system_us: row.get(2)?,
                        peak_rss_max_kib: row.get(3)?,
                        open_fds_max: row.get(4)?,
                    })
                },
            )
            .map_err(err)?;
        r.recorder = conn
            .query_row(
                "SELECT coalesce(sum(written), 0), coalesce(sum(lost), 0), coalesce(sum(abandoned), 0),
                        coalesce(sum(dropped), 0), coalesce(sum(unfinished), 0), coalesce(sum(corrupt), 0)
                 FROM recorder WHERE day >= ?1",
                [first_day],
                |row| {
                    Ok(RecorderCounts {
                        written: row.get(0)?,
                        lost: row.get(1)?,
                        abandoned: row.get(2)?,
                        dropped: row.get(3)?,
                        unfinished: row.get(4)?,
                        corrupt: row.get(5)?,
                    })
                },
            )
            .map_err(err)?;
        let cpu_us = r.processes.cpu_user_us + r.processes.cpu_system_us;
        if cpu_us > 0 {
            let share = (r.recorder.written * RECORD_COST_NS) as f64 / (cpu_us as f64 * 1000.0);
            r.recorder_cpu_share = Some(share.min(1.0));
        }

        // Requests by backend, across the request spans' names.
        let mut by_backend: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
        let mut roots: BTreeMap<String, u64> = BTreeMap::new();
        for ((root, backend), h) in merged_histograms(store, HistKind::Request, first_day)? {
            if !request_spans.is_empty() && !request_spans.contains(&root) {
                continue;
            }
            *roots.entry(root).or_default() += h.len();
            match by_backend.get_mut(&backend) {
                Some(acc) => {
                    let _ = acc.add(&h);
                }
                None => {
                    by_backend.insert(backend, h);
                }
            }
        }
        r.backends = by_backend
            .iter()
            .map(|(b, h)| (b.clone(), Latency::of(h)))
            .collect();
        r.backends
            .sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
        r.spans = merged_histograms(store, HistKind::Span, first_day)?
            .into_iter()
            .map(|((name, _), h)| (name, Latency::of(&h)))
            .collect();
        // Every span's, as the spans' histograms are (a store ingested
        // before self-time histograms has none: its self times read 0).
        r.span_self_ms = merged_histograms(store, HistKind::SpanSelf, first_day)?
            .into_iter()
            .map(|((name, _), h)| (name, Latency::of(&h).total_ms))
            .collect();
        r.span_backends = merged_histograms(store, HistKind::SpanBackend, first_day)?
            .into_iter()
            .map(|(key, h)| (key, Latency::of(&h)))
            .collect();
        let root = roots
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map(|(name, _)| name);
        if let Some(root) = root {
            r.bottleneck = bottleneck(store, since_s, r.requests, &root, spans.as_deref())?;
        }
        r.invocations = Invocations::build(store, first_day, since_s)?;
        Ok(r)
    }

    /// Success rate, 0 to 1.
    pub fn success_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.succeeded as f64 / self.requests as f64)
    }

    /// The documented JSON form.
    pub fn to_json(&self) -> Value {
        let backends: Map<String, Value> = self
            .backends
            .iter()
            .map(|(name, l)| {
                let mut m = Map::new();
                m.insert("count".into(), l.count.into());
                m.insert(
                    "share".into(),
                    (l.count as f64 / self.requests.max(1) as f64).into(),
                );
                let mut rest = l.to_json();
                rest.remove("count");
                m.extend(rest);
                (name.clone(), Value::Object(m))
            })
            .collect();
        let spans: Map<String, Value> = self
            .spans
            .iter()
            .map(|(name, l)| {
                let mut m = l.to_json();
                m.insert("total_ms".into(), l.total_ms.into());
                m.insert("self_ms".into(), self.self_ms(name).into());
                (name.clone(), Value::Object(m))
            })
            .collect();
        let mut span_backends: Map<String, Value> = Map::new();
        for ((span, backend), l) in &self.span_backends {
            if let Value::Object(m) = span_backends
                .entry(span.clone())
                .or_insert_with(|| Value::Object(Map::new()))
            {
                m.insert(backend.clone(), Value::Object(l.to_json()));
            }
        }
        json!({
            "window_days": self.window_days,
            "requests": self.requests,
            "success_rate": self.success_rate(),
            "backends": backends,
            "spans": spans,
            "span_backends": span_backends,
            "errors": self.errors,
            "safety_blocks": self.safety_blocks,
            "slow_requests": self.slow_requests,
            "panicked_requests": self.panicked_requests,
            "panics": self.panics,
            "panic_locations": self.panic_locations,
            "processes": {
                "count": self.processes.count,
                "cpu_user_s": self.processes.cpu_user_us as f64 / 1e6,
                "cpu_system_s": self.processes.cpu_system_us as f64 / 1e6,
                "peak_rss_max_kib": self.processes.peak_rss_max_kib,
                "open_fds_max": self.processes.open_fds_max,
            },
            "bottleneck": self.bottleneck.as_ref().map(|b| json!({
                "span": b.span,
                "of": b.of,
                "share": b.share,
                "text": b.text(),
            })),
            "counters": self.counters,
            "gauges": self.gauges,
            "histograms": self.histograms.iter().map(|(name, l)| {
                // Millionths of the unit, as milliseconds are of seconds.
                (name.clone(), json!({
                    "count": l.count,
                    "p50": l.p50_ms / 1000.0,
                    "p95": l.p95_ms / 1000.0,
                    "p99": l.p99_ms / 1000.0,
                    "max": l.max_ms / 1000.0,
                }))
            }).collect::<Map<String, Value>>(),
            "levels": self.levels,
            "recorder": {
                "written": self.recorder.written,
                "lost": self.recorder.lost,
                "abandoned": self.recorder.abandoned,
                "dropped": self.recorder.dropped,
                "unfinished": self.recorder.unfinished,
                "corrupt": self.recorder.corrupt,
                "cpu_share": self.recorder_cpu_share,
            },
            "invocations": self.invocations.to_json(),
        })
    }

    /// The self time of the spans named `name`, in milliseconds.
    pub fn self_ms(&self, name: &str) -> f64 {
        self.span_self_ms.get(name).copied().unwrap_or(0.0)
    }
}

/// The rows of `sql`, a (key, value) query, as a map.
pub(super) fn grouped<K: rusqlite::types::FromSql + Ord, T: rusqlite::types::FromSql>(
    store: &Store,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<BTreeMap<K, T>> {
    let err = |e| classify(&store.path, e);
    let mut q = store.conn().prepare(sql).map_err(err)?;
    let rows = q
        .query_map(params, |row| Ok((row.get(0)?, row.get(1)?)))
        .map_err(err)?;
    rows.collect::<rusqlite::Result<_>>().map_err(err)
}

/// The span with the largest share of self time in the slowest requests.
/// `spans`: the request spans' names as a JSON array, `None` for all.
fn bottleneck(
    store: &Store,
    since_s: i64,
    requests: u64,
    root: &str,
    spans: Option<&str>,
) -> Result<Option<Bottleneck>> {
    let err = |e| classify(&store.path, e);
    let slowest = ((requests as f64 * SLOWEST_SHARE).ceil() as i64).max(1);
    let mut q = store
        .conn()
        .prepare(&format!(
            "SELECT latency_ms, span_self_us FROM events WHERE timestamp >= ?1 AND {}
             ORDER BY latency_ms DESC LIMIT ?2",
            is_request(3)
        ))
        .map_err(err)?;
    let rows = q
        .query_map(params![since_s, slowest, spans], |row| {
            Ok((row.get::<_, f64>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(err)?;
    let mut total_us = 0.0;
    let mut self_us: BTreeMap<String, f64> = BTreeMap::new();
    for row in rows {
        let (latency_ms, spans) = row.map_err(err)?;
        total_us += latency_ms * 1000.0;
        if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&spans) {
            for (name, us) in m {
                if name != root {
                    *self_us.entry(name).or_default() += us.as_f64().unwrap_or(0.0);
                }
            }
        }
    }
    Ok(self_us
        .into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .filter(|_| total_us > 0.0)
        .map(|(span, us)| Bottleneck {
            span,
            of: root.to_owned(),
            share: us / total_us,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_of_an_older_schema_is_reported_once_upgraded() {
        for version in 1..crate::store::SCHEMA_VERSION {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("metrics.db");
            crate::store::schema::older_store(&path, version);
            let store = Store::open(&path).unwrap();
            let report = Report::build(&store, 7, 2 * DAY_NS).unwrap();
            let counts = (report.requests, report.invocations.count);
            assert_eq!(counts, (1, 0), "v{version}");
        }
    }

    #[test]
    fn the_distribution_puts_each_value_under_its_bucket() {
        let mut h = crate::assemble::new_histogram();
        for us in [5_000, 20_000, 20_000, 700_000, 6_000_000] {
            h.record(us).unwrap();
        }
        let l = Latency::of(&h);
        assert_eq!(l.buckets, [1, 2, 0, 0, 1, 0, 0, 1]);
        assert_eq!(l.count, 5);
    }
}

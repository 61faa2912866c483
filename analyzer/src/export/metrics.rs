//! caro's metrics as one snapshot of the store: the families that the
//! Prometheus exposition ([`exposition`](crate::export::prometheus)) and the OTLP
//! export ([`otlp`](crate::export::otlp)) both render, so that the two always
//! agree on names, help, units, labels and values.

use rusqlite::types::FromSql;
use rusqlite::OptionalExtension;

use crate::assemble::{HistKind, InvocationOutcome};
use crate::error::Result;
use crate::report::BUCKETS_MS;
use crate::store::{classify, merged_histograms, Store};
use crate::time::{self, DAY_NS};

/// Every family, as of one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Counters count from here: the start of the oldest day the store
    /// holds (Unix nanoseconds).
    pub start_ns: u64,
    /// When the snapshot was taken.
    pub time_ns: u64,
    pub families: Vec<Family>,
}

/// One metric family: a name, and a value per label set.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    /// The name without the `_total` of counters (the exposition adds it),
    /// with the unit as its last word: `caro_backend_latency_seconds`.
    pub name: String,
    pub help: String,
    /// `seconds`, `bytes`, or `None`.
    pub unit: Option<&'static str>,
    pub kind: Kind,
    pub series: Vec<Series>,
}

/// What a family measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One label set's value.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Vec<(&'static str, String)>,
    pub value: Point,
}

/// A value.
#[derive(Clone, Debug, PartialEq)]
pub enum Point {
    /// A counter's or gauge's value.
    Number(f64),
    /// A histogram: its count, its sum, and the count of values at or
    /// below each upper bound, cumulative, bounds ascending (the `+Inf`
    /// bucket is `count`).
    Histogram {
        count: u64,
        sum: f64,
        buckets: Vec<(f64, u64)>,
    },
}

impl Snapshot {
    /// caro's metrics from everything the store holds, as of `now_ns`.
    ///
    /// Counters count what the store holds, so they restart (as Prometheus
    /// lets a counter do) when retention drops a day, and `start_ns` moves
    /// with them. A gauge without data (no caro process has exited yet)
    /// has no series.
    pub fn build(store: &Store, now_ns: u64) -> Result<Snapshot> {
        let last_exit = last_process(store)?;
        let mut families = vec![
            Family::new(
                "caro_commands_generated",
                "Commands caro generated, by backend",
                None,
                Kind::Counter,
                counts(
                    store,
                    &["backend"],
                    "SELECT coalesce(backend, 'unknown'), count(*) FROM events
                     WHERE event_type = 'command_generated' GROUP BY 1 ORDER BY 1",
                )?,
            ),
            Family::new(
                "caro_commands_failed",
                "Requests that failed, by backend and error category",
                None,
                Kind::Counter,
                counts(
                    store,
                    &["backend", "category"],
                    "SELECT coalesce(backend, 'unknown'), coalesce(error_category, 'unknown'), count(*)
                     FROM events WHERE event_type = 'command_failed' GROUP BY 1, 2 ORDER BY 1, 2",
                )?,
            ),
            Family::new(
                "caro_safety_blocks",
                "Commands the safety checks blocked, by risk level",
                None,
                Kind::Counter,
                counts(
                    store,
                    &["risk_level"],
                    "SELECT coalesce(risk_level, 'unknown'), count(*) FROM events
                     WHERE event_type = 'command_blocked' GROUP BY 1 ORDER BY 1",
                )?,
            ),
            Family::new(
                "caro_backend_latency_seconds",
                "Time caro took to answer a request, whatever its outcome, by the backend that served it",
                Some("seconds"),
                Kind::Histogram,
                request_latencies(store)?,
            ),
            Family::new(
                "caro_active_users",
                "Days of the last 7 (UTC, today included) on which caro was used on this machine",
                None,
                Kind::Gauge,
                vec![Series::unlabelled(active_days(store, now_ns)? as f64)],
            ),
            Family::new(
                "caro_memory_usage_bytes",
                "Peak resident memory of the caro process that exited last",
                Some("bytes"),
                Kind::Gauge,
                last_exit
                    .iter()
                    .map(|p| Series::unlabelled(p.peak_rss_kib as f64 * 1024.0))
                    .collect(),
            ),
            Family::new(
                "caro_open_file_descriptors",
                "File descriptors the caro process that exited last had open at its exit",
                None,
                Kind::Gauge,
                last_exit
                    .iter()
                    .map(|p| Series::unlabelled(p.open_fds as f64))
                    .collect(),
            ),
            Family::new(
                "caro_span_duration_seconds",
                "Duration of caro's spans, by span name",
                Some("seconds"),
                Kind::Histogram,
                span_durations(store)?,
            ),
            Family::new(
                "caro_panics",
                "Panics recorded",
                None,
                Kind::Counter,
                vec![Series::unlabelled(
                    one::<i64>(store, "SELECT count(*) FROM panics")? as f64,
                )],
            ),
            Family::new(
                "caro_invocations",
                "caro processes that ended, by outcome (ok, failed, panicked, unfinished)",
                None,
                Kind::Counter,
                invocation_outcomes(store)?,
            ),
            Family::new(
                "caro_invocation_duration_seconds",
                "Time a caro process ran, from its start to its exit (or its last record, if it never exited)",
                Some("seconds"),
                Kind::Histogram,
                invocation_durations(store)?,
            ),
            Family::new(
                "caro_log_events",
                "Events caro recorded, by level",
                None,
                Kind::Counter,
                counts(
                    store,
                    &["level"],
                    "SELECT level, sum(count) FROM levels GROUP BY 1 ORDER BY 1",
                )?,
            ),
        ];
        // The recorder's own health: what it wrote, and every way a record
        // can go missing.
        for (name, help, column) in [
            (
                "caro_recorder_records",
                "Records the flight recorder wrote that ingest read",
                "written",
            ),
            (
                "caro_recorder_lost_records",
                "Ring slots overwritten before an ingest read them",
                "lost",
            ),
            (
                "caro_recorder_abandoned_slots",
                "Ring slots a killed writer left unfinished",
                "abandoned",
            ),
            (
                "caro_recorder_dropped_records",
                "Records the flight recorder could not write",
                "dropped",
            ),
        ] {
            let sql = format!("SELECT coalesce(sum({column}), 0) FROM recorder");
            families.push(Family::new(
                name,
                help,
                None,
                Kind::Counter,
                vec![Series::unlabelled(one::<i64>(store, &sql)? as f64)],
            ));
        }
        Ok(Snapshot {
            start_ns: first_day(store)?.map_or(now_ns, |day| day.max(0) as u64 * DAY_NS),
            time_ns: now_ns,
            families,
        })
    }
}

impl Family {
    fn new(
        name: &str,
        help: &str,
        unit: Option<&'static str>,
        kind: Kind,
        series: Vec<Series>,
    ) -> Family {
        Family {
            name: name.to_owned(),
            help: help.to_owned(),
            unit,
            kind,
            series,
        }
    }
}

impl Series {
    fn unlabelled(value: f64) -> Series {
        Series {
            labels: Vec::new(),
            value: Point::Number(value),
        }
    }
}

/// A histogram's cumulative buckets (as [`Point::Histogram`] holds them)
/// as the count of each bucket alone: each finite bound with the values
/// above the bound before it, then the values above every bound (the
/// `+Inf` bucket; an explicit infinite bound is that bucket). Counts that
/// do not rise never underflow.
pub fn per_bucket(count: u64, cumulative: &[(f64, u64)]) -> (Vec<(f64, u64)>, u64) {
    let mut below = 0;
    let mut buckets = Vec::with_capacity(cumulative.len());
    for &(bound, at_or_below) in cumulative.iter().filter(|(b, _)| b.is_finite()) {
        buckets.push((bound, at_or_below.saturating_sub(below)));
        below = below.max(at_or_below);
    }
    (buckets, count.saturating_sub(below))
}

/// Upper bounds of caro's latency histograms, in seconds, ascending: its
/// design's buckets.
pub fn latency_bounds_s() -> impl Iterator<Item = f64> {
    // 10 / 1000 is exactly the double nearest 0.01: the bounds print as
    // the design writes them.
    BUCKETS_MS.iter().map(|&ms| ms as f64 / 1000.0)
}

/// The single value of `sql`.
fn one<T: FromSql>(store: &Store, sql: &str) -> Result<T> {
    store
        .conn()
        .query_row(sql, [], |row| row.get(0))
        .map_err(|e| classify(&store.path, e))
}

/// A counter's series from `sql`, whose rows are the values of `labels`
/// then a count.
fn counts(store: &Store, labels: &[&'static str], sql: &str) -> Result<Vec<Series>> {
    let err = |e| classify(&store.path, e);
    let mut q = store.conn().prepare(sql).map_err(err)?;
    let rows = q
        .query_map([], |row| {
            let values = (0..labels.len())
                .map(|i| row.get::<_, String>(i))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let n: i64 = row.get(labels.len())?;
            Ok(Series {
                labels: labels.iter().copied().zip(values).collect(),
                value: Point::Number(n as f64),
            })
        })
        .map_err(err)?;
    rows.collect::<rusqlite::Result<_>>().map_err(err)
}

/// Every request's latency by backend, from the `events` rows: exact, as
/// each row keeps its request's duration.
fn request_latencies(store: &Store) -> Result<Vec<Series>> {
    latencies(store, "events", Some("backend"))
}

/// Every invocation's duration, from the `invocations` rows: exact, as
/// each row keeps it. No series without invocations.
fn invocation_durations(store: &Store) -> Result<Vec<Series>> {
    latencies(store, "invocations", None)
}

/// A histogram of the `latency_ms` of every row of `table`, one series per
/// value of the column `by` (`None`: one series, unlabelled).
fn latencies(store: &Store, table: &str, by: Option<&'static str>) -> Result<Vec<Series>> {
    let err = |e| classify(&store.path, e);
    // One pass: a count of the rows at or below each bound, in the rows'
    // own milliseconds, so that no conversion moves a value across a bound.
    let at_or_below: Vec<String> = BUCKETS_MS
        .iter()
        .map(|ms| format!("sum(latency_ms <= {ms})"))
        .collect();
    // Grouped by a constant, no row makes no group: no series.
    let label = by.map_or("''".to_owned(), |column| {
        format!("coalesce({column}, 'unknown')")
    });
    let sql = format!(
        "SELECT {label}, count(*), sum(latency_ms), {} FROM {table} GROUP BY 1 ORDER BY 1",
        at_or_below.join(", ")
    );
    let mut q = store.conn().prepare(&sql).map_err(err)?;
    let rows = q
        .query_map([], |row| {
            let value: String = row.get(0)?;
            let count: i64 = row.get(1)?;
            let sum_ms: f64 = row.get(2)?;
            let buckets = latency_bounds_s()
                .enumerate()
                .map(|(i, bound)| Ok((bound, row.get::<_, i64>(3 + i)?.max(0) as u64)))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Series {
                labels: by.map(|column| (column, value)).into_iter().collect(),
                value: Point::Histogram {
                    count: count.max(0) as u64,
                    sum: sum_ms / 1000.0,
                    buckets,
                },
            })
        })
        .map_err(err)?;
    rows.collect::<rusqlite::Result<_>>().map_err(err)
}

/// Invocations by outcome, every outcome (0 when none ended so).
fn invocation_outcomes(store: &Store) -> Result<Vec<Series>> {
    let err = |e| classify(&store.path, e);
    let mut q = store
        .conn()
        .prepare("SELECT count(*) FROM invocations WHERE outcome = ?1")
        .map_err(err)?;
    InvocationOutcome::ALL
        .iter()
        .map(|o| {
            let n: i64 = q.query_row([o.name()], |row| row.get(0)).map_err(err)?;
            Ok(Series {
                labels: vec![("outcome", o.name().to_owned())],
                value: Point::Number(n as f64),
            })
        })
        .collect()
}

/// Every span's durations by name, from the day histograms of every
/// stored day (microseconds, 3 significant digits).
fn span_durations(store: &Store) -> Result<Vec<Series>> {
    // Span histograms have no backend: one per name, merged over the days.
    let by_span = merged_histograms(store, HistKind::Span, i64::MIN)?;
    Ok(by_span
        .into_iter()
        .map(|((span, _), h)| {
            // A value counts under a bound when it shares the bound's
            // histogram bucket or a lower one: exact for the bound itself,
            // within 0.1 % otherwise.
            let buckets = BUCKETS_MS
                .iter()
                .zip(latency_bounds_s())
                .map(|(ms, bound)| (bound, h.count_between(0, ms * 1000)))
                .collect();
            Series {
                labels: vec![("span", span)],
                value: Point::Histogram {
                    count: h.len(),
                    // An HdrHistogram keeps no sum: mean × count is the sum
                    // to within its precision (0.1 %).
                    sum: h.mean() * h.len() as f64 / 1e6,
                    buckets,
                },
            }
        })
        .collect())
}

/// Distinct UTC days with a request among the 7 up to `now_ns`, today
/// included: caro's "active users" on a machine of one user.
fn active_days(store: &Store, now_ns: u64) -> Result<i64> {
    let day_s = (DAY_NS / 1_000_000_000) as i64;
    let first_day = time::day(now_ns) - 6;
    store
        .conn()
        .query_row(
            "SELECT count(DISTINCT timestamp / ?3) FROM events
             WHERE timestamp >= ?1 AND timestamp <= ?2",
            rusqlite::params![first_day * day_s, (now_ns / 1_000_000_000) as i64, day_s],
            |row| row.get(0),
        )
        .map_err(|e| classify(&store.path, e))
}

/// What the process that exited last left.
struct ProcessExit {
    peak_rss_kib: i64,
    open_fds: i64,
}

fn last_process(store: &Store) -> Result<Option<ProcessExit>> {
    store
        .conn()
        .query_row(
            "SELECT peak_rss_kib, open_fds FROM processes ORDER BY timestamp DESC, id DESC LIMIT 1",
            [],
            |row| {
                Ok(ProcessExit {
                    peak_rss_kib: row.get(0)?,
                    open_fds: row.get(1)?,
                })
            },
        )
        .optional()
        .map_err(|e| classify(&store.path, e))
}

/// The oldest UTC day the store holds anything of.
fn first_day(store: &Store) -> Result<Option<i64>> {
    let day_s = (DAY_NS / 1_000_000_000) as i64;
    store
        .conn()
        .query_row(
            "SELECT min(day) FROM (
                 SELECT min(day) AS day FROM histograms
                 UNION ALL SELECT min(day) FROM counters
                 UNION ALL SELECT min(day) FROM gauges
                 UNION ALL SELECT min(day) FROM levels
                 UNION ALL SELECT min(day) FROM recorder
                 UNION ALL SELECT min(day) FROM callsites
                 UNION ALL SELECT min(timestamp) / ?1 FROM invocations
                 UNION ALL SELECT min(timestamp) / ?1 FROM events
                 UNION ALL SELECT min(timestamp) / ?1 FROM processes
                 UNION ALL SELECT min(timestamp) / ?1 FROM panics
             )",
            [day_s],
            |row| row.get(0),
        )
        .map_err(|e| classify(&store.path, e))
}

//! The one write transaction of a command: adding an ingest's batch,
//! the recorder's counts and the cursor, and applying retention.

use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};

use super::{classify, read_histogram};
use crate::assemble::Batch;
use crate::error::{Error, Result};
use crate::time::{self, DAY_NS};
use hdrhistogram::serialization::{Serializer, V2Serializer};

/// Rows and histograms are kept this many days.
pub const RETENTION_DAYS: u64 = 30;

/// What one ingest adds to the recorder's own counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecorderCounts {
    pub written: u64,
    pub lost: u64,
    pub abandoned: u64,
    pub dropped: u64,
    pub unfinished: u64,
    /// Slots that could not be read: damaged, or of a newer format.
    pub corrupt: u64,
}

/// A write transaction: commits only when [`Writer::commit`] is called.
#[derive(Debug)]
pub struct Writer<'a> {
    pub(super) path: PathBuf,
    pub(super) tx: rusqlite::Transaction<'a>,
}

impl Writer<'_> {
    /// The store's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        |e| classify(&self.path, e)
    }

    /// A `meta` value.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.err())
    }

    /// Sets a `meta` value.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(drop)
            .map_err(self.err())
    }

    /// Adds everything in `batch`, merging histograms and counts with
    /// those already stored.
    pub fn add(&self, batch: &Batch) -> Result<()> {
        let err = self.err();
        {
            let mut get = self
                .tx
                .prepare_cached(
                    "SELECT hist FROM histograms WHERE day = ?1 AND kind = ?2 AND name = ?3 AND backend = ?4",
                )
                .map_err(&err)?;
            let mut put = self
                .tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO histograms (day, kind, name, backend, count, hist)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(&err)?;
            for (key, h) in &batch.histograms {
                let mut h = h.clone();
                let k = (key.day, key.kind.name(), &key.name, &key.backend);
                let stored: Option<Vec<u8>> = get
                    .query_row(params![k.0, k.1, k.2, k.3], |r| r.get(0))
                    .optional()
                    .map_err(&err)?;
                if let Some(blob) = stored {
                    h.add(read_histogram(&self.path, &blob)?)
                        .map_err(|e| self.corrupt(format!("histogram cannot be merged: {e}")))?;
                }
                let mut blob = Vec::new();
                V2Serializer::new()
                    .serialize(&h, &mut blob)
                    .map_err(|e| self.corrupt(format!("histogram cannot be written: {e}")))?;
                put.execute(params![k.0, k.1, k.2, k.3, h.len() as i64, blob])
                    .map_err(&err)?;
            }
        }
        let mut add_counter = self
            .tx
            .prepare_cached(
                "INSERT INTO counters (day, name, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (day, name) DO UPDATE SET value = value + excluded.value",
            )
            .map_err(&err)?;
        for ((day, name), v) in &batch.counters {
            add_counter.execute(params![day, name, v]).map_err(&err)?;
        }
        let mut set_gauge = self
            .tx
            .prepare_cached(
                "INSERT INTO gauges (day, name, value, time_ns) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (day, name) DO UPDATE SET value = excluded.value, time_ns = excluded.time_ns
                 WHERE excluded.time_ns >= gauges.time_ns",
            )
            .map_err(&err)?;
        for ((day, name), (t, v)) in &batch.gauges {
            set_gauge
                .execute(params![day, name, v, *t as i64])
                .map_err(&err)?;
        }
        let mut add_level = self
            .tx
            .prepare_cached(
                "INSERT INTO levels (day, level, count) VALUES (?1, ?2, ?3)
                 ON CONFLICT (day, level) DO UPDATE SET count = count + excluded.count",
            )
            .map_err(&err)?;
        for ((day, level), n) in &batch.levels {
            add_level
                .execute(params![day, level, *n as i64])
                .map_err(&err)?;
        }
        let mut add_event = self
            .tx
            .prepare_cached(
                "INSERT INTO events (timestamp, event_type, backend, intent, latency_ms, success,
                     error_category, risk_level, request_id, span_self_us, root_span)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .map_err(&err)?;
        for r in &batch.requests {
            let self_us: serde_json::Map<String, serde_json::Value> = r
                .self_ns
                .iter()
                .map(|(n, ns)| (n.clone(), (ns / 1000).into()))
                .collect();
            add_event
                .execute(params![
                    (r.end_ns / 1_000_000_000) as i64,
                    r.outcome.event_type(),
                    r.backend,
                    r.intent,
                    r.duration_ns as f64 / 1e6,
                    r.outcome == crate::assemble::Outcome::Generated,
                    r.error_category,
                    r.risk_level,
                    r.request_id.map(|id| id as i64),
                    serde_json::Value::Object(self_us).to_string(),
                    r.name,
                ])
                .map_err(&err)?;
        }
        let mut add_invocation = self
            .tx
            .prepare_cached(
                "INSERT INTO invocations (timestamp, start_ns, latency_ms, outcome, status, warnings,
                     errors, version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(&err)?;
        for i in &batch.invocations {
            add_invocation
                .execute(params![
                    (i.end_ns / 1_000_000_000) as i64,
                    i.start_ns as i64,
                    i.end_ns.saturating_sub(i.start_ns) as f64 / 1e6,
                    i.outcome.name(),
                    i.status,
                    i.warnings as i64,
                    i.errors as i64,
                    i.version,
                ])
                .map_err(&err)?;
        }
        let mut add_callsite = self
            .tx
            .prepare_cached(
                "INSERT INTO callsites (day, level, target, message, events, invocations)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (day, level, target, message) DO UPDATE SET
                     events = events + excluded.events,
                     invocations = invocations + excluded.invocations",
            )
            .map_err(&err)?;
        for (k, c) in &batch.callsites {
            add_callsite
                .execute(params![
                    k.day,
                    k.level,
                    k.target,
                    k.message,
                    c.events as i64,
                    c.invocations as i64
                ])
                .map_err(&err)?;
        }
        let mut add_process = self
            .tx
            .prepare_cached(
                "INSERT INTO processes (timestamp, pid, cpu_user_us, cpu_system_us, peak_rss_kib, open_fds, wall_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(&err)?;
        for p in &batch.processes {
            add_process
                .execute(params![
                    (p.time_ns / 1_000_000_000) as i64,
                    p.pid as i64,
                    p.cpu_user_us as i64,
                    p.cpu_system_us as i64,
                    p.peak_rss_kib as i64,
                    p.open_fds as i64,
                    p.wall_us as i64
                ])
                .map_err(&err)?;
        }
        let mut add_trace = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO traces (trace_id, timestamp, start_ns, latency_ms, error, kept, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(&err)?;
        // One compressor for all: a new one per trace costs more than
        // compressing it.
        let mut compressor = zstd::bulk::Compressor::new(1)
            .map_err(|e| self.corrupt(format!("traces cannot be compressed: {e}")))?;
        let mut json = Vec::new();
        for (t, kept) in &batch.traces {
            json.clear();
            // Plain data serializes without fail.
            let _ = serde_json::to_writer(&mut json, t);
            let body = compressor
                .compress(&json)
                .map_err(|e| self.corrupt(format!("a trace cannot be compressed: {e}")))?;
            add_trace
                .execute(params![
                    t.id_hex(),
                    (t.root().start_ns / 1_000_000_000) as i64,
                    t.root().start_ns as i64,
                    t.duration_ns().map(|d| d as f64 / 1e6),
                    t.error,
                    kept.name(),
                    body
                ])
                .map_err(&err)?;
        }
        let mut add_panic = self
            .tx
            .prepare_cached(
                "INSERT INTO panics (timestamp, thread, file, line) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(&err)?;
        for p in &batch.panics {
            add_panic
                .execute(params![
                    (p.time_ns / 1_000_000_000) as i64,
                    p.thread,
                    p.file,
                    p.line as i64
                ])
                .map_err(&err)?;
        }
        Ok(())
    }

    /// Adds the recorder's counts of an ingest on `day`.
    pub fn add_recorder(&self, day: i64, c: &RecorderCounts) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO recorder (day, written, lost, abandoned, dropped, unfinished, corrupt)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (day) DO UPDATE SET written = written + excluded.written,
                     lost = lost + excluded.lost, abandoned = abandoned + excluded.abandoned,
                     dropped = dropped + excluded.dropped, unfinished = unfinished + excluded.unfinished,
                     corrupt = corrupt + excluded.corrupt",
                params![
                    day,
                    c.written as i64,
                    c.lost as i64,
                    c.abandoned as i64,
                    c.dropped as i64,
                    c.unfinished as i64,
                    c.corrupt as i64
                ],
            )
            .map(drop)
            .map_err(self.err())
    }

    /// The newest day anything was counted under, if any.
    pub fn newest_day(&self) -> Result<Option<i64>> {
        self.tx
            .query_row("SELECT max(day) FROM levels", [], |r| r.get(0))
            .map_err(self.err())
    }

    /// Deletes rows older than [`RETENTION_DAYS`] before `now_ns`, and the
    /// days that ended before then. Returns the rows deleted.
    pub fn apply_retention(&self, now_ns: u64) -> Result<u64> {
        let cutoff_ns = now_ns.saturating_sub(RETENTION_DAYS * DAY_NS);
        let cutoff_s = (cutoff_ns / 1_000_000_000) as i64;
        // A day goes when all of it is older than the limit.
        let first_day = time::day(cutoff_ns);
        let mut n = 0;
        for table in ["events", "invocations", "processes", "panics", "traces"] {
            n += self
                .tx
                .execute(
                    &format!("DELETE FROM {table} WHERE timestamp < ?1"),
                    [cutoff_s],
                )
                .map_err(self.err())?;
        }
        for table in [
            "histograms",
            "counters",
            "gauges",
            "levels",
            "callsites",
            "recorder",
        ] {
            n += self
                .tx
                .execute(&format!("DELETE FROM {table} WHERE day < ?1"), [first_day])
                .map_err(self.err())?;
        }
        Ok(n as u64)
    }

    fn corrupt(&self, why: String) -> Error {
        Error::NotAStore {
            path: self.path.clone(),
            why,
        }
    }

    /// Commits everything.
    pub fn commit(self) -> Result<()> {
        let path = self.path;
        self.tx.commit().map_err(|e| classify(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assemble::HistKind;
    use crate::assemble::{
        new_histogram, CallsiteCount, CallsiteKey, HistKey, InvocationOutcome, InvocationRow,
    };
    use crate::store::{merged_histograms, Store};

    fn batch_with(day: i64, us: u64) -> Batch {
        let mut h = new_histogram();
        h.record(us).unwrap();
        let mut b = Batch::default();
        let key = HistKey {
            day,
            kind: HistKind::Span,
            name: "load_model".into(),
            backend: String::new(),
        };
        b.histograms.insert(key, h);
        b
    }

    #[test]
    fn histograms_of_any_range_merge_by_day_and_across_days() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("metrics.db")).unwrap();
        // Small values first, so the stored histogram's range is small.
        for (day, us) in [(10, 5), (10, 90_000_000), (11, 3), (11, 7_200_000_000)] {
            let w = store.write().unwrap();
            w.add(&batch_with(day, us)).unwrap();
            w.commit().unwrap();
        }
        let merged = merged_histograms(&store, HistKind::Span, 10).unwrap();
        assert_eq!(merged.len(), 1);
        let h = &merged[0].1;
        assert_eq!(h.len(), 4);
        assert_eq!(h.min(), 3);
        assert!(h.equivalent(h.max(), 7_200_000_000));
        assert!(merged_histograms(&store, HistKind::Span, 12)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn retention_removes_rows_and_whole_days_older_than_30_days() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("metrics.db")).unwrap();
        let w = store.write().unwrap();
        for day in 0..40 {
            let mut b = batch_with(day, 1);
            // An invocation that ends at noon, and its warning.
            let noon = day as u64 * DAY_NS + DAY_NS / 2;
            b.invocations.push(InvocationRow {
                start_ns: noon - 1000,
                end_ns: noon,
                outcome: InvocationOutcome::Ok,
                status: Some(0),
                warnings: 1,
                errors: 0,
                version: None,
            });
            let key = CallsiteKey {
                day,
                level: "WARN".into(),
                target: "caro::agent".into(),
                message: "Parse attempt {}/{} failed".into(),
            };
            b.callsites.insert(
                key,
                CallsiteCount {
                    events: 1,
                    invocations: 1,
                },
            );
            w.add(&b).unwrap();
        }
        // Now is day 40 at noon: days 0 to 9 ended more than 30 days ago,
        // day 10 ends less than 30 days ago; the invocations of days 0 to
        // 9 ended more than 30 days ago, day 10's exactly 30 days ago.
        let now = 40 * DAY_NS + DAY_NS / 2;
        assert_eq!(w.apply_retention(now).unwrap(), 3 * 10);
        w.commit().unwrap();
        for sql in [
            "SELECT min(day) FROM histograms",
            "SELECT min(day) FROM callsites",
            "SELECT min(timestamp) / 86400 FROM invocations",
        ] {
            let first: i64 = store.conn().query_row(sql, [], |r| r.get(0)).unwrap();
            assert_eq!(first, 10, "{sql}");
        }
    }
}

//! The invocations (process runs) of the window: their outcomes, exit
//! statuses, durations, the slowest, and the WARN and ERROR callsites.

use std::collections::BTreeMap;

use rusqlite::params;
use serde_json::{json, Value};

use super::{grouped, Latency, SLOWEST_INVOCATIONS, TOP_CALLSITES};
use crate::assemble::{HistKind, InvocationOutcome};
use crate::error::Result;
use crate::store::{classify, merged_histograms, Store};
use crate::time;

/// The invocations (process runs) that ended in the window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Invocations {
    pub count: u64,
    /// By outcome name, every outcome.
    pub outcomes: BTreeMap<&'static str, u64>,
    /// By exit status, of those that recorded one.
    pub exit_statuses: BTreeMap<i64, u64>,
    /// Their durations, `None` without invocations.
    pub latency: Option<Latency>,
    /// The [`SLOWEST_INVOCATIONS`] slowest, slowest first.
    pub slowest: Vec<InvocationFigures>,
    /// The [`TOP_CALLSITES`] WARN and ERROR callsites with the most events.
    pub by_callsite: Vec<CallsiteFigures>,
    /// Host version → invocations that gave it.
    pub versions: BTreeMap<String, u64>,
}

/// One invocation, as the report lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct InvocationFigures {
    pub start_ns: u64,
    pub duration_ms: f64,
    pub outcome: String,
    pub status: Option<i64>,
    pub warnings: u64,
    pub errors: u64,
    pub version: Option<String>,
}

/// A callsite's warnings or errors in the window.
#[derive(Clone, Debug, PartialEq)]
pub struct CallsiteFigures {
    pub level: String,
    pub target: String,
    /// Its message template: program text, run-time arguments as `{}`.
    pub message: String,
    pub events: u64,
    /// Invocations it occurred in, counted once a day.
    pub invocations: u64,
}

impl Invocations {
    /// The invocations that ended from `since_s` (Unix seconds) on, and
    /// the day histograms and callsite counts from `first_day` on.
    pub(super) fn build(store: &Store, first_day: i64, since_s: i64) -> Result<Invocations> {
        let err = |e| classify(&store.path, e);
        let ended: BTreeMap<String, u64> = grouped(
            store,
            "SELECT outcome, count(*) FROM invocations WHERE timestamp >= ?1 GROUP BY 1",
            [since_s],
        )?;
        let outcomes = InvocationOutcome::ALL
            .iter()
            .map(|o| (o.name(), ended.get(o.name()).copied().unwrap_or(0)))
            .collect();
        let latency = merged_histograms(store, HistKind::Invocation, first_day)?
            .into_iter()
            .map(|(_, h)| h)
            .reduce(|mut all, h| {
                let _ = all.add(&h);
                all
            })
            .map(|h| Latency::of(&h));
        let mut q = store
            .conn()
            .prepare(
                "SELECT start_ns, latency_ms, outcome, status, warnings, errors, version
                 FROM invocations WHERE timestamp >= ?1
                 ORDER BY latency_ms DESC, start_ns LIMIT ?2",
            )
            .map_err(err)?;
        let slowest = q
            .query_map(params![since_s, SLOWEST_INVOCATIONS as i64], |row| {
                Ok(InvocationFigures {
                    start_ns: row.get::<_, i64>(0)?.max(0) as u64,
                    duration_ms: row.get(1)?,
                    outcome: row.get(2)?,
                    status: row.get(3)?,
                    warnings: row.get(4)?,
                    errors: row.get(5)?,
                    version: row.get(6)?,
                })
            })
            .map_err(err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(err)?;
        let mut q = store
            .conn()
            .prepare(
                "SELECT level, target, message, sum(events), sum(invocations) FROM callsites
                 WHERE day >= ?1 GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3 LIMIT ?2",
            )
            .map_err(err)?;
        let by_callsite = q
            .query_map(params![first_day, TOP_CALLSITES as i64], |row| {
                Ok(CallsiteFigures {
                    level: row.get(0)?,
                    target: row.get(1)?,
                    message: row.get(2)?,
                    events: row.get(3)?,
                    invocations: row.get(4)?,
                })
            })
            .map_err(err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(err)?;
        Ok(Invocations {
            count: ended.values().sum(),
            outcomes,
            exit_statuses: grouped(
                store,
                "SELECT status, count(*) FROM invocations
                 WHERE timestamp >= ?1 AND status IS NOT NULL GROUP BY 1",
                [since_s],
            )?,
            latency,
            slowest,
            by_callsite,
            versions: grouped(
                store,
                "SELECT version, count(*) FROM invocations
                 WHERE timestamp >= ?1 AND version IS NOT NULL GROUP BY 1",
                [since_s],
            )?,
        })
    }

    /// The documented JSON form (the report's `invocations`).
    pub(super) fn to_json(&self) -> Value {
        let percentile = |f: fn(&Latency) -> f64| self.latency.as_ref().map(f);
        json!({
            "count": self.count,
            "outcomes": self.outcomes,
            "exit_statuses": self.exit_statuses,
            "p50_ms": percentile(|l| l.p50_ms),
            "p95_ms": percentile(|l| l.p95_ms),
            "p99_ms": percentile(|l| l.p99_ms),
            "max_ms": percentile(|l| l.max_ms),
            "slowest": self.slowest.iter().map(|i| json!({
                "start": time::rfc3339(i.start_ns),
                "duration_ms": i.duration_ms,
                "outcome": i.outcome,
                "status": i.status,
                "warnings": i.warnings,
                "errors": i.errors,
                "version": i.version,
            })).collect::<Vec<_>>(),
            "by_callsite": self.by_callsite.iter().map(|c| json!({
                "level": c.level,
                "target": c.target,
                "message": c.message,
                "count": c.events,
                "invocations": c.invocations,
            })).collect::<Vec<_>>(),
            "versions": self.versions,
        })
    }
}

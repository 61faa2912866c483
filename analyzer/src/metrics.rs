//! caro's metrics as one snapshot of the store: the families that the
//! Prometheus exposition ([`exposition`](crate::exposition)) and the OTLP
//! export ([`otlp`](crate::otlp)) both render, so that the two always
//! agree on names, help, units, labels and values.

use crate::error::Result;
use crate::store::Store;

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
    pub fn build(store: &Store, now_ns: u64) -> Result<Snapshot> {
        let _ = (store, now_ns);
        todo!("helper: build the families from the store")
    }
}

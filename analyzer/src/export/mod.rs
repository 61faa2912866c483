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
//! Traces are those the store kept ([`SamplingPolicy`](crate::assemble::trace::SamplingPolicy)):
//! the requests' span trees, and the invocations that served no request
//! as one `invocation` span each; everything is scrubbed before it was
//! stored. The store keeps per-request self times by span name but no
//! call stacks, so a flame graph can only be drawn from the kept traces:
//! `--help` and the line on stderr say so, since tail sampling keeps every
//! slow and failed request and only a share of the rest.
//!
//! One module per format, [`chrome`], [`folded`], [`prometheus`],
//! [`otlp`] and [`jsonl`]; [`metrics`] reads the store's metrics once for
//! both Prometheus and OTLP; [`serve`] answers scrapers; [`telemetry`]
//! builds the bundle that would be shared. The exports read the store
//! (and `serve` ingests into it) and use the report's figures.

pub mod chrome;
pub mod folded;
pub mod jsonl;
pub mod metrics;
pub mod otlp;
pub mod prometheus;
pub mod serve;
pub mod telemetry;

pub use chrome::write_chrome;
pub use folded::write_folded;
pub use jsonl::write_jsonl;

use std::io::{self, Write};

use crate::assemble::trace::Trace;
use crate::error::Result;
use crate::export::metrics::Snapshot;
use crate::store::ingest::DataPaths;
use crate::store::{read_traces, Store, TraceQuery};

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
    let version = store.meta(crate::store::ingest::CARO_VERSION)?;
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
            out.write_all(prometheus::render(&Snapshot::build(store, now_ns)?).as_bytes())?;
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

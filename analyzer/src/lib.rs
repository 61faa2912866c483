//! `caro-analyze` reads the flight-recorder ring that caro's recorder keeps
//! in `$XDG_CACHE_HOME/caro/events.ring`, and keeps what matters of it:
//!
//! - `caro-analyze logs [--format pretty|compact|json] [--level L]
//!   [--since WHEN] [--until WHEN] [--target PREFIX] [-n N] [--follow]
//!   [--ring FILE]` prints the recorded events, oldest first, as caro's
//!   structured logs (the human-readable form, one line each, or JSON
//!   lines; rendered by [`caro_format::render`], as the recorder's live
//!   output is), then one line on stderr if the ring lost records;
//!   `--follow` prints new ones from now on.
//! - `caro-analyze ingest [--ring FILE]` folds what was recorded since the
//!   last ingest, scrubbed, into the store beside the ring: `metrics.db`
//!   (SQLite: one row per request and per invocation, latency
//!   HdrHistograms per day, metrics, warnings and errors by callsite,
//!   process exits, panics; see [`store`]), `telemetry.log` (JSON lines,
//!   one file per day, earlier days zstd-compressed) and `crashes/` (a
//!   zstd snapshot of the ring whenever a panic is ingested). Exactly once:
//!   see [`store::ingest`].
//! - `caro-analyze report [--days N] [--json] [--request-span NAME]
//!   [--no-ingest]` ingests, then reports on the last N days (default 7):
//!   requests (root spans, or only those named), invocations (process
//!   runs, spans or none); the JSON schema is in [`report`].
//! - `caro-analyze traces [ID] [--slow DURATION] [--errors] [--last N |
//!   --slowest N] [--json]` ingests, then prints the span trees of the
//!   requests the store kept (tail-based sampling: every failed, slow or
//!   unfinished request, the first 1,000 of each day, 10 % of the rest;
//!   see [`assemble::trace`]) and of those still open, newest last — or the N
//!   slowest, slowest first, or the one whose id is ID (32 hex digits, as
//!   the exports write it, or its first 16) — with durations, events in
//!   time order among the child spans, and the bottleneck's share of the
//!   request; an invocation that served no request is one span,
//!   `invocation`, with its events.
//! - `caro-analyze export --format chrome|folded|prometheus|otlp|jsonl
//!   [--since WHEN] [-o FILE] [--endpoint URL]` writes the store's traces,
//!   metrics or log lines for Perfetto, flame graphs, Prometheus, an
//!   OpenTelemetry collector or jq; see [`export`].
//! - `caro-analyze serve [--listen HOST:PORT] [--interval DURATION]` serves
//!   `/metrics` and `/healthz` for a Prometheus server, on 127.0.0.1:9464
//!   unless told; see [`export::serve`].
//! - `caro-analyze status [--json] [--ring FILE]` summarises the ring
//!   (capacity, records, writers, losses, dictionary) and the store.
//! - `caro-analyze gc` applies retention: 30 days for the store, 7 for
//!   telemetry.log, counted from the newest data, never from the clock
//!   alone ([`store::ingest::DataClock`]); every ingest applies it too.
//!   `crashes/` is kept.
//! - `caro-analyze clear [--yes]` deletes all of the above, after listing it.
//! - `caro-analyze telemetry status|enable|disable|preview` keeps the
//!   user's choice about sharing anonymous aggregates (off by default;
//!   nothing is ever sent) and prints exactly what would be shared; see
//!   [`export::telemetry`].
//! - `caro-analyze completions SHELL` and `caro-analyze man` print a shell's
//!   completion script and the manual page; see [`cli::manual`].
//!
//! Every string read from the ring is scrubbed ([`scrub`]) before any
//! command keeps or prints it; `PRIVACY.md` says what is kept, where, and
//! for how long.
//!
//! `CARO_TRACE_SLOW_MS` (1000), `CARO_TRACE_FIRST_PER_DAY` (1000) and
//! `CARO_TRACE_SAMPLE_RATE` (0.1) set which traces an ingest keeps.
//! `CARO_NOW` (RFC 3339) sets the analyzer's clock, for tests that play
//! weeks. Failures print one line, `caro-analyze: error: …`, and exit with
//! the code [`error::exit`] gives (1 I/O, 2 usage, 3 no data, 4 damaged
//! data); a closed stdout (`| head`) ends the command quietly with 0.
//!
//! The crate is laid out as its pipeline (ARCHITECTURE.md draws it):
//!
//! ```text
//! ring file ─▶ read ─▶ scrub ─┬─▶ logs (log lines, --follow)
//!                             └─▶ assemble ─▶ store ─▶ report, export
//!                                                         ▲
//!                                  cli (the binary's commands) ┘
//! ```
//!
//! - [`read`] reads a ring file (or a crash snapshot) whole, carefully,
//!   and decodes it;
//! - [`scrub`] cleans every string read, and hands rings
//!   ([`scrub::ring`]) and events ([`scrub::event`]) on only scrubbed;
//! - [`logs`] prints a ring's events as log lines, and follows it;
//! - [`assemble`] rebuilds requests, their traces and invocations from
//!   span trees and process starts and exits;
//! - [`store`] keeps the aggregates (schema, ingest, retention, clear);
//! - [`report`] reads them back for a person (`report`, `status`);
//! - [`export`] writes them for other tools (chrome, folded, prometheus,
//!   otlp, jsonl, `serve`, the telemetry preview);
//! - [`cli`] parses the command line and runs the commands.
//!
//! Each module uses only those below it; [`error`], [`time`] and
//! [`files`] (every file opened without following a link or waiting on
//! a pipe, only in a private folder) are at the bottom, used by all.
//! `scripts/module-cycles` checks that no two modules depend on each
//! other, at every level.
//!
//! ```
//! use caro_analyze::store::ingest::{ingest, DataPaths};
//! use caro_analyze::logs::{LogFormat, LogPrinter};
//! use caro_analyze::report::Report;
//! use caro_analyze::scrub;
//! # let dir = tempfile::tempdir()?;
//! let paths = DataPaths::in_dir(dir.path());
//! # let geometry = caro_format::Geometry::for_size(1 << 20);
//! # let mut bytes = geometry.initial_bytes(1_768_487_535_000_000_000);
//! # bytes.resize(geometry.file_size() as usize, 0);
//! # std::fs::write(&paths.ring, &bytes)?;
//!
//! // Load a ring (its program text scrubbed) and print its events as JSON lines.
//! let ring = scrub::ring::load(&paths.ring)?;
//! let mut printer = LogPrinter::new(LogFormat::Json, Vec::new());
//! for record in &ring.decoded.records {
//!     printer.record(record, &ring.decoded)?;
//! }
//! assert!(printer.into_inner().is_empty()); // a fresh ring holds no events
//!
//! // Fold it into the store and report on the last week.
//! let now = 1_768_487_600_000_000_000;
//! let mut store = paths.open_store()?;
//! let ingested = ingest(&mut store, &paths, now, false)?;
//! assert_eq!(ingested.counts.written, 0);
//! let report = Report::build(&store, 7, now)?;
//! assert_eq!(report.to_json()["requests"], 0);
//!
//! // A file that is not a ring is an error that names the file.
//! std::fs::write(&paths.ring, "hello")?;
//! let err = scrub::ring::load(&paths.ring).unwrap_err();
//! assert!(err.to_string().ends_with("events.ring: not a caro ring file (bad magic)"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod assemble;
pub mod cli;
pub mod error;

pub mod export;
pub mod files;
pub mod logs;
pub mod read;
pub mod report;
pub mod scrub;
pub mod store;
pub mod time;

pub use error::{Error, Result};

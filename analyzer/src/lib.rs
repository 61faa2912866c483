//! `caro-analyze` reads the flight-recorder ring that caro's recorder keeps
//! in `$XDG_CACHE_HOME/caro/events.ring`, and shows what it holds:
//!
//! - `caro-analyze logs [--format json|pretty] [--follow] [--ring FILE]`
//!   prints every recorded event, oldest first, as caro's structured logs
//!   (JSON lines or the human-readable form), then one line on stderr if
//!   the ring lost records; `--follow` goes on printing new ones.
//! - `caro-analyze status [--json] [--ring FILE]` summarises the ring:
//!   capacity, records, writers, losses, dictionary.
//!
//! Failures print one line, `caro-analyze: error: …`, and exit with 2; a
//! closed stdout (`| head`) ends the command quietly with 0.
//!
//! The binary is thin: [`cli`] parses the arguments, [`ring`] loads the
//! file, [`event`] turns records into log events that [`json`] and
//! [`pretty`] render, [`logs`], [`follow`] and [`status`] run the commands.
//!
//! ```
//! use caro_analyze::logs::{LogFormat, LogPrinter};
//! use caro_analyze::ring;
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("events.ring");
//! # let geometry = caro_format::Geometry::for_size(1 << 20);
//! # let mut bytes = geometry.initial_bytes(1_768_487_535_000_000_000);
//! # bytes.resize(geometry.file_size() as usize, 0);
//! # std::fs::write(&path, &bytes)?;
//!
//! // Load a ring and print its events as JSON lines.
//! let ring = ring::load(&path)?;
//! let mut printer = LogPrinter::new(LogFormat::Json, Vec::new());
//! for record in &ring.decoded.records {
//!     printer.record(record, &ring.decoded.dictionary)?;
//! }
//! assert!(printer.into_inner().is_empty()); // a fresh ring holds no events
//!
//! // Or summarise it, as `caro-analyze status --json` does.
//! let status = caro_analyze::status::Status::of(&ring);
//! assert_eq!(status.to_json()["records"], 0);
//! assert_eq!(status.capacity_slots, ring.decoded.capacity());
//!
//! // A file that is not a ring is an error that names the file.
//! std::fs::write(&path, "hello")?;
//! let err = ring::load(&path).unwrap_err();
//! assert!(err.to_string().ends_with("events.ring: not a caro ring file (bad magic)"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod assemble;
pub mod clear;
pub mod cli;
pub mod error;
pub mod event;
pub mod follow;
pub mod ingest;
pub mod json;
pub mod logs;
pub mod pretty;
pub mod report;
pub mod ring;
pub mod scrub;
pub mod status;
pub mod store;
pub mod time;

pub use error::{Error, Result};

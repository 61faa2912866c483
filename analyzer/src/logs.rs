//! The `logs` command: a ring's events as log lines, oldest first.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::path::PathBuf;

use std::collections::HashMap;

use caro_format::{Decoded, LaneStats, Record};

use crate::error::{Error, Result};
use crate::event::{LogEvent, Spans};
use crate::follow::Follower;
use crate::{json, pretty, ring};

/// How log events are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// A line per event and an indented line per field.
    Pretty,
}

impl LogFormat {
    /// The variable that picks the format when `--format` is not given.
    pub const ENV: &'static str = "CARO_LOG_FORMAT";

    /// The format `CARO_LOG_FORMAT` asks for: pretty when unset or empty.
    pub fn from_env() -> Result<LogFormat> {
        LogFormat::from_env_value(std::env::var_os(Self::ENV).as_deref())
    }

    /// The format a value of `CARO_LOG_FORMAT` asks for.
    pub fn from_env_value(value: Option<&OsStr>) -> Result<LogFormat> {
        let Some(value) = value else {
            return Ok(LogFormat::Pretty);
        };
        match value.to_str() {
            Some("" | "pretty") => Ok(LogFormat::Pretty),
            Some("json") => Ok(LogFormat::Json),
            _ => Err(Error::BadLogFormat {
                value: value.to_string_lossy().into_owned(),
            }),
        }
    }

    /// Writes one event in this format.
    pub fn write_event(self, out: &mut dyn Write, e: &LogEvent) -> io::Result<()> {
        match self {
            LogFormat::Json => json::write_event(out, e),
            LogFormat::Pretty => pretty::write_event(out, e),
        }
    }
}

/// Prints records as log lines, keeping track of the spans they mention.
/// Feed it every record of a ring, oldest first.
#[derive(Debug)]
pub struct LogPrinter<W: Write> {
    format: LogFormat,
    out: W,
    spans: Spans,
    /// Thread → process, from THREAD_START and PROCESS_START records: for
    /// rings older than the identity table (v1.3).
    processes: HashMap<u32, u32>,
}

impl<W: Write> LogPrinter<W> {
    pub fn new(format: LogFormat, out: W) -> LogPrinter<W> {
        LogPrinter {
            format,
            out,
            spans: Spans::default(),
            processes: HashMap::new(),
        }
    }

    /// Takes in a record of `d`: span records update the span table, EVENT
    /// and PANIC records are printed. Returns whether a line was printed.
    pub fn record(&mut self, r: &Record, d: &Decoded) -> io::Result<bool> {
        self.spans.observe(r, &d.dictionary);
        if let Some(pid) = r.named_pid() {
            self.processes.insert(r.thread, pid);
        }
        match LogEvent::from_record(r, &d.dictionary, &self.spans) {
            Some(mut e) => {
                e.pid = d.pid(r).or_else(|| self.processes.get(&r.thread).copied());
                self.format.write_event(&mut self.out, &e).map(|()| true)
            }
            None => Ok(false),
        }
    }

    /// The spans seen so far.
    pub fn spans_mut(&mut self) -> &mut Spans {
        &mut self.spans
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// The line that tells what a ring lost, or `None` when it lost nothing:
/// `1234 slots lost to laps, 1 abandoned by killed writers, 0 corrupt`.
pub fn loss_summary(totals: &LaneStats) -> Option<String> {
    let lost = totals.lost_to_laps + totals.abandoned + totals.corrupt;
    (lost > 0).then(|| {
        format!(
            "{} lost to laps, {} abandoned by killed writers, {} corrupt",
            slots(totals.lost_to_laps),
            totals.abandoned,
            totals.corrupt
        )
    })
}

/// `1 slot`, `2 slots`: losses are counted in slots, and a record takes
/// one unless its values overflow into more.
pub(crate) fn slots(n: u64) -> String {
    format!("{n} slot{}", if n == 1 { "" } else { "s" })
}

/// What `caro-analyze logs` was asked to do.
#[derive(Clone, Debug)]
pub struct LogsOptions {
    pub ring: PathBuf,
    pub format: LogFormat,
    pub follow: bool,
}

/// Runs `caro-analyze logs`: prints the ring's events to `out`, then what
/// it lost to `err`; with `follow`, goes on printing new events forever.
pub fn run(opts: &LogsOptions, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    let ring = ring::load(&opts.ring)?;
    let mut printer = LogPrinter::new(opts.format, out);
    let mut follower = opts.follow.then(|| Follower::new(&opts.ring));
    match &mut follower {
        Some(f) => {
            f.ingest(&ring, &mut printer)?;
        }
        None => {
            for r in &ring.decoded.records {
                printer.record(r, &ring.decoded)?;
            }
        }
    }
    printer.flush()?;
    if let Some(summary) = loss_summary(&ring.decoded.totals()) {
        let _ = writeln!(err, "caro-analyze: {summary}");
    }
    match &mut follower {
        Some(f) => f.run(&mut printer, err),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_comes_from_the_environment() {
        let f = |v: Option<&str>| LogFormat::from_env_value(v.map(OsStr::new));
        assert_eq!(f(None).unwrap(), LogFormat::Pretty);
        assert_eq!(f(Some("")).unwrap(), LogFormat::Pretty);
        assert_eq!(f(Some("pretty")).unwrap(), LogFormat::Pretty);
        assert_eq!(f(Some("json")).unwrap(), LogFormat::Json);
        let e = f(Some("xml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"CARO_LOG_FORMAT is "xml", expected "json" or "pretty""#
        );
    }

    #[test]
    fn the_loss_summary_appears_only_after_a_loss() {
        assert_eq!(loss_summary(&LaneStats::default()), None);
        let t = LaneStats {
            lost_to_laps: 1234,
            abandoned: 1,
            ..LaneStats::default()
        };
        assert_eq!(
            loss_summary(&t).unwrap(),
            "1234 slots lost to laps, 1 abandoned by killed writers, 0 corrupt"
        );
    }
}

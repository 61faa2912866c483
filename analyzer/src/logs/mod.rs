//! The `logs` command: a ring's events as log lines, oldest first,
//! filtered by level, time and target, in the design's pretty form, one
//! line each (compact) or JSON, coloured on a terminal.
//!
//! - this module: the command, its filters, and the printer of lines;
//! - [`follow`]: `--follow`, new records as they are committed.
//!
//! It reads rings through the scrubber ([`crate::scrub::ring`],
//! [`crate::scrub::event`]) and renders with [`caro_format::render`]; it
//! needs nothing of the store.

pub mod follow;

use std::collections::{HashMap, VecDeque};
use std::ffi::OsStr;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use caro_format::render;
use caro_format::{Decoded, LaneStats, Level, Record};

use crate::error::{Error, Result};
use crate::logs::follow::Follower;
use crate::scrub::event::{self, LogEvent, Spans};
use crate::{scrub, time};

/// How log events are printed. Times are UTC, marked `Z`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// A line per event, an indented line per field, then a blank line
    /// (the design's form).
    Pretty,
    /// One line per event, fields as name=value (for grep and tail).
    Compact,
    /// One JSON object per line.
    Json,
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
            Some("compact") => Ok(LogFormat::Compact),
            Some("json") => Ok(LogFormat::Json),
            _ => Err(Error::BadSetting {
                name: Self::ENV.to_owned(),
                value: value.to_string_lossy().into_owned(),
                expected: r#""pretty", "compact" or "json""#.to_owned(),
            }),
        }
    }

    /// Writes one event in this format; `colour` adds ANSI escapes to the
    /// pretty and compact forms (JSON is for programs: never coloured).
    pub fn write_event(self, out: &mut dyn Write, e: &LogEvent, colour: bool) -> io::Result<()> {
        match self {
            LogFormat::Json => {
                let mut line = Vec::new();
                render::json::write(&mut line, e);
                out.write_all(&line)
            }
            LogFormat::Pretty | LogFormat::Compact => {
                let mut text = String::new();
                match self {
                    LogFormat::Compact => render::pretty::write_line(&mut text, e, colour),
                    _ => render::pretty::write(&mut text, e, colour),
                }
                out.write_all(text.as_bytes())
            }
        }
    }
}

/// When to colour the output (`--color`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless NO_COLOR is set (and not empty) or TERM is dumb.
    #[default]
    Auto,
    /// Always, even through a pipe, whatever NO_COLOR says.
    Always,
    /// Never.
    Never,
}

impl ColorWhen {
    /// Whether to colour what this process writes to stdout.
    pub fn for_stdout(self) -> bool {
        self.decide(
            io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
            std::env::var_os("TERM").as_deref(),
        )
    }

    /// The decision, from what the process sees. A flag given on the
    /// command line outranks NO_COLOR, as <https://no-color.org> asks; a
    /// dumb terminal cannot show escapes, as `report` also holds.
    pub fn decide(self, terminal: bool, no_color: Option<&OsStr>, term: Option<&OsStr>) -> bool {
        match self {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                terminal && no_color.is_none_or(OsStr::is_empty) && term.is_none_or(|t| t != "dumb")
            }
        }
    }
}

/// The least severe level `--level` shows, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MinLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl MinLevel {
    /// The format's level of the same name.
    pub fn level(self) -> Level {
        match self {
            MinLevel::Error => Level::Error,
            MinLevel::Warn => Level::Warn,
            MinLevel::Info => Level::Info,
            MinLevel::Debug => Level::Debug,
            MinLevel::Trace => Level::Trace,
        }
    }
}

/// Which events `logs` prints; the default lets every event through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this level and the more severe ones. An event of an unknown
    /// callsite has no known level and never passes.
    pub level: Option<Level>,
    /// Only events at or after this time (Unix nanoseconds).
    pub since_ns: Option<u64>,
    /// Only events at or before this time (Unix nanoseconds).
    pub until_ns: Option<u64>,
    /// Only events whose target is one of these or nested in one
    /// (`caro::agent` takes `caro::agent::backend`, not `caro::agents`);
    /// none: every target.
    pub targets: Vec<String>,
}

impl Filter {
    /// Whether an event at `time_ns` may pass: checked before the event is
    /// built, which most events of a `--since 1h` need not be.
    pub fn takes_time(&self, time_ns: u64) -> bool {
        self.since_ns.is_none_or(|t| time_ns >= t) && self.until_ns.is_none_or(|t| time_ns <= t)
    }

    /// Whether `e` passes.
    pub fn matches(&self, e: &LogEvent) -> bool {
        let level_ok = match self.level {
            None => true,
            Some(min) => level_named(e.level).is_some_and(|l| l >= min),
        };
        let target_ok =
            self.targets.is_empty() || self.targets.iter().any(|p| target_in(&e.target, p));
        level_ok && target_ok && self.takes_time(e.time_ns)
    }
}

/// The level a LogEvent names, if it is one.
fn level_named(name: &str) -> Option<Level> {
    [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
    ]
    .into_iter()
    .find(|l| l.name() == name)
}

/// Whether `target` is `prefix` or nested in it, as tracing's targets
/// nest: by whole `::` segments.
fn target_in(target: &str, prefix: &str) -> bool {
    target
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// The time `--since` or `--until` (`flag`) names: the forms of export's
/// `--since`, with the error naming the flag actually given.
pub fn parse_when(flag: &str, value: &str) -> Result<u64> {
    time::parse_since(value, time::now_ns()?).map_err(|e| match e {
        Error::BadSetting {
            value, expected, ..
        } => Error::BadSetting {
            name: flag.to_owned(),
            value,
            expected,
        },
        e => e,
    })
}

/// Prints records as log lines, keeping track of the spans they mention.
/// Feed it every record of a ring, oldest first.
#[derive(Debug)]
pub struct LogPrinter<W: Write> {
    format: LogFormat,
    colour: bool,
    filter: Filter,
    out: W,
    spans: Spans,
    /// Thread → process, from THREAD_START and PROCESS_START records: for
    /// rings older than the identity table (v1.3).
    processes: HashMap<u32, u32>,
}

impl<W: Write> LogPrinter<W> {
    /// A printer of every event, without colour.
    pub fn new(format: LogFormat, out: W) -> LogPrinter<W> {
        LogPrinter {
            format,
            colour: false,
            filter: Filter::default(),
            out,
            spans: event::spans(),
            processes: HashMap::new(),
        }
    }

    /// Colours the pretty and compact forms.
    pub fn with_colour(mut self, colour: bool) -> LogPrinter<W> {
        self.colour = colour;
        self
    }

    /// Prints only the events `filter` lets through.
    pub fn with_filter(mut self, filter: Filter) -> LogPrinter<W> {
        self.filter = filter;
        self
    }

    /// Takes in a record of `d`: span records update the span table;
    /// returns the log event of an EVENT or PANIC record that passes the
    /// filter, unprinted.
    pub fn event(&mut self, r: &Record, d: &Decoded) -> Option<LogEvent> {
        self.observe(r, d);
        if !self.filter.takes_time(r.time_ns) {
            return None;
        }
        let mut e = LogEvent::from_record(r, &d.dictionary, &self.spans)?;
        e.pid = d.pid(r).or_else(|| self.processes.get(&r.thread).copied());
        self.filter.matches(&e).then_some(e)
    }

    /// Takes in a record of `d` for what it says of spans and processes
    /// only. Every record, printed or not, may name the span or the
    /// process of a later event.
    pub fn observe(&mut self, r: &Record, d: &Decoded) {
        self.spans.observe(r, &d.dictionary);
        if let Some(pid) = r.named_pid() {
            self.processes.insert(r.thread, pid);
        }
    }

    /// Prints `e`.
    pub fn print(&mut self, e: &LogEvent) -> io::Result<()> {
        self.format.write_event(&mut self.out, e, self.colour)
    }

    /// Takes in a record of `d` ([`LogPrinter::event`]) and prints its
    /// event, if any. Returns whether a line was printed.
    pub fn record(&mut self, r: &Record, d: &Decoded) -> io::Result<bool> {
        match self.event(r, d) {
            Some(e) => self.print(&e).map(|()| true),
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

/// The past events `logs` prints: all of them as they come, or only the
/// last N, held until the end (so `-n` costs N events of memory, not the
/// ring's).
#[derive(Debug)]
enum History {
    All,
    Last(usize, VecDeque<LogEvent>),
}

impl History {
    fn new(last: Option<usize>) -> History {
        match last {
            None => History::All,
            Some(n) => History::Last(n, VecDeque::new()),
        }
    }

    /// Takes in a record of the history; returns whether it printed a
    /// line (only [`History::All`] prints as it goes).
    fn record<W: Write>(
        &mut self,
        printer: &mut LogPrinter<W>,
        r: &Record,
        d: &Decoded,
    ) -> io::Result<bool> {
        match self {
            // Following from now: only the spans and processes matter.
            History::Last(0, _) => printer.observe(r, d),
            History::All => {
                if let Some(e) = printer.event(r, d) {
                    return printer.print(&e).map(|()| true);
                }
            }
            History::Last(n, kept) => {
                if let Some(e) = printer.event(r, d) {
                    if kept.len() == *n {
                        kept.pop_front();
                    }
                    kept.push_back(e);
                }
            }
        }
        Ok(false)
    }

    fn finish<W: Write>(self, printer: &mut LogPrinter<W>) -> io::Result<()> {
        if let History::Last(_, kept) = self {
            for e in &kept {
                printer.print(e)?;
            }
        }
        Ok(())
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
    /// Colour the pretty and compact forms ([`ColorWhen::for_stdout`]).
    pub colour: bool,
    pub filter: Filter,
    /// Only the last N events that pass the filter (`-n`).
    pub last: Option<usize>,
    /// Print new events as they are recorded, after the last `last` ones
    /// (none when `last` is `None`: following starts from now).
    pub follow: bool,
}

/// Runs `caro-analyze logs`: prints the ring's events to `out`, then what
/// it lost to `err`; with `follow`, goes on printing new events forever.
pub fn run(opts: &LogsOptions, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    let ring = scrub::ring::load(&opts.ring)?;
    let mut printer = LogPrinter::new(opts.format, out)
        .with_colour(opts.colour)
        .with_filter(opts.filter.clone());
    // Following starts from now: the whole ring first would bury the new
    // lines under every old one.
    let last = match (opts.follow, opts.last) {
        (true, None) => Some(0),
        (_, last) => last,
    };
    let mut history = History::new(last);
    let mut follower = opts.follow.then(|| Follower::new(&opts.ring));
    match &mut follower {
        // The follower takes in what the ring holds now (its spans too),
        // so that it prints only what comes after.
        Some(f) => {
            f.ingest_with(&ring, &mut printer, |p, r, d| history.record(p, r, d))?;
        }
        None => {
            for r in &ring.decoded.records {
                history.record(&mut printer, r, &ring.decoded)?;
            }
        }
    }
    history.finish(&mut printer)?;
    printer.flush()?;
    // What was lost is news only to whoever reads the history.
    if last != Some(0) {
        if let Some(summary) = loss_summary(&ring.decoded.totals()) {
            let _ = writeln!(err, "caro-analyze: {summary}");
        }
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
        assert_eq!(f(Some("compact")).unwrap(), LogFormat::Compact);
        assert_eq!(f(Some("json")).unwrap(), LogFormat::Json);
        let e = f(Some("xml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"CARO_LOG_FORMAT is "xml", expected "pretty", "compact" or "json""#
        );
    }

    #[test]
    fn auto_colours_a_terminal_unless_no_color_or_a_dumb_terminal() {
        let nc = |v: &'static str| Some(OsStr::new(v));
        let auto = ColorWhen::Auto;
        assert!(auto.decide(true, None, None));
        assert!(
            auto.decide(true, nc(""), nc("xterm-256color")),
            "empty NO_COLOR is unset"
        );
        assert!(!auto.decide(true, nc("1"), None));
        assert!(!auto.decide(true, nc("0"), None), "any value but empty");
        assert!(!auto.decide(true, None, nc("dumb")));
        assert!(!auto.decide(false, None, None), "a pipe or a file");
        assert!(ColorWhen::Always.decide(false, nc("1"), nc("dumb")));
        assert!(!ColorWhen::Never.decide(true, None, None));
    }

    fn event(level: &'static str, target: &str, time_ns: u64) -> LogEvent {
        LogEvent {
            time_ns,
            level,
            target: target.to_owned(),
            pid: None,
            thread: 1,
            span: None,
            fields: Vec::new(),
        }
    }

    #[test]
    fn the_filter_takes_levels_targets_and_times() {
        let all = Filter::default();
        assert!(all.matches(&event(event::UNKNOWN_LEVEL, event::UNKNOWN_TARGET, 0)));
        let warn = Filter {
            level: Some(Level::Warn),
            ..Filter::default()
        };
        assert!(warn.matches(&event("ERROR", "caro", 0)));
        assert!(warn.matches(&event("WARN", "caro", 0)));
        assert!(!warn.matches(&event("INFO", "caro", 0)));
        assert!(!warn.matches(&event(event::UNKNOWN_LEVEL, "caro", 0)));
        let agent = Filter {
            targets: vec!["caro::agent".to_owned(), "panic".to_owned()],
            ..Filter::default()
        };
        for (target, taken) in [
            ("caro::agent", true),
            ("caro::agent::backend", true),
            ("panic", true),
            ("caro::agents", false),
            ("caro", false),
            ("caro::agent:", false),
        ] {
            assert_eq!(agent.matches(&event("INFO", target, 0)), taken, "{target}");
        }
        let window = Filter {
            since_ns: Some(10),
            until_ns: Some(20),
            ..Filter::default()
        };
        let times: Vec<u64> = (8..23).filter(|t| window.takes_time(*t)).collect();
        assert_eq!(times, (10..=20).collect::<Vec<_>>());
        assert!(!window.matches(&event("INFO", "caro", 21)));
    }

    #[test]
    fn until_errors_name_until() {
        let e = parse_when("--until", "soon").unwrap_err();
        assert!(
            e.to_string().starts_with(r#"--until is "soon", expected"#),
            "{e}"
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

//! The command line: arguments as clap parses them, and [`run`], which
//! turns them into a command's options and runs it.
//!
//! The top of the pipeline: it may use every module, and nothing uses it
//! but the binary. [`manual`] prints the completions and the man page.

pub mod manual;

use std::io::{self, BufWriter, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::assemble::trace::{self, Kept, Trace};
use crate::error::{exit, Result};
use crate::export::serve::{self, ServeOptions};
use crate::export::{self, telemetry, ExportFormat, ExportOptions};
use crate::logs::{self, LogFormat, LogsOptions};
use crate::report::{status, Report};
use crate::store::ingest::{self, DataPaths};
use crate::store::{clear, read_traces, Store, TraceQuery};
use crate::{read, time};

/// The data folder, with the ring `--ring` names instead of its own.
fn data_paths(ring: &RingArg) -> Result<DataPaths> {
    let mut paths = DataPaths::default_dir()?;
    if let Some(r) = &ring.ring {
        paths.ring = r.clone();
    }
    Ok(paths)
}

/// The store for a command that reads it: read-only with `no_ingest`
/// (it never waits for an ingest then), else after an ingest of its ring,
/// which must exist when `ring_named` (given with --ring).
fn store_for_reading(
    paths: &DataPaths,
    ring_named: bool,
    no_ingest: bool,
    now: u64,
    err: &mut dyn Write,
) -> Result<Store> {
    if no_ingest {
        return paths.read_store();
    }
    // The default ring may not exist yet (nothing recorded): the store is
    // still worth reading then.
    if ring_named && std::fs::symlink_metadata(&paths.ring).is_err() {
        return Err(crate::Error::NotFound {
            path: paths.ring.clone(),
        });
    }
    let (store, warnings) = paths.ingested_store(now, true)?;
    warn(err, &warnings)?;
    Ok(store)
}

/// Prints `warnings` on stderr, a line each.
fn warn(err: &mut dyn Write, warnings: &[String]) -> Result<()> {
    for w in warnings {
        writeln!(err, "caro-analyze: warning: {w}")?;
    }
    Ok(())
}

/// Reads caro's flight-recorder ring: its events as logs, its status, and
/// reports over the days it recorded.
#[derive(Debug, Parser)]
#[command(name = "caro-analyze", version, after_help = exit::table())]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the recorded events as log lines, oldest first.
    Logs(LogsArgs),
    /// Summarise the ring and the store: capacity, records, writers, what
    /// was lost, what is stored.
    Status(StatusArgs),
    /// Fold what the ring recorded since the last ingest into the store.
    Ingest(IngestArgs),
    /// Report on the last days: requests, invocations, latencies,
    /// failures, bottleneck.
    Report(ReportArgs),
    /// Delete what is older than the retention limits (30 days for the
    /// store, 7 for telemetry.log).
    Gc,
    /// Delete everything recorded and stored for this user.
    Clear(ClearArgs),
    /// Print the span trees of the requests the store kept (and of those
    /// still open), and of the invocations that served none, newest last;
    /// or the slowest, or one by its id.
    Traces(TracesArgs),
    /// Write traces, metrics or logs in a format other tools read.
    Export(ExportArgs),
    /// Serve /metrics (Prometheus/OpenMetrics) and /healthz over HTTP.
    Serve(ServeArgs),
    /// The choice about sharing anonymous aggregates (off unless turned
    /// on; nothing is ever sent), and what would be shared.
    Telemetry(TelemetryArgs),
    /// Print a completion script for SHELL on stdout.
    #[command(after_help = "\
Load it in the running shell, or install it where the shell looks:
  bash:  source <(caro-analyze completions bash)
         caro-analyze completions bash > ~/.local/share/bash-completion/completions/caro-analyze
  zsh:   caro-analyze completions zsh > ~/.zfunc/_caro-analyze   (with ~/.zfunc in fpath)
  fish:  caro-analyze completions fish > ~/.config/fish/completions/caro-analyze.fish")]
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout: `caro-analyze man | man -l -`.
    Man,
}

/// `caro-analyze telemetry`.
#[derive(Debug, clap::Args)]
pub struct TelemetryArgs {
    #[command(subcommand)]
    pub action: TelemetryAction,
    /// Turn telemetry sharing off for this run, whatever else says on (as
    /// caro's own --no-telemetry).
    #[arg(long, global = true)]
    pub no_telemetry: bool,
}

/// What to do with the telemetry choice.
#[derive(Debug, Subcommand)]
pub enum TelemetryAction {
    /// Whether sharing is on, and why.
    Status,
    /// Choose to share (any "off" — flag, CARO_TELEMETRY=0 — still wins).
    Enable,
    /// Choose not to share.
    Disable,
    /// Print exactly the bundle that would be shared, as JSON.
    Preview {
        /// Use the store as it is, without ingesting first.
        #[arg(long)]
        no_ingest: bool,
    },
}

/// `caro-analyze ingest`.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub ring: RingArg,
}

/// `caro-analyze report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The window: the last N UTC days, today included.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub days: u64,
    /// Print one JSON object (its schema is in the analyzer's docs).
    #[arg(long)]
    pub json: bool,
    /// Count only root spans named NAME as requests (repeatable)
    /// [default: every root span].
    #[arg(long = "request-span", value_name = "NAME")]
    pub request_spans: Vec<String>,
    /// Report on the store as it is, without ingesting first.
    #[arg(long)]
    pub no_ingest: bool,
    #[command(flatten)]
    pub ring: RingArg,
}

/// `caro-analyze traces`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The store keeps every failed, slow (over 1 s) or unfinished request, the first
1,000 of each day and 10 % of the rest (CARO_TRACE_SLOW_MS,
CARO_TRACE_FIRST_PER_DAY, CARO_TRACE_SAMPLE_RATE); `report` counts every
request. A trace's id is the one `export` writes (OTLP, Chrome); its first 16
digits find it too.")]
pub struct TracesArgs {
    /// Print only the trace with this id: 32 hex digits, or its first 16.
    #[arg(value_name = "ID", conflicts_with_all = ["slow", "errors", "last", "slowest"])]
    pub id: Option<String>,
    /// Only traces (requests, invocations) that took at least this long
    /// (`500ms`, `2s`).
    #[arg(long, value_name = "DURATION")]
    pub slow: Option<humantime::Duration>,
    /// Only traces with an error or a panic (or invocations that failed).
    #[arg(long)]
    pub errors: bool,
    /// The newest N traces, newest last.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub last: u64,
    /// The N slowest finished traces instead, slowest first.
    #[arg(long, value_name = "N", conflicts_with = "last")]
    pub slowest: Option<u64>,
    /// Print one JSON object per line, each span with its children.
    #[arg(long)]
    pub json: bool,
    /// Use the store as it is, without ingesting first.
    #[arg(long)]
    pub no_ingest: bool,
    #[command(flatten)]
    pub ring: RingArg,
}

/// `caro-analyze export`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
chrome, folded and otlp hold the traces the store kept, not every request: every
failed, slow (over 1 s) or unfinished one, the first 1,000 of each day and 10 %
of the rest (see `traces --help`). A flame graph of them over-weights slow and
failed requests; `report` has every request's span times. prometheus and
otlp's metrics count every request.")]
pub struct ExportArgs {
    /// What to write.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Only the traces and log lines since then: an RFC 3339 time, a day
    /// (`2026-01-15`, from its start, UTC), or a duration back from now
    /// (`2d`, `12h`). Metrics are always the store's totals, as counters
    /// must be.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Write to FILE (mode 0600) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// POST the OTLP export to a collector's OTLP/HTTP endpoint
    /// (`http://localhost:4318`) instead of writing it.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Use the store as it is, without ingesting first.
    #[arg(long)]
    pub no_ingest: bool,
    #[command(flatten)]
    pub ring: RingArg,
}

/// `caro-analyze serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The address to listen on: an IP address or a host name, and a port
    /// (9464 is the OpenTelemetry Prometheus exporter's port, not
    /// Prometheus' own 9090).
    #[arg(long, default_value = DEFAULT_LISTEN, value_name = "HOST:PORT")]
    pub listen: String,
    /// Allow an address other than loopback: other machines could then
    /// read the metrics.
    #[arg(long)]
    pub allow_remote: bool,
    /// Ingest on this interval (`30s`) instead of before every scrape.
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<humantime::Duration>,
    #[command(flatten)]
    pub ring: RingArg,
}

/// `caro-analyze clear`.
#[derive(Debug, clap::Args)]
pub struct ClearArgs {
    /// Do not ask (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// Where `serve` listens unless told.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

/// Where the ring is.
#[derive(Debug, clap::Args)]
pub struct RingArg {
    /// The ring file [default: $XDG_CACHE_HOME/caro/events.ring].
    #[arg(long, value_name = "FILE")]
    pub ring: Option<PathBuf>,
}

/// `caro-analyze logs`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Times are UTC, shown with a Z. WHEN is an RFC 3339 time (2026-01-15T14:32:15Z,
or with its offset), a day (2026-01-15, from its start, UTC) or a duration
back from now (2d, 12h, 30m).")]
pub struct LogsArgs {
    /// Output format [default: $CARO_LOG_FORMAT, else pretty].
    #[arg(long, value_enum)]
    pub format: Option<LogFormat>,
    /// Only events at LEVEL or more severe (error > warn > info > debug >
    /// trace).
    #[arg(long, value_enum, ignore_case = true, value_name = "LEVEL")]
    pub level: Option<logs::MinLevel>,
    /// Only events at or after WHEN (UTC; see below).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only events at or before WHEN (UTC; see below).
    #[arg(long, value_name = "WHEN", conflicts_with = "follow")]
    pub until: Option<String>,
    /// Only events whose target is PREFIX or nested in it (`caro::agent`
    /// takes `caro::agent::backend`); repeatable.
    #[arg(long = "target", value_name = "PREFIX")]
    pub targets: Vec<String>,
    /// Only the last N matching events; with --follow, the last N before
    /// following.
    #[arg(short = 'n', long = "lines", value_name = "N")]
    pub lines: Option<usize>,
    /// Print new events as they are recorded, from now on (with -n N,
    /// after the last N).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Colour the pretty and compact forms: auto does on a terminal unless
    /// NO_COLOR is set.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = logs::ColorWhen::Auto)]
    pub color: logs::ColorWhen,
    #[command(flatten)]
    pub ring: RingArg,
}

/// `caro-analyze status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub ring: RingArg,
}

/// Runs the command `args` asks for, writing to stdout and stderr.
pub fn run(args: &Args) -> Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut err = io::stderr();
    match &args.command {
        Command::Logs(a) => {
            let when = |flag: &str, value: &Option<String>| {
                value
                    .as_deref()
                    .map(|v| logs::parse_when(flag, v))
                    .transpose()
            };
            let opts = LogsOptions {
                ring: read::path_or_default(a.ring.ring.as_deref())?,
                format: match a.format {
                    Some(f) => f,
                    None => LogFormat::from_env()?,
                },
                colour: a.color.for_stdout(),
                filter: logs::Filter {
                    level: a.level.map(logs::MinLevel::level),
                    since_ns: when("--since", &a.since)?,
                    until_ns: when("--until", &a.until)?,
                    targets: a.targets.clone(),
                },
                last: a.lines,
                follow: a.follow,
            };
            logs::run(&opts, &mut out, &mut err)?;
        }
        Command::Status(a) => {
            let path = read::path_or_default(a.ring.ring.as_deref())?;
            let db = DataPaths::default_dir().ok().map(|p| p.db);
            status::run(&path, db.as_deref(), a.json, &mut out)?;
        }
        Command::Ingest(a) => {
            let paths = data_paths(&a.ring)?;
            let mut store = paths.open_store()?;
            let s = ingest::ingest(&mut store, &paths, time::now_ns()?, true)?;
            warn(&mut err, &s.warnings)?;
            let c = &s.counts;
            writeln!(
                out,
                "ingested {} records ({} requests); {} slots lost to laps, {} abandoned, {} dropped",
                c.written, s.requests, c.lost, c.abandoned, c.dropped
            )?;
            if s.expired > 0 {
                writeln!(out, "removed {} rows and days past retention", s.expired)?;
            }
            if let Some(p) = &s.snapshot {
                writeln!(
                    out,
                    "a panic was recorded: ring saved to {}",
                    caro_recorder::paths::shown(p)
                )?;
            }
        }
        Command::Report(a) => {
            let paths = data_paths(&a.ring)?;
            let now = time::now_ns()?;
            let store =
                store_for_reading(&paths, a.ring.ring.is_some(), a.no_ingest, now, &mut err)?;
            let r = Report::build_with(&store, a.days, now, &a.request_spans)?;
            if a.json {
                serde_json::to_writer(&mut out, &r.to_json()).map_err(io::Error::from)?;
                writeln!(out)?;
            } else {
                r.write_text(
                    &mut out,
                    crate::report::color_wanted(),
                    crate::report::layout::output_width(),
                )?;
            }
        }
        Command::Traces(a) => {
            let paths = data_paths(&a.ring)?;
            let now = time::now_ns()?;
            let store =
                store_for_reading(&paths, a.ring.ring.is_some(), a.no_ingest, now, &mut err)?;
            traces(&store, a, &mut out, &mut err)?;
        }
        Command::Export(a) => {
            let paths = data_paths(&a.ring)?;
            let now = time::now_ns()?;
            if a.endpoint.is_some() && a.format != ExportFormat::Otlp {
                return Err(crate::Error::BadSetting {
                    name: "--endpoint".to_owned(),
                    value: a.endpoint.clone().unwrap_or_default(),
                    expected: "--format otlp with it".to_owned(),
                });
            }
            let opts = ExportOptions {
                format: a.format,
                since_ns: a
                    .since
                    .as_deref()
                    .map(|s| time::parse_since(s, now))
                    .transpose()?,
                endpoint: a.endpoint.clone(),
            };
            let store =
                store_for_reading(&paths, a.ring.ring.is_some(), a.no_ingest, now, &mut err)?;
            let what = match &a.output {
                None => export::run(&store, &paths, &opts, now, &mut out)?,
                Some(file) => {
                    let mut bytes = Vec::new();
                    let what = export::run(&store, &paths, &opts, now, &mut bytes)?;
                    crate::files::write_atomically(file, &bytes)?;
                    format!("{what} written to {}", caro_recorder::paths::shown(file))
                }
            };
            writeln!(err, "exported {what}")?;
            if a.format.holds_traces() {
                writeln!(err, "caro-analyze: note: {}", export::KEPT_TRACES_NOTE)?;
            }
        }
        Command::Serve(a) => {
            let paths = data_paths(&a.ring)?;
            let addrs = resolve_listen(&a.listen)?;
            if addrs.iter().any(|a| !a.ip().is_loopback()) && !a.allow_remote {
                return Err(crate::Error::BadSetting {
                    name: "--listen".to_owned(),
                    value: a.listen.clone(),
                    expected: "a loopback address (pass --allow-remote to listen on others)"
                        .to_owned(),
                });
            }
            let opts = ServeOptions {
                listen: a.listen.clone(),
                addrs,
                interval: a.interval.map(Into::into),
            };
            serve::run(&paths, &opts, &mut err)?;
        }
        Command::Gc => {
            let paths = DataPaths::default_dir()?;
            let mut store = paths.open_store()?;
            let (n, warning) = ingest::gc(&mut store, &paths, time::now_ns()?)?;
            warn(&mut err, warning.as_slice())?;
            writeln!(out, "removed {n} expired rows and days")?;
        }
        Command::Clear(a) => clear::run(&DataPaths::default_dir()?, a.yes, &mut out)?,
        Command::Completions { shell } => {
            manual::completions(*shell, &mut Args::command(), &mut out)?;
        }
        Command::Man => manual::man_page(Args::command(), &mut out)?,
        Command::Telemetry(a) => {
            let paths = DataPaths::default_dir()?;
            match a.action {
                TelemetryAction::Status => {}
                TelemetryAction::Enable => telemetry::write_choice(&paths, true)?,
                TelemetryAction::Disable => telemetry::write_choice(&paths, false)?,
                TelemetryAction::Preview { no_ingest } => {
                    let now = time::now_ns()?;
                    let store = store_for_reading(&paths, false, no_ingest, now, &mut err)?;
                    let bundle = telemetry::Bundle::build(&store, now)?;
                    serde_json::to_writer_pretty(&mut out, &bundle).map_err(io::Error::from)?;
                    writeln!(out)?;
                    out.flush()?;
                    return Ok(());
                }
            }
            let state = telemetry::state(&paths, a.no_telemetry);
            write!(out, "{}", telemetry::status_text(&paths, &state))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// `serve --listen`: an address, or a host name and the addresses it
/// resolves to (`localhost:9464`).
fn resolve_listen(listen: &str) -> Result<Vec<SocketAddr>> {
    let bad = |why: &str| crate::Error::BadSetting {
        name: "--listen".to_owned(),
        value: listen.to_owned(),
        expected: format!("HOST:PORT, such as {DEFAULT_LISTEN} or localhost:9464 ({why})"),
    };
    let addrs: Vec<SocketAddr> = listen
        .to_socket_addrs()
        .map_err(|e| bad(&e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(bad("the name has no address"));
    }
    Ok(addrs)
}

/// `caro-analyze traces`: the trace with the id asked for, or those the
/// filters match (with the requests still open unless they cannot
/// match), newest last or slowest first.
fn traces(store: &Store, a: &TracesArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    let traces: Vec<(Trace, Option<Kept>)> = match &a.id {
        Some(id) => {
            let id = trace::parse_id(id)?;
            let mut found: Vec<_> = read_traces(
                store,
                &TraceQuery {
                    id: Some(id.clone()),
                    ..TraceQuery::default()
                },
            )?
            .into_iter()
            .map(|(t, k)| (t, Some(k)))
            .collect();
            if found.is_empty() {
                found.extend(
                    ingest::open_traces(store)?
                        .into_iter()
                        .filter(|t| t.id_hex().starts_with(&id))
                        .map(|t| (t, None)),
                );
            }
            if found.is_empty() {
                return Err(crate::Error::TraceNotFound { id });
            }
            found
        }
        None => {
            let q = TraceQuery {
                min_ns: a
                    .slow
                    .map(|d| d.as_nanos().min(u128::from(u64::MAX)) as u64),
                errors: a.errors,
                last: Some(a.last),
                slowest: a.slowest,
                ..TraceQuery::default()
            };
            let mut traces: Vec<_> = read_traces(store, &q)?
                .into_iter()
                .map(|(t, k)| (t, Some(k)))
                .collect();
            // Open requests are unfinished so far: shown, never as slow
            // nor among the slowest.
            if a.slow.is_none() && a.slowest.is_none() {
                let open = ingest::open_traces(store)?;
                traces.extend(
                    open.into_iter()
                        .filter(|t| !a.errors || t.error)
                        .map(|t| (t, None)),
                );
                traces.sort_by_key(|(t, _)| t.root().start_ns);
                let excess = traces.len().saturating_sub(a.last as usize);
                traces.drain(..excess);
            }
            traces
        }
    };
    for (n, (t, kept)) in traces.iter().enumerate() {
        if a.json {
            serde_json::to_writer(&mut *out, &t.to_json(*kept)).map_err(io::Error::from)?;
            writeln!(out)?;
        } else {
            if n > 0 {
                writeln!(out)?;
            }
            t.write_text(out, *kept)?;
        }
    }
    if traces.is_empty() && !a.json {
        writeln!(err, "no traces match")?;
    }
    Ok(())
}

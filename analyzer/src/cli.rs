//! The command line: arguments as clap parses them, and [`run`], which
//! turns them into a command's options and runs it.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::error::Result;
use crate::logs::{self, LogFormat, LogsOptions};
use crate::{ring, status};

/// Reads caro's flight-recorder ring: its events as logs, and its status.
#[derive(Debug, Parser)]
#[command(name = "caro-analyze", version)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the recorded events as log lines, oldest first.
    Logs(LogsArgs),
    /// Summarise the ring: capacity, records, writers and what was lost.
    Status(StatusArgs),
}

/// Where the ring is.
#[derive(Debug, clap::Args)]
pub struct RingArg {
    /// The ring file [default: $XDG_CACHE_HOME/caro/events.ring].
    #[arg(long, value_name = "FILE")]
    pub ring: Option<PathBuf>,
}

/// `caro-analyze logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Output format [default: $CARO_LOG_FORMAT, else pretty].
    #[arg(long, value_enum)]
    pub format: Option<LogFormat>,
    /// Keep printing events as they are recorded.
    #[arg(long, short = 'f')]
    pub follow: bool,
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
            let opts = LogsOptions {
                ring: ring::path_or_default(a.ring.ring.as_deref())?,
                format: match a.format {
                    Some(f) => f,
                    None => LogFormat::from_env()?,
                },
                follow: a.follow,
            };
            logs::run(&opts, &mut out, &mut err)?;
        }
        Command::Status(a) => {
            let path = ring::path_or_default(a.ring.ring.as_deref())?;
            status::run(&path, a.json, &mut out)?;
        }
    }
    out.flush()?;
    Ok(())
}

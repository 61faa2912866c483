//! The one error type of the analyzer: every way a command can fail, each
//! saying what went wrong and where, in a single line.
//!
//! At the bottom of the crate with [`crate::time`] and [`crate::files`]:
//! it uses nothing of the crate, and every module uses it.

use std::io;
use std::path::PathBuf;

use caro_format::DecodeError;

/// Why a command failed. `main` prints it as one line and exits with its
/// [`Error::exit_code`], except for [`Error::is_broken_pipe`], which means
/// the reader of our output went away and is not an error at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No file at the ring's path.
    #[error(
        "no ring at {}: nothing has been recorded yet (or pass --ring FILE)",
        caro_recorder::paths::shown(path)
    )]
    NotFound { path: PathBuf },
    /// The path exists but is a link, a folder, a device or a pipe: never
    /// followed, never opened.
    #[error("{} is {kind}, not a regular file", caro_recorder::paths::shown(path))]
    NotAFile { path: PathBuf, kind: &'static str },
    /// A data folder that is a file (or a device, or a pipe).
    #[error("{} is not a folder", caro_recorder::paths::shown(path))]
    NotAFolder { path: PathBuf },
    /// A data folder or file that belongs to another user.
    #[error(
        "{} belongs to another user (uid {uid}); caro-analyze keeps your data only in a folder of your own",
        caro_recorder::paths::shown(path)
    )]
    Foreign { path: PathBuf, uid: u32 },
    /// A data folder that other users may write in (and so plant links).
    #[error(
        "{} is writable by other users (mode {mode:04o}); make it private with `chmod 700`",
        caro_recorder::paths::shown(path)
    )]
    OpenToOthers { path: PathBuf, mode: u32 },
    /// A ring too large for the memory this process may use.
    #[error(
        "out of memory: {} is {size} bytes, more than caro-analyze may allocate here",
        caro_recorder::paths::shown(path)
    )]
    OutOfMemory { path: PathBuf, size: u64 },
    /// The file is larger than any ring can be; refused before reading it.
    #[error(
        "{} is {size} bytes, larger than a ring can be ({max} bytes)",
        caro_recorder::paths::shown(path)
    )]
    TooLarge { path: PathBuf, size: u64, max: u64 },
    /// The file could not be opened or read.
    #[error("cannot read {}: {source}", caro_recorder::paths::shown(path))]
    Read { path: PathBuf, source: io::Error },
    /// The file was read but is not a ring this reader understands.
    #[error("{}: {source}", caro_recorder::paths::shown(path))]
    Decode { path: PathBuf, source: DecodeError },
    /// `--ring` was not given and there is no home folder to look in.
    #[error(
        "cannot find the ring: no home folder is known (set XDG_CACHE_HOME or pass --ring FILE)"
    )]
    NoDefaultPath,
    /// `CARO_NOW` is not an RFC 3339 time.
    #[error("CARO_NOW is {value:?}, expected an RFC 3339 time such as 2026-01-15T14:32:15Z")]
    BadNow { value: String },
    /// An environment variable or option holds something unusable.
    #[error("{name} is {value:?}, expected {expected}")]
    BadSetting {
        name: String,
        value: String,
        expected: String,
    },
    /// Another process holds the store's write lock for too long.
    #[error(
        "{} is locked by another process (an ingest still running?); try again",
        caro_recorder::paths::shown(path)
    )]
    StoreLocked { path: PathBuf },
    /// The store's disk is full, or failing.
    #[error(
        "{}: the disk is full or failing ({source})",
        caro_recorder::paths::shown(path)
    )]
    StoreDisk {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// The store is not a SQLite database, or not ours.
    #[error(
        "{} is not a caro metrics store ({why}); move it away or delete it with `caro-analyze clear`",
        caro_recorder::paths::shown(path)
    )]
    NotAStore { path: PathBuf, why: String },
    /// The store was written by a newer caro-analyze.
    #[error(
        "{} has schema version {version}, newer than this caro-analyze ({supported}); upgrade caro-analyze",
        caro_recorder::paths::shown(path)
    )]
    NewerStore {
        path: PathBuf,
        version: i64,
        supported: i64,
    },
    /// SQLite failed otherwise (a full disk, a read-only folder, I/O).
    #[error("{}: {source}", caro_recorder::paths::shown(path))]
    Store {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// A file beside the store could not be written or read.
    #[error("cannot write {}: {source}", caro_recorder::paths::shown(path))]
    Write { path: PathBuf, source: io::Error },
    /// `clear` without `--yes` where nobody can be asked.
    #[error(
        "clear deletes everything listed above; pass --yes to confirm (stdin is not a terminal)"
    )]
    ClearNeedsYes,
    /// A collector did not take what was sent to it.
    #[error("cannot send to {url}: {why}")]
    Send { url: String, why: String },
    /// `serve` could not listen where it was asked to.
    #[error("cannot listen on {addr}: {why}")]
    Listen { addr: String, why: String },
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(#[source] io::Error),
    /// `traces ID`: no trace of the store (nor an open request) has it.
    #[error("no trace {id} in the store (it may not have been kept: see `traces --help`)")]
    TraceNotFound { id: String },
}

/// The exit codes, as `caro-analyze --help` lists them. Scripts tell
/// "nothing recorded yet" (3) from "this file is damaged" (4) from "try
/// again" (1) without reading the message.
pub mod exit {
    /// Success (and a reader that went away, `| head`).
    pub const OK: u8 = 0;
    /// A file or the store could not be read or written, or anything else
    /// failed at run time: a locked store, a full disk, a refused listen.
    pub const IO: u8 = 1;
    /// A usage error: clap's own, or a setting or value that is wrong.
    pub const USAGE: u8 = 2;
    /// Nothing to read: no ring at the path, no trace with that id.
    pub const NO_DATA: u8 = 3;
    /// A damaged or foreign file: a ring that does not decode, a store that
    /// is not ours or of a newer schema.
    pub const DATA: u8 = 4;

    /// Each code with what it means, as `--help` and the manual page list
    /// them (and README.md repeats).
    pub const CODES: [(u8, &str); 5] = [
        (OK, "success"),
        (
            IO,
            "I/O error: a file or the store cannot be read or written (locked, disk full, \
             permissions), or another failure at run time",
        ),
        (
            USAGE,
            "usage: a wrong argument, option, setting or environment variable",
        ),
        (
            NO_DATA,
            "no data: no ring at the path, no trace with that id",
        ),
        (
            DATA,
            "data error: a damaged or foreign ring or store (does not decode, not caro's, \
             of a newer schema)",
        ),
    ];

    /// The table `caro-analyze --help` ends with.
    pub fn table() -> String {
        let mut out = String::from("Exit codes:");
        for (code, meaning) in CODES {
            out += &format!("\n  {code}  ");
            let mut used = 0;
            for word in meaning.split(' ') {
                if used > 0 && used + 1 + word.len() > 70 {
                    out += "\n     ";
                    used = 0;
                } else if used > 0 {
                    out.push(' ');
                    used += 1;
                }
                out += word;
                used += word.len();
            }
        }
        out
    }
}

impl Error {
    /// The process's exit code for this error ([`exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::NotFound { .. } | Error::TraceNotFound { .. } => exit::NO_DATA,
            Error::Decode { .. }
            | Error::TooLarge { .. }
            | Error::NotAStore { .. }
            | Error::NewerStore { .. } => exit::DATA,
            Error::NoDefaultPath
            | Error::BadNow { .. }
            | Error::BadSetting { .. }
            | Error::ClearNeedsYes => exit::USAGE,
            Error::NotAFile { .. }
            | Error::NotAFolder { .. }
            | Error::Foreign { .. }
            | Error::OpenToOthers { .. }
            | Error::OutOfMemory { .. }
            | Error::Read { .. }
            | Error::StoreLocked { .. }
            | Error::StoreDisk { .. }
            | Error::Store { .. }
            | Error::Write { .. }
            | Error::Send { .. }
            | Error::Listen { .. }
            | Error::Output(_) => exit::IO,
        }
    }

    /// Whether the error is only that stdout was closed (`caro-analyze logs
    /// | head`): the command stops quietly and exits with 0.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl From<io::Error> for Error {
    /// I/O errors without a path are output errors: every read of the
    /// ring names its file.
    fn from(e: io::Error) -> Error {
        Error::Output(e)
    }
}

/// The analyzer's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

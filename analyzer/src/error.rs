//! The one error type of the analyzer: every way a command can fail, each
//! saying what went wrong and where, in a single line.

use std::io;
use std::path::PathBuf;

use caro_format::DecodeError;

/// Why a command failed. `main` prints it as one line and exits with 2,
/// except for [`Error::is_broken_pipe`], which means the reader of our
/// output went away and is not an error at all.
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
        "{} is {size} bytes, larger than a ring can be ({} bytes)",
        caro_recorder::paths::shown(path),
        crate::ring::MAX_RING_BYTES
    )]
    TooLarge { path: PathBuf, size: u64 },
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
    /// `CARO_LOG_FORMAT` holds something other than `json` or `pretty`.
    #[error("CARO_LOG_FORMAT is {value:?}, expected \"json\" or \"pretty\"")]
    BadLogFormat { value: String },
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
        "{} has schema version {version}, newer than this caro-analyze ({}); upgrade caro-analyze",
        caro_recorder::paths::shown(path),
        crate::store::SCHEMA_VERSION
    )]
    NewerStore { path: PathBuf, version: i64 },
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
}

impl Error {
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

//! The store: `metrics.db`, SQLite in WAL mode, beside the ring, and the
//! files kept with it (`telemetry.log`, `crashes/`).
//!
//! Every ingest is one `BEGIN IMMEDIATE` transaction that holds the cursor
//! and everything folded in with it, so an ingest killed at any point
//! leaves the store as it was, and two ingests run one after the other.
//!
//! - this module: opening the store for writing ([`Store::open`]) or
//!   reading ([`Store::open_reader`]), SQLite's errors as the analyzer's
//!   ([`classify`]), and what `status` shows of it ([`StoreStatus`]);
//! - [`schema`](mod@schema): the tables, their versions and the upgrades between them;
//! - [`writer`]: the one write transaction of a command, and retention;
//! - [`query`]: histograms and traces read back, checked;
//! - [`ingest`]: the ring's new records folded in, exactly once, with
//!   `telemetry.log` and crash snapshots beside the store;
//! - [`clear`]: everything the recorder and the analyzer keep, deleted.
//!
//! The store sits above the assembly, the scrubber and the reader (which
//! `ingest` drives) and below the report and the exports; it may use those
//! below it, [`crate::files`], [`crate::time`] and [`crate::error`].

pub mod clear;
pub mod ingest;
pub mod query;
pub mod schema;
pub mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};

pub use query::{merged_histograms, read_histogram, read_trace, read_traces, TraceQuery};
use schema::{schema, Schema};
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
pub use writer::{RecorderCounts, Writer, RETENTION_DAYS};

use crate::error::{Error, Result};
use crate::files;

/// How long a command waits for another one's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(20);

/// The store, open.
#[derive(Debug)]
pub struct Store {
    pub path: PathBuf,
    conn: Connection,
}

impl Store {
    /// Opens the store at `path` for writing, creating it (and its schema)
    /// if missing. The store and the journal files SQLite keeps beside it
    /// must be regular files of this user's: a link is refused, never
    /// followed.
    pub fn open(path: &Path) -> Result<Store> {
        for file in store_files(path) {
            files::make_private(&file)?;
        }
        // Created private before SQLite opens it: its journal files take
        // the database's mode.
        files::create_private(path)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::default() | OpenFlags::SQLITE_OPEN_NOFOLLOW,
        )
        .map_err(|e| classify(path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| classify(path, e))?;
        let mut store = Store {
            path: path.to_owned(),
            conn,
        };
        store.prepare_schema()?;
        Ok(store)
    }

    /// Opens the store at `path` for reading only, without waiting for a
    /// writer (WAL readers read the last commit): on a full disk too.
    /// `None` when there is no store yet, or one that only a writer can
    /// bring up to date ([`Store::open`] then).
    pub fn open_reader(path: &Path) -> Result<Option<Store>> {
        let Some(conn) = connect_reader(path)? else {
            return Ok(None);
        };
        match schema(&conn, path)? {
            Schema::Current => Ok(Some(Store {
                path: path.to_owned(),
                conn,
            })),
            Schema::Empty | Schema::Older(_) => Ok(None),
        }
    }

    /// Maps a SQLite error to the one-line error a user reads.
    pub fn error(&self, source: rusqlite::Error) -> Error {
        classify(&self.path, source)
    }

    /// Puts the store in WAL mode (once; the mode is kept in the file).
    /// The switch needs the file to itself and SQLite does not wait for
    /// it, so it is retried while other commands hold it.
    fn use_wal(&self) -> Result<()> {
        let started = std::time::Instant::now();
        loop {
            let mode: String = self
                .conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .map_err(|e| classify(&self.path, e))?;
            if mode.eq_ignore_ascii_case("wal") {
                return Ok(());
            }
            let switched = self
                .conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0));
            match switched {
                Ok(_) => {}
                Err(e)
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                        && started.elapsed() < BUSY_TIMEOUT =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(classify(&self.path, e)),
            }
        }
    }

    /// Starts the one write transaction of a command, waiting for any
    /// other command's to end.
    pub fn write(&mut self) -> Result<Writer<'_>> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| classify(&path, e))?;
        Ok(Writer { path, tx })
    }

    /// The connection, for reading.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// A `meta` value.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| classify(&self.path, e))
    }
}

/// The store at `path` and the files SQLite keeps beside it.
pub fn store_files(path: &Path) -> [PathBuf; 4] {
    let beside = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    };
    [
        path.to_owned(),
        beside("-wal"),
        beside("-shm"),
        beside("-journal"),
    ]
}

/// A connection for reading the store at `path`, or `None` if there is
/// none. It never starts a write transaction, so it never waits for a
/// writer (WAL readers read the last commit); it is not opened read-only
/// so that, the last to close, it removes the `-wal` and `-shm` files as
/// a writer would. A WAL reader needs its `-shm` file, which it may have
/// to create; where that fails (a full disk) the store is read as it is
/// on disk, without the WAL's latest commits (`immutable`), rather than
/// not at all.
fn connect_reader(path: &Path) -> Result<Option<Connection>> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    for file in store_files(path) {
        files::absent_or_own_file(&file)?;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NOFOLLOW
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connect = |name: &Path, flags: OpenFlags| -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(name, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.query_row("PRAGMA application_id", [], |r| r.get::<_, i64>(0))?;
        Ok(conn)
    };
    match connect(path, flags) {
        Ok(conn) => Ok(Some(conn)),
        Err(e) if is_disk_error(&e) => {
            let read_only = OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NOFOLLOW
                | OpenFlags::SQLITE_OPEN_URI;
            connect(Path::new(&immutable_uri(path)), read_only)
                .map(Some)
                .map_err(|_| classify(path, e))
        }
        Err(e) => Err(classify(path, e)),
    }
}

fn is_disk_error(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        e.sqlite_error_code(),
        Some(DiskFull | SystemIoFailure | CannotOpen | ReadOnly)
    )
}

/// `file:` URI of `path` read as immutable: no locks, no `-shm`.
fn immutable_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// The one-line error of a SQLite failure at `path`.
pub fn classify(path: &Path, source: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode::*;
    match source.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => Error::StoreLocked {
            path: path.to_owned(),
        },
        Some(NotADatabase) => Error::NotAStore {
            path: path.to_owned(),
            why: "not a SQLite database".to_owned(),
        },
        Some(DatabaseCorrupt) => Error::NotAStore {
            path: path.to_owned(),
            why: "the database is corrupt".to_owned(),
        },
        // SQLite says "disk I/O error" when a write fails for want of room.
        Some(DiskFull | SystemIoFailure) => Error::StoreDisk {
            path: path.to_owned(),
            source,
        },
        _ => Error::Store {
            path: path.to_owned(),
            source,
        },
    }
}

/// The store as `status` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreStatus {
    pub path: PathBuf,
    /// The database and its WAL, in bytes.
    pub size: u64,
    /// The first and last UTC day with data.
    pub days: Option<(i64, i64)>,
    /// Rows of `events`: requests.
    pub requests: u64,
    /// Traces kept by the sampling policy (none in a store of schema 1).
    pub traces: u64,
    pub last_ingest_ns: Option<u64>,
}

impl StoreStatus {
    /// Reads the store at `path` without changing it; `None` when there
    /// is no store yet.
    pub fn read(path: &Path) -> Result<Option<StoreStatus>> {
        let Some(conn) = connect_reader(path)? else {
            return Ok(None);
        };
        let err = |e| classify(path, e);
        let app: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(err)?;
        if app != APPLICATION_ID {
            return Err(Error::NotAStore {
                path: path.to_owned(),
                why: "a SQLite database of something else".to_owned(),
            });
        }
        let days = conn
            .query_row("SELECT min(day), max(day) FROM histograms", [], |r| {
                Ok(r.get::<_, Option<i64>>(0)?.zip(r.get::<_, Option<i64>>(1)?))
            })
            .map_err(err)?;
        let requests = conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .map_err(err)?;
        // Read-only, a store of schema 1 is not upgraded: it has no table.
        let has_traces: bool = conn
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'traces'",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        let traces = match has_traces {
            true => conn
                .query_row("SELECT count(*) FROM traces", [], |r| r.get(0))
                .map_err(err)?,
            false => 0,
        };
        let last_ingest_ns = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'last_ingest_ns'",
                [],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(err)?
            .and_then(|v| v.parse().ok());
        let size = store_files(path)[..2]
            .iter()
            .filter_map(|p| std::fs::symlink_metadata(p).ok())
            .map(|m| m.len())
            .sum();
        Ok(Some(StoreStatus {
            path: path.to_owned(),
            size,
            days,
            requests,
            traces,
            last_ingest_ns,
        }))
    }
}

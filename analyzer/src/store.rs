//! The store: `metrics.db`, SQLite in WAL mode, beside the ring.
//!
//! | table | one row per |
//! |---|---|
//! | `events` | finished request: `timestamp` (Unix seconds), `event_type` (`command_generated`, `command_failed`, `command_blocked`, `panic`), `backend`, `intent`, `latency_ms`, `success`, `error_category`, `risk_level`, `request_id`, `span_self_us` (JSON: span name → self time in µs), `root_span` (its root span's name; none in rows of schema 2 and older) |
//! | `invocations` | process run (PROCESS_START to its PROCESS_EXIT, or given up): `timestamp` (its end, Unix seconds), `start_ns`, `latency_ms`, `outcome` (`ok`, `failed`, `panicked`, `unfinished`), `status` (exit status, when recorded), `warnings`, `errors` (its WARN and ERROR events), `version` (the host's) |
//! | `callsites` | UTC day, level (`WARN`, `ERROR`), target and message template (program text, run-time arguments as `{}`): events, and invocations they occurred in |
//! | `histograms` | UTC day (days since 1970), kind (`request`, `span`, `span_backend`, `metric`, `invocation`), name, backend: an HdrHistogram (µs, 3 significant digits) in its V2 serialization, merged ingest by ingest |
//! | `counters`, `gauges` | day and metric name: the sum, or the last value |
//! | `levels` | day and level: events recorded |
//! | `processes` | process exit: CPU time, peak memory, open descriptors |
//! | `panics` | panic: time, thread, source file and line |
//! | `recorder` | day of an ingest: records ingested, slots lost to laps, abandoned, records dropped, spans given up, slots unreadable |
//! | `meta` | the ingest's cursor and open spans, requests and invocations, the telemetry.log state |
//!
//! Every ingest is one `BEGIN IMMEDIATE` transaction that holds the cursor
//! and everything folded in with it, so an ingest killed at any point
//! leaves the store as it was, and two ingests run one after the other.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::assemble::{Batch, HistKind};
use crate::error::{Error, Result};
use crate::files;
use crate::time::{self, DAY_NS};
use crate::trace::{Kept, Trace};

/// The store's schema version (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 3;
/// `PRAGMA application_id`: "caro".
pub const APPLICATION_ID: i64 = 0x6361_726f;
/// Rows and histograms are kept this many days.
pub const RETENTION_DAYS: u64 = 30;
/// How long a command waits for another one's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(20);

const SCHEMA: &str = "
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    backend TEXT,
    intent TEXT,
    latency_ms REAL NOT NULL,
    success INTEGER NOT NULL,
    error_category TEXT,
    risk_level TEXT,
    request_id INTEGER,
    span_self_us TEXT NOT NULL
);
CREATE INDEX events_by_time ON events(timestamp);
-- The report's slowest requests, without sorting them all.
CREATE INDEX events_by_latency ON events(latency_ms);
CREATE TABLE histograms (
    day INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    backend TEXT NOT NULL,
    count INTEGER NOT NULL,
    hist BLOB NOT NULL,
    PRIMARY KEY (day, kind, name, backend)
) WITHOUT ROWID;
CREATE TABLE counters (
    day INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (day, name)
) WITHOUT ROWID;
CREATE TABLE gauges (
    day INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, time_ns INTEGER NOT NULL,
    PRIMARY KEY (day, name)
) WITHOUT ROWID;
CREATE TABLE levels (
    day INTEGER NOT NULL, level TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (day, level)
) WITHOUT ROWID;
CREATE TABLE processes (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    cpu_user_us INTEGER NOT NULL,
    cpu_system_us INTEGER NOT NULL,
    peak_rss_kib INTEGER NOT NULL,
    open_fds INTEGER NOT NULL,
    wall_us INTEGER NOT NULL
);
CREATE TABLE panics (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,
    thread INTEGER NOT NULL,
    file TEXT NOT NULL,
    line INTEGER NOT NULL
);
CREATE TABLE recorder (
    day INTEGER PRIMARY KEY,
    written INTEGER NOT NULL,
    lost INTEGER NOT NULL,
    abandoned INTEGER NOT NULL,
    dropped INTEGER NOT NULL,
    unfinished INTEGER NOT NULL,
    corrupt INTEGER NOT NULL
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
";

/// What version 2 added to version 1: the sampled traces, whole, as
/// zstd-compressed JSON ([`Trace`]), with what `traces` filters on.
const SCHEMA_2: &str = "
CREATE TABLE traces (
    trace_id TEXT PRIMARY KEY,
    timestamp INTEGER NOT NULL,
    start_ns INTEGER NOT NULL,
    latency_ms REAL,
    error INTEGER NOT NULL,
    kept TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX traces_by_time ON traces(timestamp);
";

/// What version 3 added to version 2: invocations, warnings and errors
/// by callsite, and each request's root span name (`report
/// --request-span`).
const SCHEMA_3: &str = "
ALTER TABLE events ADD COLUMN root_span TEXT;
CREATE TABLE invocations (
    id INTEGER PRIMARY KEY,
    timestamp INTEGER NOT NULL,
    start_ns INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    outcome TEXT NOT NULL,
    status INTEGER,
    warnings INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    version TEXT
);
CREATE INDEX invocations_by_time ON invocations(timestamp);
-- The report's slowest invocations, without sorting them all.
CREATE INDEX invocations_by_latency ON invocations(latency_ms);
CREATE TABLE callsites (
    day INTEGER NOT NULL,
    level TEXT NOT NULL,
    target TEXT NOT NULL,
    message TEXT NOT NULL,
    events INTEGER NOT NULL,
    invocations INTEGER NOT NULL,
    PRIMARY KEY (day, level, target, message)
) WITHOUT ROWID;
";

/// What each version added, from version 2 on: `UPGRADES[i]` takes a
/// store of version `i + 1` to `i + 2`.
const UPGRADES: [&str; 2] = [SCHEMA_2, SCHEMA_3];

/// The store, open.
#[derive(Debug)]
pub struct Store {
    pub path: PathBuf,
    conn: Connection,
}

/// What one ingest adds to the recorder's own counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecorderCounts {
    pub written: u64,
    pub lost: u64,
    pub abandoned: u64,
    pub dropped: u64,
    pub unfinished: u64,
    /// Slots that could not be read: damaged, or of a newer format.
    pub corrupt: u64,
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

    fn prepare_schema(&mut self) -> Result<()> {
        let path = self.path.clone();
        let err = |e| classify(&path, e);
        // One transaction: what is checked is one state of the file, and
        // commands creating the store at once create it once.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        match schema(&tx, &path)? {
            Schema::Current => {}
            Schema::Older(version) => {
                for upgrade in &UPGRADES[version as usize - 1..] {
                    tx.execute_batch(upgrade).map_err(err)?;
                }
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                    .map_err(err)?;
            }
            Schema::Empty => {
                tx.execute_batch(SCHEMA).map_err(err)?;
                for upgrade in UPGRADES {
                    tx.execute_batch(upgrade).map_err(err)?;
                }
                tx.pragma_update(None, "application_id", APPLICATION_ID)
                    .map_err(err)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        self.use_wal()
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

/// What a store's file holds.
enum Schema {
    /// Nothing yet: a file just created.
    Empty,
    /// An older schema (1 to [`SCHEMA_VERSION`] − 1), which a writer
    /// upgrades.
    Older(i64),
    Current,
}

/// Reads which schema the store on `conn` has; anything else is an error.
fn schema(conn: &Connection, path: &Path) -> Result<Schema> {
    let read = |pragma: &str| -> Result<i64> {
        conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
            .map_err(|e| classify(path, e))
    };
    let (app, version) = (read("application_id")?, read("user_version")?);
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(|e| classify(path, e))?;
    match (app, version) {
        (0, 0) if tables == 0 => Ok(Schema::Empty),
        (APPLICATION_ID, SCHEMA_VERSION) => Ok(Schema::Current),
        (APPLICATION_ID, v) if (1..SCHEMA_VERSION).contains(&v) => Ok(Schema::Older(v)),
        (APPLICATION_ID, v) if v > SCHEMA_VERSION => Err(Error::NewerStore {
            path: path.to_owned(),
            version: v,
        }),
        (APPLICATION_ID, v) => Err(Error::NotAStore {
            path: path.to_owned(),
            why: format!("unknown schema version {v}"),
        }),
        _ => Err(Error::NotAStore {
            path: path.to_owned(),
            why: "a SQLite database of something else".to_owned(),
        }),
    }
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

/// A write transaction: commits only when [`Writer::commit`] is called.
#[derive(Debug)]
pub struct Writer<'a> {
    path: PathBuf,
    tx: rusqlite::Transaction<'a>,
}

impl Writer<'_> {
    /// The store's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        |e| classify(&self.path, e)
    }

    /// A `meta` value.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.err())
    }

    /// Sets a `meta` value.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(drop)
            .map_err(self.err())
    }

    /// Adds everything in `batch`, merging histograms and counts with
    /// those already stored.
    pub fn add(&self, batch: &Batch) -> Result<()> {
        let err = self.err();
        {
            let mut get = self
                .tx
                .prepare_cached(
                    "SELECT hist FROM histograms WHERE day = ?1 AND kind = ?2 AND name = ?3 AND backend = ?4",
                )
                .map_err(&err)?;
            let mut put = self
                .tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO histograms (day, kind, name, backend, count, hist)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(&err)?;
            for (key, h) in &batch.histograms {
                let mut h = h.clone();
                let k = (key.day, key.kind.name(), &key.name, &key.backend);
                let stored: Option<Vec<u8>> = get
                    .query_row(params![k.0, k.1, k.2, k.3], |r| r.get(0))
                    .optional()
                    .map_err(&err)?;
                if let Some(blob) = stored {
                    h.add(read_histogram(&self.path, &blob)?)
                        .map_err(|e| self.corrupt(format!("histogram cannot be merged: {e}")))?;
                }
                let mut blob = Vec::new();
                V2Serializer::new()
                    .serialize(&h, &mut blob)
                    .map_err(|e| self.corrupt(format!("histogram cannot be written: {e}")))?;
                put.execute(params![k.0, k.1, k.2, k.3, h.len() as i64, blob])
                    .map_err(&err)?;
            }
        }
        let mut add_counter = self
            .tx
            .prepare_cached(
                "INSERT INTO counters (day, name, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (day, name) DO UPDATE SET value = value + excluded.value",
            )
            .map_err(&err)?;
        for ((day, name), v) in &batch.counters {
            add_counter.execute(params![day, name, v]).map_err(&err)?;
        }
        let mut set_gauge = self
            .tx
            .prepare_cached(
                "INSERT INTO gauges (day, name, value, time_ns) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (day, name) DO UPDATE SET value = excluded.value, time_ns = excluded.time_ns
                 WHERE excluded.time_ns >= gauges.time_ns",
            )
            .map_err(&err)?;
        for ((day, name), (t, v)) in &batch.gauges {
            set_gauge
                .execute(params![day, name, v, *t as i64])
                .map_err(&err)?;
        }
        let mut add_level = self
            .tx
            .prepare_cached(
                "INSERT INTO levels (day, level, count) VALUES (?1, ?2, ?3)
                 ON CONFLICT (day, level) DO UPDATE SET count = count + excluded.count",
            )
            .map_err(&err)?;
        for ((day, level), n) in &batch.levels {
            add_level
                .execute(params![day, level, *n as i64])
                .map_err(&err)?;
        }
        let mut add_event = self
            .tx
            .prepare_cached(
                "INSERT INTO events (timestamp, event_type, backend, intent, latency_ms, success,
                     error_category, risk_level, request_id, span_self_us, root_span)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .map_err(&err)?;
        for r in &batch.requests {
            let self_us: serde_json::Map<String, serde_json::Value> = r
                .self_ns
                .iter()
                .map(|(n, ns)| (n.clone(), (ns / 1000).into()))
                .collect();
            add_event
                .execute(params![
                    (r.end_ns / 1_000_000_000) as i64,
                    r.outcome.event_type(),
                    r.backend,
                    r.intent,
                    r.duration_ns as f64 / 1e6,
                    r.outcome == crate::assemble::Outcome::Generated,
                    r.error_category,
                    r.risk_level,
                    r.request_id.map(|id| id as i64),
                    serde_json::Value::Object(self_us).to_string(),
                    r.name,
                ])
                .map_err(&err)?;
        }
        let mut add_invocation = self
            .tx
            .prepare_cached(
                "INSERT INTO invocations (timestamp, start_ns, latency_ms, outcome, status, warnings,
                     errors, version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(&err)?;
        for i in &batch.invocations {
            add_invocation
                .execute(params![
                    (i.end_ns / 1_000_000_000) as i64,
                    i.start_ns as i64,
                    i.end_ns.saturating_sub(i.start_ns) as f64 / 1e6,
                    i.outcome.name(),
                    i.status,
                    i.warnings as i64,
                    i.errors as i64,
                    i.version,
                ])
                .map_err(&err)?;
        }
        let mut add_callsite = self
            .tx
            .prepare_cached(
                "INSERT INTO callsites (day, level, target, message, events, invocations)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (day, level, target, message) DO UPDATE SET
                     events = events + excluded.events,
                     invocations = invocations + excluded.invocations",
            )
            .map_err(&err)?;
        for (k, c) in &batch.callsites {
            add_callsite
                .execute(params![
                    k.day,
                    k.level,
                    k.target,
                    k.message,
                    c.events as i64,
                    c.invocations as i64
                ])
                .map_err(&err)?;
        }
        let mut add_process = self
            .tx
            .prepare_cached(
                "INSERT INTO processes (timestamp, pid, cpu_user_us, cpu_system_us, peak_rss_kib, open_fds, wall_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(&err)?;
        for p in &batch.processes {
            add_process
                .execute(params![
                    (p.time_ns / 1_000_000_000) as i64,
                    p.pid as i64,
                    p.cpu_user_us as i64,
                    p.cpu_system_us as i64,
                    p.peak_rss_kib as i64,
                    p.open_fds as i64,
                    p.wall_us as i64
                ])
                .map_err(&err)?;
        }
        let mut add_trace = self
            .tx
            .prepare_cached(
                "INSERT OR IGNORE INTO traces (trace_id, timestamp, start_ns, latency_ms, error, kept, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(&err)?;
        // One compressor for all: a new one per trace costs more than
        // compressing it.
        let mut compressor = zstd::bulk::Compressor::new(1)
            .map_err(|e| self.corrupt(format!("traces cannot be compressed: {e}")))?;
        let mut json = Vec::new();
        for (t, kept) in &batch.traces {
            json.clear();
            // Plain data serializes without fail.
            let _ = serde_json::to_writer(&mut json, t);
            let body = compressor
                .compress(&json)
                .map_err(|e| self.corrupt(format!("a trace cannot be compressed: {e}")))?;
            add_trace
                .execute(params![
                    t.id_hex(),
                    (t.root().start_ns / 1_000_000_000) as i64,
                    t.root().start_ns as i64,
                    t.duration_ns().map(|d| d as f64 / 1e6),
                    t.error,
                    kept.name(),
                    body
                ])
                .map_err(&err)?;
        }
        let mut add_panic = self
            .tx
            .prepare_cached(
                "INSERT INTO panics (timestamp, thread, file, line) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(&err)?;
        for p in &batch.panics {
            add_panic
                .execute(params![
                    (p.time_ns / 1_000_000_000) as i64,
                    p.thread,
                    p.file,
                    p.line as i64
                ])
                .map_err(&err)?;
        }
        Ok(())
    }

    /// Adds the recorder's counts of an ingest on `day`.
    pub fn add_recorder(&self, day: i64, c: &RecorderCounts) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO recorder (day, written, lost, abandoned, dropped, unfinished, corrupt)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (day) DO UPDATE SET written = written + excluded.written,
                     lost = lost + excluded.lost, abandoned = abandoned + excluded.abandoned,
                     dropped = dropped + excluded.dropped, unfinished = unfinished + excluded.unfinished,
                     corrupt = corrupt + excluded.corrupt",
                params![
                    day,
                    c.written as i64,
                    c.lost as i64,
                    c.abandoned as i64,
                    c.dropped as i64,
                    c.unfinished as i64,
                    c.corrupt as i64
                ],
            )
            .map(drop)
            .map_err(self.err())
    }

    /// The newest day anything was counted under, if any.
    pub fn newest_day(&self) -> Result<Option<i64>> {
        self.tx
            .query_row("SELECT max(day) FROM levels", [], |r| r.get(0))
            .map_err(self.err())
    }

    /// Deletes rows older than [`RETENTION_DAYS`] before `now_ns`, and the
    /// days that ended before then. Returns the rows deleted.
    pub fn apply_retention(&self, now_ns: u64) -> Result<u64> {
        let cutoff_ns = now_ns.saturating_sub(RETENTION_DAYS * DAY_NS);
        let cutoff_s = (cutoff_ns / 1_000_000_000) as i64;
        // A day goes when all of it is older than the limit.
        let first_day = time::day(cutoff_ns);
        let mut n = 0;
        for table in ["events", "invocations", "processes", "panics", "traces"] {
            n += self
                .tx
                .execute(
                    &format!("DELETE FROM {table} WHERE timestamp < ?1"),
                    [cutoff_s],
                )
                .map_err(self.err())?;
        }
        for table in [
            "histograms",
            "counters",
            "gauges",
            "levels",
            "callsites",
            "recorder",
        ] {
            n += self
                .tx
                .execute(&format!("DELETE FROM {table} WHERE day < ?1"), [first_day])
                .map_err(self.err())?;
        }
        Ok(n as u64)
    }

    fn corrupt(&self, why: String) -> Error {
        Error::NotAStore {
            path: self.path.clone(),
            why,
        }
    }

    /// Commits everything.
    pub fn commit(self) -> Result<()> {
        let path = self.path;
        self.tx.commit().map_err(|e| classify(&path, e))
    }
}

/// Reads a stored histogram, growing to fit what is merged into it.
///
/// The blob is checked before HdrHistogram's deserializer sees it (found
/// by `fuzz/`'s `histogram` target): the store writes only uncompressed
/// V2 blobs of [`SIGNIFICANT_DIGITS`](crate::assemble::SIGNIFICANT_DIGITS),
/// so anything else — a length the deserializer would allocate before
/// reading, a count it would overflow negating — is refused here.
pub fn read_histogram(path: &Path, blob: &[u8]) -> Result<Histogram<u64>> {
    let bad = |why: String| Error::NotAStore {
        path: path.to_owned(),
        why: format!("a stored histogram cannot be read: {why}"),
    };
    check_v2_blob(blob).map_err(|why| bad(why.to_owned()))?;
    let mut h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut &blob[..])
        .map_err(|e| bad(format!("{e:?}")))?;
    h.auto(true);
    Ok(h)
}

/// Bytes before a V2 blob's counts: cookie, payload length, normalizing
/// offset, significant digits, lowest, highest, integer-to-double ratio.
const V2_HEADER: usize = 40;
const V2_COOKIE: u32 = 0x1c84_9313;
/// More values than a store holds in a lifetime (2^48), far below where
/// adding days' counts could overflow.
const MAX_STORED_COUNT: u64 = 1 << 48;

/// Whether `blob` is a V2 blob the store could have written.
fn check_v2_blob(blob: &[u8]) -> std::result::Result<(), &'static str> {
    let be32 = |at: usize| u32::from_be_bytes([blob[at], blob[at + 1], blob[at + 2], blob[at + 3]]);
    if blob.len() < V2_HEADER || be32(0) != V2_COOKIE {
        return Err("not an uncompressed V2 histogram");
    }
    if blob.len() - V2_HEADER != be32(4) as usize {
        return Err("its length disagrees with its header");
    }
    if be32(12) != u32::from(crate::assemble::SIGNIFICANT_DIGITS) {
        return Err("not of the store's precision");
    }
    // Counts are zig-zag LEB128 varints of at most 9 bytes (the ninth
    // whole): a positive value is a count, a negative one a run of empty
    // buckets. Their total must stay far from overflowing when the report
    // adds days together.
    let mut counts = &blob[V2_HEADER..];
    let mut total: u64 = 0;
    while !counts.is_empty() {
        let mut v: u64 = 0;
        let mut used = 0;
        for (i, &b) in counts.iter().take(9).enumerate() {
            used = i + 1;
            if i == 8 {
                v |= u64::from(b) << 56;
                break;
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                break;
            }
        }
        let n = ((v >> 1) as i64) ^ -((v & 1) as i64);
        if n == i64::MIN {
            return Err("a count out of range");
        }
        if n > 0 {
            total = total.saturating_add(n as u64);
            if total > MAX_STORED_COUNT {
                return Err("counts out of range");
            }
        }
        counts = &counts[used..];
    }
    Ok(())
}

/// A histogram's name and backend.
pub type NameAndBackend = (String, String);

/// The histograms of `kind` from `first_day` on, merged by (name, backend).
pub fn merged_histograms(
    store: &Store,
    kind: HistKind,
    first_day: i64,
) -> Result<Vec<(NameAndBackend, Histogram<u64>)>> {
    let err = |e| classify(&store.path, e);
    let mut q = store
        .conn
        .prepare_cached(
            "SELECT name, backend, hist FROM histograms WHERE kind = ?1 AND day >= ?2 ORDER BY name, backend, day",
        )
        .map_err(err)?;
    let mut rows = q.query(params![kind.name(), first_day]).map_err(err)?;
    let mut out: Vec<(NameAndBackend, Histogram<u64>)> = Vec::new();
    while let Some(row) = rows.next().map_err(err)? {
        let key: NameAndBackend = (row.get(0).map_err(err)?, row.get(1).map_err(err)?);
        let blob: Vec<u8> = row.get(2).map_err(err)?;
        let h = read_histogram(&store.path, &blob)?;
        match out.last_mut() {
            Some((k, acc)) if *k == key => acc.add(&h).map_err(|e| Error::NotAStore {
                path: store.path.clone(),
                why: format!("histograms cannot be merged: {e}"),
            })?,
            _ => out.push((key, h)),
        }
    }
    Ok(out)
}

/// Which stored traces to read.
#[derive(Clone, Debug, Default)]
pub struct TraceQuery {
    /// Started at or after this time.
    pub since_ns: Option<u64>,
    /// Took at least this long (unfinished traces never match).
    pub min_ns: Option<u64>,
    /// Only traces with an error.
    pub errors: bool,
    /// Only the newest N.
    pub last: Option<u64>,
    /// Only the N slowest finished ones, slowest first (instead of `last`).
    pub slowest: Option<u64>,
    /// Only the one whose id ([`Trace::id_hex`]) is or starts with this,
    /// in lowercase hex digits.
    pub id: Option<String>,
}

/// The stored traces `q` asks for, oldest first (slowest first with
/// `slowest`), with why each was kept.
pub fn read_traces(store: &Store, q: &TraceQuery) -> Result<Vec<(Trace, Kept)>> {
    let err = |e| classify(&store.path, e);
    // Newest first, to take the newest N; turned oldest first below.
    let order = match q.slowest {
        Some(_) => "latency_ms IS NULL, latency_ms DESC, start_ns, trace_id",
        None => "start_ns DESC, trace_id",
    };
    let mut stmt = store
        .conn
        .prepare(&format!(
            "SELECT body, kept FROM traces
             WHERE start_ns >= ?1 AND (?2 IS NULL OR latency_ms >= ?2) AND (NOT ?3 OR error)
               AND (?5 IS NULL OR latency_ms IS NOT NULL)
               AND (?6 IS NULL OR (trace_id >= ?6 AND trace_id < ?6 || 'g'))
             ORDER BY {order} LIMIT ?4"
        ))
        .map_err(err)?;
    let limit = |n: u64| n.min(i64::MAX as u64) as i64;
    let mut rows = stmt
        .query(params![
            q.since_ns.unwrap_or(0) as i64,
            q.min_ns.map(|ns| ns as f64 / 1e6),
            q.errors,
            q.slowest.or(q.last).map_or(-1, limit),
            q.slowest.map(limit),
            q.id,
        ])
        .map_err(err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(err)? {
        let body: Vec<u8> = row.get(0).map_err(err)?;
        let kept: String = row.get(1).map_err(err)?;
        let corrupt = |why: String| Error::NotAStore {
            path: store.path.clone(),
            why,
        };
        let trace = read_trace(&store.path, &body)?;
        let kept = Kept::from_name(&kept)
            .ok_or_else(|| corrupt(format!("a stored trace was kept for {kept:?}")))?;
        out.push((trace, kept));
    }
    if q.slowest.is_none() {
        out.reverse();
    }
    Ok(out)
}

/// The largest a stored trace's JSON can be: what its caps allow, with
/// room to spare. A body that would grow past it is refused, not unpacked.
pub const MAX_TRACE_JSON: usize = 64 << 20;

/// Reads a stored trace body (zstd-compressed JSON), refusing anything
/// ingest could not have written: too large, not a [`Trace`], or not one
/// tree ([`Trace::check`]).
pub fn read_trace(path: &Path, body: &[u8]) -> Result<Trace> {
    let corrupt = |why: String| Error::NotAStore {
        path: path.to_owned(),
        why: format!("a stored trace cannot be read: {why}"),
    };
    // The frame says how large it unpacks (ingest writes whole frames):
    // room for exactly that, after checking it.
    let size = match zstd::zstd_safe::get_frame_content_size(body) {
        Ok(Some(n)) if n <= MAX_TRACE_JSON as u64 => n as usize,
        Ok(Some(n)) => return Err(corrupt(format!("{n} bytes unpacked, too large"))),
        Ok(None) | Err(_) => return Err(corrupt("not a zstd frame of known size".to_owned())),
    };
    let json = zstd::bulk::decompress(body, size).map_err(|e| corrupt(e.to_string()))?;
    let trace: Trace = serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))?;
    trace.check().map_err(corrupt)?;
    Ok(trace)
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

#[cfg(test)]
mod tests {
    /// Blobs `fuzz/`'s `histogram` target found: the deserializer panicked
    /// on the first (negating i64::MIN), allocated 4 GiB for the second,
    /// and the third's counts overflow when a quantile adds them.
    #[test]
    fn hostile_histogram_blobs_are_refused_not_trusted() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let path = Path::new("metrics.db");
        for found in [
            "1c849313000000090000000000000003000000000000000100000000001fffff3ff0000000000000ffffffffffffffffff",
            "1c849313fffffff00000000000000003000000000000000100000000d693a4003ff0000000000000",
            // Counts whose total overflows when quantiles add them up.
            concat!(
                "1c8493130000009e0000000000000003000000000000005b0000010000000002",
                "3ff000000000000000000003000000000000000100000000000000023f1c8493",
                "1300f000a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a65a52a6a6a6a6000003",
                "02130229956102000000000000000000008c000028000000000000001c849313",
                "0000001e0000000000000003000000000000000100000000000000023f1c8493",
                "1300f000a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a65a52a6a6a6a6000000",
                "002e00000000"
            ),
        ] {
            let err = read_histogram(path, &hex(found)).unwrap_err();
            assert!(err.to_string().contains("a stored histogram cannot be read"), "{err}");
        }
        let mut h = crate::assemble::new_histogram();
        h.record(1234).unwrap();
        let mut blob = Vec::new();
        V2Serializer::new().serialize(&h, &mut blob).unwrap();
        assert_eq!(read_histogram(path, &blob).unwrap().len(), 1);
    }

    use super::*;
    use crate::assemble::{
        new_histogram, CallsiteCount, CallsiteKey, HistKey, InvocationOutcome, InvocationRow,
    };

    fn batch_with(day: i64, us: u64) -> Batch {
        let mut h = new_histogram();
        h.record(us).unwrap();
        let mut b = Batch::default();
        let key = HistKey {
            day,
            kind: HistKind::Span,
            name: "load_model".into(),
            backend: String::new(),
        };
        b.histograms.insert(key, h);
        b
    }

    #[test]
    fn histograms_of_any_range_merge_by_day_and_across_days() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("metrics.db")).unwrap();
        // Small values first, so the stored histogram's range is small.
        for (day, us) in [(10, 5), (10, 90_000_000), (11, 3), (11, 7_200_000_000)] {
            let w = store.write().unwrap();
            w.add(&batch_with(day, us)).unwrap();
            w.commit().unwrap();
        }
        let merged = merged_histograms(&store, HistKind::Span, 10).unwrap();
        assert_eq!(merged.len(), 1);
        let h = &merged[0].1;
        assert_eq!(h.len(), 4);
        assert_eq!(h.min(), 3);
        assert!(h.equivalent(h.max(), 7_200_000_000));
        assert!(merged_histograms(&store, HistKind::Span, 12)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn retention_removes_rows_and_whole_days_older_than_30_days() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("metrics.db")).unwrap();
        let w = store.write().unwrap();
        for day in 0..40 {
            let mut b = batch_with(day, 1);
            // An invocation that ends at noon, and its warning.
            let noon = day as u64 * DAY_NS + DAY_NS / 2;
            b.invocations.push(InvocationRow {
                start_ns: noon - 1000,
                end_ns: noon,
                outcome: InvocationOutcome::Ok,
                status: Some(0),
                warnings: 1,
                errors: 0,
                version: None,
            });
            let key = CallsiteKey {
                day,
                level: "WARN".into(),
                target: "caro::agent".into(),
                message: "Parse attempt {}/{} failed".into(),
            };
            b.callsites.insert(
                key,
                CallsiteCount {
                    events: 1,
                    invocations: 1,
                },
            );
            w.add(&b).unwrap();
        }
        // Now is day 40 at noon: days 0 to 9 ended more than 30 days ago,
        // day 10 ends less than 30 days ago; the invocations of days 0 to
        // 9 ended more than 30 days ago, day 10's exactly 30 days ago.
        let now = 40 * DAY_NS + DAY_NS / 2;
        assert_eq!(w.apply_retention(now).unwrap(), 3 * 10);
        w.commit().unwrap();
        for sql in [
            "SELECT min(day) FROM histograms",
            "SELECT min(day) FROM callsites",
            "SELECT min(timestamp) / 86400 FROM invocations",
        ] {
            let first: i64 = store.conn().query_row(sql, [], |r| r.get(0)).unwrap();
            assert_eq!(first, 10, "{sql}");
        }
    }

    #[test]
    fn a_store_of_a_newer_schema_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.db");
        drop(Store::open(&path).unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(
            matches!(err, Error::NewerStore { version, .. } if version == SCHEMA_VERSION + 1),
            "{err}"
        );
        assert!(err.to_string().contains("upgrade caro-analyze"));
    }

    #[test]
    fn stored_trace_bodies_that_ingest_could_not_have_written_are_refused() {
        let path = Path::new("metrics.db");
        let refused = |body: &[u8]| {
            let e = read_trace(path, body).unwrap_err().to_string();
            assert!(e.contains("a stored trace cannot be read"), "{e}");
            e
        };
        refused(b"not zstd");
        // A frame that says it unpacks to 1 GiB is refused unread.
        let mut big = zstd::bulk::compress(&vec![b' '; 1 << 20], 1).unwrap();
        assert_eq!(big[4] & 0xC0, 0x80, "a 4-byte content size");
        // After the window byte, unless the frame is a single segment.
        let at = if big[4] & 0x20 != 0 { 5 } else { 6 };
        big[at..at + 4].copy_from_slice(&(1u32 << 30).to_le_bytes());
        assert!(refused(&big).contains("1073741824 bytes unpacked, too large"));
        refused(&zstd::bulk::compress(b"{\"id\": 1}", 1).unwrap());
        let cycle = br#"{"id":1,"request_id":null,"error":false,"spans":[
            {"id":1,"parent":2,"name":"a","target":"t","pid":1,"thread":1,"start_ns":0,"end_ns":1,"fields":[],"events":[]},
            {"id":2,"parent":1,"name":"b","target":"t","pid":1,"thread":1,"start_ns":0,"end_ns":1,"fields":[],"events":[]}]}"#;
        refused(&zstd::bulk::compress(cycle, 1).unwrap());
    }

    /// A store as a version of caro-analyze that wrote schema `version`
    /// left it, one request row in it.
    fn older_store(path: &Path, version: i64) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        for upgrade in &UPGRADES[..version as usize - 1] {
            conn.execute_batch(upgrade).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO meta (key, value) VALUES ('cursor', '{}');
             INSERT INTO events (timestamp, event_type, latency_ms, success, span_self_us)
             VALUES (1, 'command_generated', 12.5, 1, '{}');",
        )
        .unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.pragma_update(None, "user_version", version).unwrap();
    }

    #[test]
    fn a_store_of_an_older_schema_gains_the_new_tables_and_keeps_its_rows() {
        for version in 1..SCHEMA_VERSION {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("metrics.db");
            older_store(&path, version);
            // `status` reads it as it is, without upgrading it.
            let status = StoreStatus::read(&path).unwrap().unwrap();
            assert_eq!((status.requests, status.traces), (1, 0), "v{version}");
            assert!(Store::open_reader(&path).unwrap().is_none(), "v{version}");
            let store = Store::open(&path).unwrap();
            assert_eq!(store.meta("cursor").unwrap().as_deref(), Some("{}"));
            let read =
                |sql: &str| -> i64 { store.conn().query_row(sql, [], |r| r.get(0)).unwrap() };
            assert_eq!(read("PRAGMA user_version"), SCHEMA_VERSION);
            assert_eq!(
                read("SELECT count(*) FROM events WHERE root_span IS NULL"),
                1
            );
            assert_eq!(read("SELECT count(*) FROM invocations"), 0);
            assert_eq!(read("SELECT count(*) FROM callsites"), 0);
            assert!(read_traces(&store, &TraceQuery::default())
                .unwrap()
                .is_empty());
            let report = crate::report::Report::build(&store, 7, 2 * DAY_NS).unwrap();
            assert_eq!((report.requests, report.invocations.count), (1, 0));
        }
    }
}

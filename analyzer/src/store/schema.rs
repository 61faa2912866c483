//! The store's schema: its tables, the version each added, and the
//! check that a file is a store of ours before anything is read or written.
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

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::{classify, Store};
use crate::error::{Error, Result};

/// The store's schema version (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 3;
/// `PRAGMA application_id`: "caro".
pub const APPLICATION_ID: i64 = 0x6361_726f;

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
/// zstd-compressed JSON ([`Trace`](crate::assemble::trace::Trace)), with what `traces` filters on.
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

impl Store {
    pub(super) fn prepare_schema(&mut self) -> Result<()> {
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
}

/// What a store's file holds.
pub(super) enum Schema {
    /// Nothing yet: a file just created.
    Empty,
    /// An older schema (1 to [`SCHEMA_VERSION`] − 1), which a writer
    /// upgrades.
    Older(i64),
    Current,
}

/// Reads which schema the store on `conn` has; anything else is an error.
pub(super) fn schema(conn: &Connection, path: &Path) -> Result<Schema> {
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
            supported: SCHEMA_VERSION,
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

#[cfg(test)]
/// A store as a version of caro-analyze that wrote schema `version`
/// left it, one request row in it (for tests of readers of old stores).
pub(crate) fn older_store(path: &Path, version: i64) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{read_traces, StoreStatus, TraceQuery};

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
        }
    }
}

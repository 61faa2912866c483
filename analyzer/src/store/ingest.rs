//! `caro-analyze ingest`: folds what the ring recorded since the last
//! ingest into the store, exactly once.
//!
//! One ingest is one store transaction: it reads the cursor (where the
//! last ingest stopped in each lane), decodes only the slots after it,
//! folds the records in, appends the scrubbed lines to telemetry.log,
//! snapshots the ring into `crashes/` if a panic was recorded, applies
//! retention, and commits the new cursor with all of it. telemetry.log's
//! committed length is part of the transaction: an ingest killed after
//! appending is undone by the next one, which cuts the file back. A slot
//! still being written stops its lane's cursor, so the record is taken by
//! a later ingest.

use std::borrow::Cow;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use caro_format::decode::Header;
use caro_format::slot::{stamp_state, SlotState};
use caro_format::RecordKind;
use serde::{Deserialize, Serialize};

use crate::assemble::trace::{SamplingPolicy, Trace};
use crate::assemble::{Assembly, Batch};
use crate::error::{Error, Result};
use crate::files;
use crate::scrub;
use crate::store::{RecorderCounts, Store, Writer};
use crate::time::{self, DAY_NS};

/// telemetry.log days are kept this long.
pub const LOG_RETENTION_DAYS: u64 = 7;

/// Where the recorder and the analyzer keep a user's data.
#[derive(Clone, Debug)]
pub struct DataPaths {
    pub dir: PathBuf,
    pub ring: PathBuf,
    pub db: PathBuf,
    pub log: PathBuf,
    pub crashes: PathBuf,
}

impl DataPaths {
    /// The files inside the data folder `dir`.
    pub fn in_dir(dir: &Path) -> DataPaths {
        DataPaths {
            dir: dir.to_owned(),
            ring: dir.join(caro_recorder::paths::RING_FILE),
            db: dir.join("metrics.db"),
            log: dir.join("telemetry.log"),
            crashes: dir.join("crashes"),
        }
    }

    /// The per-user data folder, `$XDG_CACHE_HOME/caro`.
    pub fn default_dir() -> Result<DataPaths> {
        let dir = caro_recorder::paths::data_dir().ok_or(Error::NoDefaultPath)?;
        Ok(DataPaths::in_dir(&dir))
    }

    /// The archive of telemetry.log's `day`.
    pub fn log_archive(&self, day: i64) -> PathBuf {
        self.dir
            .join(format!("telemetry.log.{}.zst", time::day_name(day)))
    }

    /// Opens the store for writing, creating the data folder (0700) if
    /// needed. The folder must be this user's and private
    /// ([`files::data_folder`]).
    pub fn open_store(&self) -> Result<Store> {
        files::data_folder(&self.dir)?;
        Store::open(&self.db)
    }

    /// Opens the store for a command that only reads it: read-only, so it
    /// never waits for an ingest, unless there is no store yet or it needs
    /// an upgrade.
    pub fn read_store(&self) -> Result<Store> {
        files::data_folder(&self.dir)?;
        match Store::open_reader(&self.db)? {
            Some(store) => Ok(store),
            None => Store::open(&self.db),
        }
    }

    /// Opens the store for writing and ingests what is new in the ring, if
    /// anything is at its path (a link or a pipe there is an error for the
    /// ingest to report, not "no ring yet"); returns the store and the
    /// ingest's warnings.
    pub fn ingested_store(&self, now_ns: u64, progress: bool) -> Result<(Store, Vec<String>)> {
        let mut store = self.open_store()?;
        if fs::symlink_metadata(&self.ring).is_err() {
            return Ok((store, Vec::new()));
        }
        let summary = ingest(&mut store, self, now_ns, progress)?;
        Ok((store, summary.warnings))
    }

    /// Removes the temporaries an interrupted write left in the data
    /// folder and in `crashes/` (only while holding the store's write
    /// lock: no other ingest is writing them then).
    fn remove_temporaries(&self) {
        // telemetry.log's archives, written under that lock too (not
        // telemetry.json's, which `telemetry enable` writes without it).
        files::remove_temporaries(&self.dir, |name| {
            name.trim_start_matches('.').starts_with("telemetry.log.")
        });
        if fs::symlink_metadata(&self.crashes).is_ok_and(|m| m.is_dir()) {
            files::remove_temporaries(&self.crashes, |_| true);
        }
    }
}

/// Where the last ingest stopped.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Cursor {
    /// The ring's `created_ns`: another value means a new ring.
    created_ns: u64,
    /// Per lane, the first sequence not yet ingested.
    lanes: Vec<u64>,
    /// The header's dropped counts, added up, as last seen.
    dropped: u64,
    /// Per lane, the first word (stamp and checksum) of the last slot
    /// ingested, `lanes[i] - 1`: if it changed while still in the ring,
    /// the ring went back to an older copy.
    #[serde(default)]
    last_stamps: Vec<u64>,
}

/// What an ingest did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub counts: RecorderCounts,
    pub requests: usize,
    /// The crash snapshot written, if a panic was ingested.
    pub snapshot: Option<PathBuf>,
    /// Rows and days removed by retention.
    pub expired: u64,
    /// What the user should know: the ring went back to an older copy, the
    /// clock disagrees with the data. One line each.
    pub warnings: Vec<String>,
}

/// Ingests the ring at `paths.ring` into `store`, as of `now_ns`.
pub fn ingest(
    store: &mut Store,
    paths: &DataPaths,
    now_ns: u64,
    progress: bool,
) -> Result<Summary> {
    let w = store.write()?;
    paths.remove_temporaries();
    let mut cursor: Cursor = read_meta(&w, "cursor")?.unwrap_or_default();
    let mut assembly: Assembly = read_meta(&w, "assembly")?.unwrap_or_default();
    let newest_ingested = read_meta::<u64>(&w, NEWEST)?;

    let (mut decoded, rolled_back) = read_new(
        &paths.ring,
        now_ns,
        &mut cursor,
        &mut assembly,
        newest_ingested,
    )?;
    // Records of one instant (a coarse clock, or a simulated one) come in
    // an order that keeps trees whole: what opens a span, then what
    // happens in it, then what closes it.
    for same_instant in decoded.records.chunk_by_mut(|a, b| a.time_ns == b.time_ns) {
        if same_instant.len() > 1 {
            same_instant.sort_unstable_by_key(|r| (instant_rank(r.kind), r.lane, r.seq));
        }
    }
    let newest = decoded
        .records
        .last()
        .map(|r| r.time_ns)
        .max(newest_data(&w, newest_ingested)?);
    let clock = DataClock::new(now_ns, newest);
    let mut log = TelemetryLog::prepare(paths, &w, clock.log_day())?;
    let mut batch = Batch {
        policy: SamplingPolicy::from_env()?,
        ..Batch::default()
    };
    let mut bar = Progress::new(progress, decoded.records.len() as u64);
    for (i, r) in decoded.records.iter().enumerate() {
        assembly.fold(r, &decoded.dictionary, &mut batch);
        bar.tick(i as u64);
    }
    bar.finish();
    assembly.give_up_stale(&mut batch);

    let totals = decoded.totals();
    let dropped: u64 = decoded
        .header
        .dropped
        .iter()
        .fold(0u64, |a, d| a.saturating_add(*d));
    let counts = RecorderCounts {
        written: batch.records,
        // Read again from the start, a restored ring's laps are not news.
        lost: if rolled_back { 0 } else { totals.lost_to_laps },
        abandoned: totals.abandoned,
        dropped: dropped.saturating_sub(cursor.dropped),
        unfinished: batch.unfinished,
        corrupt: totals.corrupt.saturating_add(totals.unknown_kinds),
    };
    cursor.dropped = dropped;
    w.add(&batch)?;
    if counts != RecorderCounts::default() {
        w.add_recorder(clock.count_day(), &counts)?;
    }
    // The ring as it is now, what led to the crash and since, made only
    // of what decodes: every record read, its strings scrubbed; every
    // dictionary string scrubbed; every other slot and byte zero (see
    // `caro_format::rewrite`).
    let snapshot = match batch.panics.first() {
        Some(p) => {
            let mut bytes = crate::read::read(&paths.ring)?;
            caro_format::rewrite::rewrite_strings(&mut bytes, |s| match scrub::text(s) {
                Cow::Owned(t) => Some(t),
                Cow::Borrowed(_) => None,
            })
            .map_err(|source| Error::Decode {
                path: paths.ring.clone(),
                source,
            })?;
            Some(snapshot(paths, &bytes, p.time_ns, p.thread)?)
        }
        None => None,
    };
    log.append(&batch.log_lines)?;
    log.expire(paths, clock.at_ns)?;
    let expired = w.apply_retention(clock.at_ns)?;
    if let Some(n) = newest {
        write_meta(&w, NEWEST, &n)?;
    }
    write_meta(&w, "cursor", &cursor)?;
    write_meta(&w, "assembly", &assembly)?;
    log.save(&w)?;
    if let Some(v) = &batch.version {
        w.set_meta(CARO_VERSION, v)?;
    }
    w.set_meta("last_ingest_ns", &now_ns.to_string())?;
    w.commit()?;
    let mut warnings = Vec::new();
    if rolled_back {
        warnings.push(format!(
            "{} went back to an older copy (restored or rolled back): ingested only what was recorded after {}",
            caro_recorder::paths::shown(&paths.ring),
            newest_ingested.map_or_else(|| "the last ingest".to_owned(), time::rfc3339),
        ));
    }
    warnings.extend(clock.warning());
    Ok(Summary {
        counts,
        requests: batch.requests.len(),
        snapshot,
        expired,
        warnings,
    })
}

/// The meta key of the newest record time ever ingested.
const NEWEST: &str = "newest_ns";

/// The newest data the store holds: the newest record ingested, or, for a
/// store written before that was kept, the start of its newest day.
fn newest_data(w: &Writer<'_>, newest_ingested: Option<u64>) -> Result<Option<u64>> {
    if newest_ingested.is_some() {
        return Ok(newest_ingested);
    }
    Ok(w.newest_day()?.map(|d| d.max(0) as u64 * DAY_NS))
}

/// The time an ingest's days and retention go by: the clock, unless it
/// disagrees with the data. It is never before the newest data (a clock
/// set back keeps new counts under their real day) and never past the end
/// of that data's day (a clock set forward, or a long pause, deletes
/// nothing that is not older than the data's own 30 and 7 days).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataClock {
    /// The analyzer's clock.
    pub now_ns: u64,
    /// The newest data, if any.
    pub newest_ns: Option<u64>,
    /// The clock, within the newest data's day.
    pub at_ns: u64,
}

impl DataClock {
    pub fn new(now_ns: u64, newest_ns: Option<u64>) -> DataClock {
        let at_ns = match newest_ns {
            None => now_ns,
            Some(n) => {
                let end_of_day = (time::day(n) as u64 + 1) * DAY_NS - 1;
                now_ns.clamp(n, end_of_day)
            }
        };
        DataClock {
            now_ns,
            newest_ns,
            at_ns,
        }
    }

    /// The UTC day telemetry.log's lines go under: the data's, so that a
    /// clock jump alone never archives (empties) the file.
    pub fn log_day(&self) -> i64 {
        time::day(self.at_ns)
    }

    /// The UTC day an ingest's own counts (the `recorder` table) go under:
    /// the clock's, or the newest data's if the clock is behind it.
    pub fn count_day(&self) -> i64 {
        time::day(self.now_ns.max(self.newest_ns.unwrap_or(0)))
    }

    /// A line for the user when the clock is more than a day behind the
    /// newest data, or far enough ahead of it that retention by the clock
    /// would have deleted days.
    pub fn warning(&self) -> Option<String> {
        let newest = self.newest_ns?;
        let days = |ns: u64| ns.div_ceil(DAY_NS);
        let (date, data) = (time::rfc3339(self.now_ns), time::rfc3339(newest));
        if self.now_ns.saturating_add(DAY_NS) < newest {
            Some(format!(
                "the clock ({date}) is {} days before the newest data ({data}); days are counted from the data",
                days(newest - self.now_ns)
            ))
        } else if self.now_ns > self.at_ns.saturating_add(LOG_RETENTION_DAYS * DAY_NS) {
            Some(format!(
                "the clock ({date}) is {} days after the newest data ({data}); retention counts from the data, so nothing is deleted for the clock alone",
                (self.now_ns - newest) / DAY_NS
            ))
        } else {
            None
        }
    }
}

/// The meta key of the version of caro that last started, as its process
/// start record gave it.
pub const CARO_VERSION: &str = "caro_version";

fn instant_rank(kind: RecordKind) -> u8 {
    match kind {
        // The process of a thread before anything the thread did.
        RecordKind::ProcessStart | RecordKind::ThreadStart => 0,
        RecordKind::SpanNew => 1,
        RecordKind::SpanEnter => 2,
        RecordKind::Event | RecordKind::SpanRecord | RecordKind::Panic => 3,
        RecordKind::SpanExit => 4,
        RecordKind::SpanClose | RecordKind::ProcessExit => 5,
    }
}

/// Reads the ring and decodes what is new since `cursor`, which it moves
/// to where the next ingest starts. A new ring (another `created_ns`)
/// starts from its beginning, with no spans open. A ring that went back to
/// an older copy (a lane's head behind the cursor, or the last slot
/// ingested rewritten) is read from its beginning too, but only records
/// newer than `newest_ingested` are taken: the rest were ingested before.
/// Returns whether it went back.
fn read_new(
    ring: &Path,
    now_ns: u64,
    cursor: &mut Cursor,
    assembly: &mut Assembly,
    newest_ingested: Option<u64>,
) -> Result<(caro_format::Decoded, bool)> {
    let decode_err = |source| Error::Decode {
        path: ring.to_owned(),
        source,
    };
    let mut attempt = 0;
    // Sticky: a read taken again after the cursor was reset reads from the
    // start, and must still skip what was ingested before.
    let mut rolled_back = false;
    loop {
        // From each lane's last slot ingested, to see that it is unchanged.
        let from: Vec<u64> = cursor.lanes.iter().map(|s| s.saturating_sub(1)).collect();
        let mut bytes = crate::read::read_from(ring, &from)?;
        let header = Header::parse(&bytes).map_err(decode_err)?;
        let new_ring = header.raw.created_ns != cursor.created_ns;
        let went_back = !new_ring && went_back(ring, &bytes, &header, cursor)?;
        rolled_back |= went_back;
        if new_ring || went_back {
            let reread = !cursor.lanes.is_empty();
            *cursor = Cursor {
                created_ns: header.raw.created_ns,
                ..Cursor::default()
            };
            *assembly = Assembly::default();
            if reread {
                bytes = crate::read::read_from(ring, &[])?;
            }
        }
        let decoded = caro_format::decode_range(&bytes, Some(now_ns), &cursor.lanes, &[])
            .map_err(decode_err)?;
        // A copy torn by a writer is taken again, as `logs` does.
        if decoded.totals().corrupt > 0 && attempt < 3 {
            attempt += 1;
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        // Stop each lane before its first slot a writer may still be on
        // (judged by position as well as by time, so that a writer whose
        // clock is off, or simulated, is waited for too); decode again so
        // that nothing after it is counted now and again later.
        let until: Vec<u64> = decoded
            .lanes
            .iter()
            .map(|(l, s)| s.first_open.unwrap_or(l.head))
            .collect();
        let mut decoded = if decoded.lanes.iter().any(|(_, s)| s.first_open.is_some()) {
            caro_format::decode_range(&bytes, Some(now_ns), &cursor.lanes, &until)
                .map_err(decode_err)?
        } else {
            decoded
        };
        if let Some(newest) = newest_ingested.filter(|_| rolled_back) {
            decoded.records.retain(|r| r.time_ns > newest);
        }
        cursor.last_stamps = decoded
            .lanes
            .iter()
            .zip(&until)
            .map(|((lane, _), &u)| last_stamp(&bytes, lane, u))
            .collect();
        cursor.lanes = until;
        crate::scrub::ring::dictionary(&mut decoded.dictionary);
        return Ok((decoded, rolled_back));
    }
}

/// Whether the ring in `bytes` went back behind `cursor`: a lane's head is
/// behind where the last ingest stopped, or the last slot it ingested,
/// still in the ring, now holds something else.
fn went_back(ring: &Path, bytes: &[u8], header: &Header, cursor: &Cursor) -> Result<bool> {
    let lanes = caro_format::decode::lanes(header, bytes).map_err(|source| Error::Decode {
        path: ring.to_owned(),
        source,
    })?;
    Ok(lanes.iter().any(|lane| {
        let Some(&stopped) = cursor.lanes.get(lane.index) else {
            return false;
        };
        let stamp = cursor.last_stamps.get(lane.index).copied().unwrap_or(0);
        lane.head < stopped || (stamp != 0 && last_stamp(bytes, lane, stopped) != stamp)
    }))
}

/// The first word of slot `until - 1` of `lane` if it holds a committed
/// record (a stamp and a checksum of its contents), else 0: none, lapped,
/// or never finished (a late writer may still finish it; that is not a
/// roll-back).
fn last_stamp(bytes: &[u8], lane: &caro_format::decode::Lane, until: u64) -> u64 {
    let Some(seq) = until.checked_sub(1) else {
        return 0;
    };
    if seq < lane.head.saturating_sub(lane.slots()) || seq >= lane.head {
        return 0;
    }
    let at = caro_format::decode::slot_offset(lane, seq);
    let word = bytes
        .get(at..at + 8)
        .map_or(0, |w| u64::from_le_bytes(w.try_into().unwrap_or_default()));
    match stamp_state(word as u32) {
        SlotState::Head | SlotState::Cont => word,
        SlotState::Empty | SlotState::Writing => 0,
    }
}

fn read_meta<T: for<'de> Deserialize<'de>>(w: &Writer<'_>, key: &str) -> Result<Option<T>> {
    parse_meta(w.path(), key, w.meta(key)?)
}

fn parse_meta<T: for<'de> Deserialize<'de>>(
    store: &Path,
    key: &str,
    value: Option<String>,
) -> Result<Option<T>> {
    match value {
        None => Ok(None),
        Some(v) => serde_json::from_str(&v)
            .map(Some)
            .map_err(|e| Error::NotAStore {
                path: store.to_owned(),
                why: format!("its {key} cannot be read: {e}"),
            }),
    }
}

fn write_meta<T: Serialize>(w: &Writer<'_>, key: &str, value: &T) -> Result<()> {
    // Serializing plain data to a string cannot fail.
    w.set_meta(key, &serde_json::to_string(value).unwrap_or_default())
}

/// Writes the ring's scrubbed copy, compressed, to `crashes/`, named
/// after the panic so that an ingest run again writes the same file.
fn snapshot(paths: &DataPaths, bytes: &[u8], time_ns: u64, thread: u32) -> Result<PathBuf> {
    files::private_dir(&paths.crashes)?;
    let stamp = time::rfc3339(time_ns).replace([':', '-', '.'], "");
    let path = paths.crashes.join(format!("{stamp}-{thread}.ring.zst"));
    let compressed = zstd::bulk::compress(bytes, 3).map_err(|source| Error::Write {
        path: path.clone(),
        source,
    })?;
    files::write_atomically(&path, &compressed)?;
    Ok(path)
}

/// telemetry.log: the scrubbed events of the current day as JSON lines;
/// earlier days are `telemetry.log.YYYY-MM-DD.zst`.
#[derive(Debug)]
struct TelemetryLog {
    path: PathBuf,
    /// The day the file holds, and its committed length.
    day: i64,
    len: u64,
}

impl TelemetryLog {
    /// Cuts the file back to its committed length (undoing a killed
    /// ingest's append) and archives it if its day is before `today`.
    fn prepare(paths: &DataPaths, w: &Writer<'_>, today: i64) -> Result<TelemetryLog> {
        let day = read_meta::<i64>(w, "log_day")?.unwrap_or(today);
        let len = read_meta::<u64>(w, "log_len")?.unwrap_or(0);
        let mut log = TelemetryLog {
            path: paths.log.clone(),
            day,
            len,
        };
        let err = |source| Error::Write {
            path: paths.log.clone(),
            source,
        };
        let file = files::open_write(&log.path)?;
        let on_disk = match &file {
            Some(f) => f.metadata().map_err(err)?.len(),
            None => 0,
        };
        if let Some(f) = file.as_ref().filter(|_| on_disk > log.len) {
            f.set_len(log.len).map_err(err)?;
        }
        if log.len == 0 {
            // Nothing kept yet: the file takes the day of what comes.
            log.day = today;
        } else if log.day < today {
            let archive = paths.log_archive(log.day);
            // A file shorter than committed was archived by an ingest
            // killed before it could commit: the archive stands.
            if let Some(f) = file.as_ref().filter(|_| log.len > 0 && on_disk >= log.len) {
                let mut bytes = Vec::new();
                f.take(log.len).read_to_end(&mut bytes).map_err(err)?;
                let compressed =
                    zstd::bulk::compress(&bytes, 19).map_err(|source| Error::Write {
                        path: archive.clone(),
                        source,
                    })?;
                files::write_atomically(&archive, &compressed)?;
            }
            if let Some(f) = file.as_ref().filter(|_| on_disk > 0) {
                f.set_len(0).map_err(err)?;
            }
            log.day = today;
            log.len = 0;
        } else if on_disk < log.len {
            // Someone cut or deleted it: go on from what is there.
            log.len = on_disk;
        }
        Ok(log)
    }

    fn append(&mut self, lines: &[u8]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let err = |source| Error::Write {
            path: self.path.clone(),
            source,
        };
        let mut f = files::open_append(&self.path)?;
        f.write_all(lines).map_err(err)?;
        f.sync_data().map_err(err)?;
        self.len += lines.len() as u64;
        Ok(())
    }

    /// Deletes archives of days that ended more than
    /// [`LOG_RETENTION_DAYS`] before `at_ns` (see [`DataClock`]).
    fn expire(&self, paths: &DataPaths, at_ns: u64) -> Result<()> {
        let first_day = time::day(at_ns.saturating_sub(LOG_RETENTION_DAYS * DAY_NS));
        for (day, path) in log_archives(paths) {
            if day < first_day {
                fs::remove_file(&path).map_err(|source| Error::Write { path, source })?;
            }
        }
        Ok(())
    }

    fn save(&self, w: &Writer<'_>) -> Result<()> {
        write_meta(w, "log_day", &self.day)?;
        write_meta(w, "log_len", &self.len)
    }
}

/// The traces of the requests still open as of the last ingest.
pub fn open_traces(store: &Store) -> Result<Vec<Trace>> {
    let assembly: Option<Assembly> = parse_meta(&store.path, "assembly", store.meta("assembly")?)?;
    Ok(assembly.map(|a| a.open_traces()).unwrap_or_default())
}

/// The archived days of telemetry.log, oldest first.
pub fn log_archives(paths: &DataPaths) -> Vec<(i64, PathBuf)> {
    let mut out: Vec<(i64, PathBuf)> = fs::read_dir(&paths.dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let day = name.strip_prefix("telemetry.log.")?.strip_suffix(".zst")?;
            Some((time::parse_day_name(day)?, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// A progress bar on stderr, shown only on a terminal and only once the
/// work has taken more than a moment.
struct Progress {
    enabled: bool,
    started: Instant,
    total: u64,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    const MOMENT: Duration = Duration::from_millis(300);

    fn new(enabled: bool, total: u64) -> Progress {
        use std::io::IsTerminal;
        Progress {
            enabled: enabled && std::io::stderr().is_terminal(),
            started: Instant::now(),
            total,
            bar: None,
        }
    }

    fn tick(&mut self, done: u64) {
        if !self.enabled || !done.is_multiple_of(4096) {
            return;
        }
        if self.bar.is_none() && self.started.elapsed() > Self::MOMENT {
            let bar = indicatif::ProgressBar::new(self.total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "ingesting {bar:30} {pos}/{len} records ({eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Applies retention alone, as `caro-analyze gc` does; returns the rows
/// and days removed, and a warning if the clock disagrees with the data.
pub fn gc(store: &mut Store, paths: &DataPaths, now_ns: u64) -> Result<(u64, Option<String>)> {
    let w = store.write()?;
    paths.remove_temporaries();
    let newest = newest_data(&w, read_meta::<u64>(&w, NEWEST)?)?;
    let clock = DataClock::new(now_ns, newest);
    let log = TelemetryLog::prepare(paths, &w, clock.log_day())?;
    log.expire(paths, clock.at_ns)?;
    let n = w.apply_retention(clock.at_ns)?;
    log.save(&w)?;
    w.commit()?;
    Ok((n, clock.warning()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_NS: u64 = 3_600_000_000_000;
    /// 2026-03-01T06:00Z, and the day's end.
    const DATA: u64 = 20_513 * DAY_NS + 6 * HOUR_NS;
    const END_OF_DAY: u64 = 20_514 * DAY_NS - 1;

    #[test]
    fn the_clock_counts_while_it_agrees_with_the_data() {
        let evening = DATA + 17 * HOUR_NS;
        let c = DataClock::new(evening, Some(DATA));
        assert_eq!((c.at_ns, c.warning()), (evening, None));
        // No data yet: the clock alone.
        assert_eq!(DataClock::new(evening, None).at_ns, evening);
    }

    #[test]
    fn a_clock_ahead_of_the_data_stops_at_the_end_of_its_day() {
        for days in [8, 31, 365] {
            let c = DataClock::new(DATA + days * DAY_NS, Some(DATA));
            assert_eq!(c.at_ns, END_OF_DAY, "+{days} d");
            assert_eq!((c.log_day(), c.count_day()), (20_513, 20_513 + days as i64));
            let w = c.warning().unwrap();
            assert!(
                w.contains(&format!("is {days} days after the newest data")),
                "{w}"
            );
        }
        // A pause shorter than the log's retention is no news.
        assert_eq!(
            DataClock::new(DATA + 3 * DAY_NS, Some(DATA)).warning(),
            None
        );
    }

    #[test]
    fn a_clock_behind_the_data_counts_under_the_datas_day() {
        let c = DataClock::new(DATA - 365 * DAY_NS, Some(DATA));
        assert_eq!(
            (c.at_ns, c.log_day(), c.count_day()),
            (DATA, 20_513, 20_513)
        );
        let w = c.warning().unwrap();
        assert!(w.contains("is 365 days before the newest data"), "{w}");
        // Behind by less than a day: no warning, the data's time.
        let c = DataClock::new(DATA - HOUR_NS, Some(DATA));
        assert_eq!((c.at_ns, c.warning()), (DATA, None));
    }
}

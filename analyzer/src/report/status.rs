//! The `status` command: what a ring holds and what it lost, at a glance.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::PathBuf;

use caro_format::layout::{DropReason, SLOT_SIZE};
use caro_format::{LaneClass, RecordKind, Value};
use serde_json::{json, Map};

use crate::read::Ring;
use crate::store::StoreStatus;
use crate::time;

/// The lanes of one class and the slots they hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassCapacity {
    pub class: LaneClass,
    pub lanes: u64,
    pub slots: u64,
}

/// A summary of a ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub path: PathBuf,
    pub file_size: u64,
    pub version_major: u16,
    pub version_minor: u16,
    pub created_ns: u64,
    /// Slots in all lanes.
    pub capacity_slots: u64,
    pub lanes: u64,
    /// Capacity by lane class, main first.
    pub classes: Vec<ClassCapacity>,
    /// Slots claimed since the ring was created (the lanes' heads).
    pub slots_written: u64,
    /// Records the ring holds.
    pub records: u64,
    pub oldest_ns: Option<u64>,
    pub newest_ns: Option<u64>,
    /// Writer processes that opened the ring (the header's count).
    pub processes: u64,
    /// Distinct pids of the PROCESS_START records the ring holds.
    pub process_start_pids: u64,
    /// Distinct writing threads among the records the ring holds.
    pub threads: u64,
    pub lost_to_laps: u64,
    pub abandoned: u64,
    pub pending: u64,
    pub corrupt: u64,
    pub unknown_kinds: u64,
    /// Records dropped unwritten, by reason.
    pub dropped: Vec<(String, u64)>,
    /// Values writers left out of records with no room for them (the
    /// header's count, since format v1.2).
    pub values_left_out: u64,
    /// Dictionary entries committed and read.
    pub dictionary_entries: u64,
    pub dictionary_callsites: u64,
    pub dictionary_strings: u64,
    pub dictionary_messages: u64,
    pub dictionary_unfinished: u64,
    pub dictionary_skipped_bytes: u64,
    /// The identity table (format v1.3 and later).
    pub identities: Option<IdentityStatus>,
}

/// What the identity table holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdentityStatus {
    pub capacity: u64,
    pub claimed: u64,
    pub held: u64,
    pub lost_to_laps: u64,
}

/// `bytes` in MiB with one decimal (KiB below one MiB), as the README and
/// SPEC.md give ring sizes.
fn mib(bytes: u64) -> String {
    if bytes < 1 << 20 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    }
}

impl Status {
    /// The status of a ring read from disk.
    pub fn of(ring: &Ring) -> Status {
        let d = &ring.decoded;
        let totals = d.totals();
        let mut classes: Vec<ClassCapacity> = Vec::new();
        for (lane, _) in &d.lanes {
            match classes.iter_mut().find(|c| c.class == lane.class) {
                Some(c) => {
                    c.lanes += 1;
                    c.slots += lane.slots();
                }
                None => classes.push(ClassCapacity {
                    class: lane.class,
                    lanes: 1,
                    slots: lane.slots(),
                }),
            }
        }
        classes.sort_by_key(|c| c.class);
        let pids: BTreeSet<u64> = d
            .records
            .iter()
            .filter(|r| r.kind == RecordKind::ProcessStart)
            .filter_map(|r| r.values.iter().find(|v| v.field == 0))
            .filter_map(|v| match v.value {
                Value::U64(x) => Some(x),
                Value::I64(x) => u64::try_from(x).ok(),
                Value::U128(x) => u64::try_from(x).ok(),
                Value::I128(x) => u64::try_from(x).ok(),
                _ => None,
            })
            .collect();
        let threads: BTreeSet<u32> = d.records.iter().map(|r| r.thread).collect();
        let mut dropped: Vec<(String, u64)> = DropReason::ALL
            .iter()
            .map(|r| (r.name().to_owned(), d.header.dropped[*r as usize]))
            .collect();
        // Reasons of a newer minor version, shown only when they count.
        for (i, &n) in d
            .header
            .dropped
            .iter()
            .enumerate()
            .skip(DropReason::ALL.len())
        {
            if n > 0 {
                dropped.push((format!("reason_{i}"), n));
            }
        }
        let dict = &d.dictionary;
        Status {
            path: ring.path.clone(),
            file_size: ring.file_size,
            version_major: d.header.version_major,
            version_minor: d.header.version_minor,
            created_ns: d.header.created_ns,
            capacity_slots: d.capacity(),
            lanes: d.lanes.len() as u64,
            classes,
            slots_written: d.slots_written(),
            records: d.records.len() as u64,
            oldest_ns: d.records.iter().map(|r| r.time_ns).min(),
            newest_ns: d.records.iter().map(|r| r.time_ns).max(),
            processes: d.header.processes,
            process_start_pids: pids.len() as u64,
            threads: threads.len() as u64,
            lost_to_laps: totals.lost_to_laps,
            abandoned: totals.abandoned,
            pending: totals.pending,
            corrupt: totals.corrupt,
            unknown_kinds: totals.unknown_kinds,
            dropped,
            values_left_out: d.header.values_left_out,
            identities: d.identities.present.then_some(IdentityStatus {
                capacity: d.identities.capacity,
                claimed: d.identities.claimed,
                held: d.identities.held.len() as u64,
                lost_to_laps: d.identities.lost_to_laps,
            }),
            dictionary_entries: dict.entries as u64,
            dictionary_callsites: dict.callsites.len() as u64,
            dictionary_strings: dict.strings.len() as u64,
            dictionary_messages: dict.messages.len() as u64,
            dictionary_unfinished: dict.unfinished as u64,
            dictionary_skipped_bytes: dict.skipped_bytes as u64,
        }
    }

    /// The status as one JSON object: snake_case keys, counts as numbers,
    /// times both as Unix nanoseconds (`*_ns`) and RFC 3339 text.
    pub fn to_json(&self) -> serde_json::Value {
        let mut classes = Map::new();
        for c in &self.classes {
            classes.insert(
                c.class.name().to_owned(),
                json!({ "lanes": c.lanes, "slots": c.slots }),
            );
        }
        let dropped: Map<String, serde_json::Value> = self
            .dropped
            .iter()
            .map(|(name, n)| (name.clone(), (*n).into()))
            .collect();
        json!({
            "path": caro_recorder::paths::shown(&self.path),
            "file_size": self.file_size,
            "version_major": self.version_major,
            "version_minor": self.version_minor,
            "created_ns": self.created_ns,
            "created": time::rfc3339(self.created_ns),
            "capacity": {
                "slots": self.capacity_slots,
                "lanes": self.lanes,
                "classes": classes,
            },
            "slots_written": self.slots_written,
            "records": self.records,
            "oldest_ns": self.oldest_ns,
            "oldest": self.oldest_ns.map(time::rfc3339),
            "newest_ns": self.newest_ns,
            "newest": self.newest_ns.map(time::rfc3339),
            "writers": {
                "processes": self.processes,
                "process_start_pids": self.process_start_pids,
                "threads": self.threads,
            },
            "lost_to_laps": self.lost_to_laps,
            "abandoned": self.abandoned,
            "pending": self.pending,
            "corrupt": self.corrupt,
            "unknown_kinds": self.unknown_kinds,
            "dropped": dropped,
            "values_left_out": self.values_left_out,
            "identities": self.identities.map(|i| json!({
                "capacity": i.capacity,
                "claimed": i.claimed,
                "held": i.held,
                "lost_to_laps": i.lost_to_laps,
            })),
            "dictionary": {
                "entries": self.dictionary_entries,
                "callsites": self.dictionary_callsites,
                "strings": self.dictionary_strings,
                "messages": self.dictionary_messages,
                "unfinished": self.dictionary_unfinished,
                "skipped_bytes": self.dictionary_skipped_bytes,
            },
        })
    }

    /// The status as `name:  value` lines, values aligned.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let when = |t: Option<u64>| t.map_or_else(|| "none".to_owned(), time::rfc3339);
        let mut rows = vec![
            ("path", caro_recorder::paths::shown(&self.path)),
            (
                "file size",
                format!("{} ({} bytes)", mib(self.file_size), self.file_size),
            ),
            (
                "format version",
                format!("{}.{}", self.version_major, self.version_minor),
            ),
            ("created", time::rfc3339(self.created_ns)),
            (
                "capacity",
                format!("{} slots in {} lanes", self.capacity_slots, self.lanes),
            ),
        ];
        for c in &self.classes {
            let name = match c.class {
                LaneClass::Main => "main lanes",
                LaneClass::Alert => "alert lanes",
            };
            let lanes = if c.lanes == 1 { "lane" } else { "lanes" };
            let size = mib(c.slots * u64::from(SLOT_SIZE));
            rows.push((
                name,
                format!("{} {lanes}, {} slots ({size})", c.lanes, c.slots),
            ));
        }
        rows.push((
            "identity table",
            self.identities.map_or_else(
                || "none (format before 1.3)".to_owned(),
                |i| {
                    format!(
                        "{} of {} held, {} written, {} lost to laps",
                        i.held, i.capacity, i.claimed, i.lost_to_laps
                    )
                },
            ),
        ));
        rows.extend([
            ("slots written", self.slots_written.to_string()),
            ("records", self.records.to_string()),
            ("oldest", when(self.oldest_ns)),
            ("newest", when(self.newest_ns)),
            ("writer processes", self.processes.to_string()),
            (
                "process starts",
                format!("{} distinct pids", self.process_start_pids),
            ),
            ("threads", self.threads.to_string()),
            ("lost to laps", self.lost_to_laps.to_string()),
            ("abandoned", self.abandoned.to_string()),
            ("pending", self.pending.to_string()),
            ("corrupt", self.corrupt.to_string()),
            ("unknown kinds", self.unknown_kinds.to_string()),
        ]);
        let dropped: Vec<String> = self
            .dropped
            .iter()
            .map(|(name, n)| format!("{n} {name}"))
            .collect();
        rows.push(("dropped", dropped.join(", ")));
        rows.push(("values left out", self.values_left_out.to_string()));
        rows.push((
            "dictionary",
            format!(
                "{} entries ({} callsites, {} strings, {} messages), {} unfinished, {} bytes skipped",
                self.dictionary_entries,
                self.dictionary_callsites,
                self.dictionary_strings,
                self.dictionary_messages,
                self.dictionary_unfinished,
                self.dictionary_skipped_bytes
            ),
        ));
        rows
    }

    /// Writes the status as an aligned table.
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        write_rows(&self.rows(), out)
    }

    /// Writes the status as one line of JSON.
    pub fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer(&mut *out, &self.to_json())?;
        out.write_all(b"\n")
    }
}

/// `name:  value` lines, values aligned.
fn write_rows(rows: &[(&str, String)], out: &mut dyn Write) -> io::Result<()> {
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0) + 1;
    for (name, value) in rows {
        writeln!(out, "{:<width$}  {value}", format!("{name}:"))?;
    }
    Ok(())
}

/// The store's lines of the status.
pub fn store_rows(store: Option<&StoreStatus>) -> Vec<(&'static str, String)> {
    let Some(s) = store else {
        return vec![(
            "store",
            "none yet (caro-analyze ingest creates it)".to_owned(),
        )];
    };
    vec![
        ("store", caro_recorder::paths::shown(&s.path)),
        ("store size", format!("{} ({} bytes)", mib(s.size), s.size)),
        (
            "days covered",
            s.days.map_or_else(
                || "none".to_owned(),
                |(a, b)| match b - a + 1 {
                    1 => format!("{} (1 day)", time::day_name(a)),
                    n => format!("{} to {} ({n} days)", time::day_name(a), time::day_name(b)),
                },
            ),
        ),
        ("requests stored", s.requests.to_string()),
        ("traces kept", s.traces.to_string()),
        (
            "last ingest",
            s.last_ingest_ns
                .map_or_else(|| "never".to_owned(), time::rfc3339),
        ),
    ]
}

/// The store's part of the JSON status (`null` without a store).
pub fn store_json(store: Option<&StoreStatus>) -> serde_json::Value {
    store.map_or(serde_json::Value::Null, |s| {
        json!({
            "path": caro_recorder::paths::shown(&s.path),
            "size": s.size,
            "first_day": s.days.map(|(a, _)| time::day_name(a)),
            "last_day": s.days.map(|(_, b)| time::day_name(b)),
            "requests": s.requests,
            "traces": s.traces,
            "last_ingest_ns": s.last_ingest_ns,
            "last_ingest": s.last_ingest_ns.map(time::rfc3339),
        })
    })
}

/// Runs `caro-analyze status`: the ring at `path`, and the store at `db`
/// if there is one, summarised on `out`.
pub fn run(
    path: &std::path::Path,
    db: Option<&std::path::Path>,
    as_json: bool,
    out: &mut dyn Write,
) -> crate::Result<()> {
    let status = Status::of(&crate::scrub::ring::load(path)?);
    let store = match db {
        Some(db) => StoreStatus::read(db)?,
        None => None,
    };
    if as_json {
        let mut v = status.to_json();
        v["store"] = store_json(store.as_ref());
        serde_json::to_writer(&mut *out, &v).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
    } else {
        let mut rows = status.rows();
        rows.extend(store_rows(store.as_ref()));
        write_rows(&rows, out)?;
    }
    out.flush()?;
    Ok(())
}

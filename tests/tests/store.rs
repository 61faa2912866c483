//! The analyzer's store, end to end with real processes: ingests killed at
//! any moment or started together fold every record in exactly once; 40
//! simulated days keep only what the retention limits allow; `clear`
//! deletes everything after saying what; a store that is not ours, or is
//! locked, is a one-line error and is left as it was.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use caro_tests::store::{open_read_only, rows, table_names};
use caro_tests::{counts, ingested, logged_events, report, truth_events, truth_requests, DataDir};
use rusqlite::types::Value;
use rusqlite::Connection;

/// The tables of `metrics.db`, as analyzer/src/store/schema.rs documents them.
const TABLES: [&str; 12] = [
    "callsites",
    "counters",
    "events",
    "gauges",
    "histograms",
    "invocations",
    "levels",
    "meta",
    "panics",
    "processes",
    "recorder",
    "traces",
];

const DAY_S: u64 = 86_400;

fn read_truth(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("truth file {} is not JSON: {e}", path.display()))
}

/// A data folder whose commands see `env` (`CARO_NOW`, `CARO_RING_SIZE`).
fn data_dir(env: &[(&str, &str)]) -> DataDir {
    let mut home = DataDir::new();
    for (k, v) in env {
        set_env(&mut home, k, v);
    }
    home
}

fn set_env(home: &mut DataDir, key: &str, value: &str) {
    home.env.retain(|(k, _)| k != key);
    home.env.push((key.to_owned(), value.to_owned()));
}

/// Copies `from`'s ring into `to`'s data folder.
fn copy_ring(from: &DataDir, to: &DataDir) {
    std::fs::create_dir_all(to.caro_dir()).unwrap();
    std::fs::copy(from.ring(), to.ring()).unwrap();
}

/// Every file under `dir`, by path relative to it, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// What a user's data folder holds, as far as the store goes.
#[derive(Debug)]
struct Stored {
    /// Each table's rows, every column, in a canonical order.
    tables: BTreeMap<String, Vec<Vec<Value>>>,
    /// Every file beside the store (telemetry.log and its archives,
    /// crashes/…), the ring and the store's own files left out.
    files: BTreeMap<String, Vec<u8>>,
}

fn read_store(home: &DataDir) -> Stored {
    let dir = home.caro_dir();
    let conn = open_read_only(&dir.join("metrics.db"));
    let names: Vec<String> = table_names(&conn);
    assert_eq!(names, TABLES, "the store's tables");
    let tables = names.iter().map(|t| (t.clone(), rows(&conn, t))).collect();
    let mut files = files(&dir);
    files.retain(|name, _| name != "events.ring" && !name.starts_with("metrics.db"));
    Stored { tables, files }
}

/// `{:?}`, cut to a readable length.
fn short(v: &impl std::fmt::Debug) -> String {
    let s = format!("{v:?}");
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// Fails the test, saying where, unless `actual` holds exactly what
/// `expected` does: every row of every table, every file's bytes.
fn assert_same_store(actual: &Stored, expected: &Stored, what: &str) {
    for (table, want) in &expected.tables {
        let got = &actual.tables[table];
        if let Some(i) = (0..want.len().max(got.len())).find(|&i| got.get(i) != want.get(i)) {
            panic!(
                "{what}: table {table} has {} rows where one uninterrupted ingest has {}; \
                 first difference at row {i}: {} instead of {}",
                got.len(),
                want.len(),
                short(&got.get(i)),
                short(&want.get(i)),
            );
        }
    }
    let names = |s: &Stored| s.files.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(actual),
        names(expected),
        "{what}: the files beside the store (telemetry.log, crashes/…) differ"
    );
    for (name, want) in &expected.files {
        let got = &actual.files[name];
        if got != want {
            let at = got.iter().zip(want).position(|(a, b)| a != b);
            panic!(
                "{what}: {name} differs: {} bytes where one uninterrupted ingest wrote {}, \
                 first difference at byte {}",
                got.len(),
                want.len(),
                at.map_or("(one is a prefix of the other)".to_owned(), |i| i
                    .to_string())
            );
        }
    }
}

/// What a killed ingest left beside the store that the store does not
/// account for, if anything: a crash snapshot half written, or written but
/// not committed, or a telemetry.log longer than committed.
fn uncommitted_traces(home: &DataDir) -> Option<&'static str> {
    let dir = home.caro_dir();
    // A store killed while being created may have no tables yet.
    let (log_len, panics) = if dir.join("metrics.db").exists() {
        let conn = open_read_only(&dir.join("metrics.db"));
        let log_len: u64 = conn
            .query_row("SELECT value FROM meta WHERE key = 'log_len'", [], |r| {
                r.get::<_, String>(0)
            })
            .map_or(0, |v| v.parse().unwrap());
        let panics: u64 = conn
            .query_row("SELECT count(*) FROM panics", [], |r| r.get(0))
            .unwrap_or(0);
        (log_len, panics)
    } else {
        (0, 0)
    };
    let crashes: Vec<String> = std::fs::read_dir(dir.join("crashes"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    let on_disk = std::fs::metadata(dir.join("telemetry.log")).map_or(0, |m| m.len());
    if crashes.iter().any(|n| n.ends_with(".tmp")) {
        Some("a crash snapshot half written")
    } else if on_disk > log_len {
        Some("telemetry.log longer than committed")
    } else if !crashes.is_empty() && panics == 0 {
        Some("a crash snapshot not committed")
    } else {
        None
    }
}

/// The inode of the crash snapshot in `home`, if there is one: a new one
/// each time an ingest writes it (through a temporary file and a rename).
fn snapshot_inode(home: &DataDir) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir(home.caro_dir().join("crashes"))
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".zst"))
        .and_then(|e| e.metadata().ok())
        .map(|m| m.ino())
}

/// Waits for `child` to exit on its own, or, when `kill_at` says so
/// (polled every millisecond), SIGKILLs it; returns its output.
fn run_until(mut child: Child, mut kill_at: impl FnMut() -> bool) -> Output {
    while child.try_wait().unwrap().is_none() {
        if kill_at() {
            // It may have exited meanwhile: then this is a no-op.
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn killing_ingest_at_any_moment_then_rerunning_equals_one_uninterrupted_run() {
    let env = [
        ("CARO_RING_SIZE", "32M"),
        ("CARO_NOW", "2026-03-02T00:00:00Z"),
    ];
    let home = data_dir(&env);
    home.sim(&[
        "--queries",
        "6000",
        "--threads",
        "4",
        "--seed",
        "21",
        "--time-scale",
        "0",
        "--start",
        "2026-03-01T08:00:00Z",
        "--panics",
    ]);

    // One uninterrupted ingest of a copy of the same ring, timed.
    let reference = data_dir(&env);
    copy_ring(&home, &reference);
    let started = Instant::now();
    let out = reference.analyze_ok(&["ingest"]);
    let full = started.elapsed();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let (records, _) = ingested(&out);
    assert!(
        records > 100_000 && said.contains(" 0 slots lost to laps, 0 abandoned"),
        "the reference ingest took a whole ring of over a hundred thousand records: {said}"
    );
    let expected = read_store(&reference);
    assert!(
        !expected.tables["panics"].is_empty()
            && expected.files.keys().any(|f| f.starts_with("crashes/")),
        "the simulated panics were stored and the ring saved to crashes/: {:?}",
        expected.files.keys().collect::<Vec<_>>()
    );

    // Ingests killed after delays spread over an uninterrupted one's
    // duration, or as soon as they have written the crash snapshot (moments
    // before they commit), whichever comes first; then a few killed at the
    // snapshot only. None is let finish: one that did would make the rest
    // no-ops.
    let spread = 12u32;
    let at_snapshot = 3u32;
    let mut kills: BTreeMap<&str, u32> = BTreeMap::new();
    let mut finished = 0;
    for round in 0..spread + at_snapshot {
        let delay = (round < spread).then(|| full.mul_f64(f64::from(round) / f64::from(spread)));
        let before = snapshot_inode(&home);
        let started = Instant::now();
        let out = run_until(home.spawn_analyze(&["ingest"]), || {
            delay.is_some_and(|d| started.elapsed() >= d) || snapshot_inode(&home) != before
        });
        if out.status.signal() == Some(libc::SIGKILL) {
            *kills
                .entry(uncommitted_traces(&home).unwrap_or("nothing uncommitted"))
                .or_default() += 1;
        } else {
            assert!(
                out.status.success(),
                "round {round}: ingest failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            finished += 1;
        }
    }
    eprintln!(
        "an uninterrupted ingest takes {full:?}; {finished} of {} ingests finished, \
         the kills left: {kills:?}",
        spread + at_snapshot
    );
    let killed: u32 = kills.values().sum();
    assert!(
        killed >= spread / 2,
        "only {killed} ingests were killed before they finished"
    );
    assert!(
        kills.len() > 1,
        "no kill landed while an ingest had written files beside the store but not \
         committed them: {kills:?}"
    );

    let out = home.analyze_ok(&["ingest"]);
    let (r, q) = ingested(&out);
    assert_same_store(
        &read_store(&home),
        &expected,
        &format!(
            "after {killed} killed ingests and one to completion (which took {r} records, \
             {q} requests)"
        ),
    );
    // Nothing new: a second ingest changes nothing.
    let out = home.analyze_ok(&["ingest"]);
    assert_eq!(ingested(&out), (0, 0), "a second ingest found nothing new");
    assert_same_store(
        &read_store(&home),
        &expected,
        "after a second ingest with nothing new",
    );
}

/// Sends `signal` to `child`, which has not been waited for.
fn signal(child: &Child, signal: i32) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) touches no memory of ours; the pid is our child's,
    // not yet reaped, so it names no other process.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
}

/// Starts `n` `caro-analyze ingest` in `home` at one moment: each is
/// stopped as soon as it is spawned, then all are continued together.
fn ingests_at_once(home: &DataDir, n: usize) -> Vec<Child> {
    let children: Vec<Child> = (0..n)
        .map(|_| {
            let child = home.spawn_analyze(&["ingest"]);
            signal(&child, libc::SIGSTOP);
            child
        })
        .collect();
    for child in &children {
        signal(child, libc::SIGCONT);
    }
    children
}

#[test]
fn two_ingests_started_together_never_double_count() {
    let env = [("CARO_NOW", "2026-04-02T00:00:00Z")];
    let home = data_dir(&env);
    let truth = home.path().join("truth.json");
    home.sim(&[
        "--queries",
        "1000",
        "--threads",
        "4",
        "--seed",
        "33",
        "--time-scale",
        "0",
        "--start",
        "2026-04-01T09:00:00Z",
        "--panics",
        "--truth",
        truth.to_str().unwrap(),
    ]);
    let requests = truth_requests(&read_truth(&truth));
    let reference = data_dir(&env);
    copy_ring(&home, &reference);
    let out = reference.analyze_ok(&["ingest"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains(" 0 slots lost to laps, 0 abandoned"),
        "the ring holds every record: {said}"
    );
    let (records, _) = ingested(&out);
    let expected = read_store(&reference);

    // Into a store that exists (made by `gc`, which ingests nothing), then
    // into none, so that the ingests also race to create it.
    let rounds = [(true, 3), (true, 2), (true, 3)]
        .into_iter()
        .chain([(false, 2), (false, 3)].repeat(2));
    for (round, (existing, ingests)) in rounds.enumerate() {
        let together = data_dir(&env);
        copy_ring(&home, &together);
        if existing {
            together.analyze_ok(&["gc"]);
        }
        let round = format!(
            "round {round} ({ingests} ingests at once, {})",
            if existing {
                "into an existing store"
            } else {
                "no store yet"
            }
        );
        let children = ingests_at_once(&together, ingests);
        let mut said = (0, 0);
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{round}: an ingest failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            let (r, q) = ingested(&out);
            said = (said.0 + r, said.1 + q);
        }
        assert_eq!(
            said,
            (records, requests),
            "{round}: the ingests say they ingested (records, requests) {said:?}; the ring \
             holds {records} records of {requests} requests"
        );
        assert_same_store(&read_store(&together), &expected, &round);
        let r = report(&together, &["--no-ingest"]);
        assert_eq!(
            r["requests"], requests,
            "{round}: the report's requests, where the simulation served {requests}"
        );
    }

    // Creating the store is the narrow part: race it more often, with a
    // small ring that ingests in moments.
    let mut small = data_dir(&env);
    set_env(&mut small, "CARO_RING_SIZE", "1M");
    let truth = small.path().join("truth.json");
    small.sim(&[
        "--queries",
        "20",
        "--seed",
        "34",
        "--time-scale",
        "0",
        "--start",
        "2026-04-01T10:00:00Z",
        "--truth",
        truth.to_str().unwrap(),
    ]);
    let requests = truth_requests(&read_truth(&truth));
    for round in 0..30 {
        let together = data_dir(&env);
        copy_ring(&small, &together);
        let children = ingests_at_once(&together, 4);
        let mut said = 0;
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "small round {round}: one of 4 ingests started together into no store \
                 failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            said += ingested(&out).1;
        }
        assert_eq!(
            said, requests,
            "small round {round}: the requests the 4 ingests say they took"
        );
        assert_eq!(
            report(&together, &["--no-ingest"])["requests"],
            requests,
            "small round {round}: the report's requests"
        );
    }
}

/// `2026-01-15` for a day counted from 1970-01-01 (proleptic Gregorian).
fn day_name(day: u64) -> String {
    // Howard Hinnant's days_from_civil, inverted.
    let z = day as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// RFC 3339, UTC, of Unix seconds.
fn rfc3339(secs: u64) -> String {
    let s = secs % DAY_S;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        day_name(secs / DAY_S),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Checks that telemetry.log text `text` of simulated day `day` holds
/// exactly the events that day's simulation emitted, all on that day.
fn assert_log_is_the_days(text: &str, day: u64, truth: &serde_json::Value, what: &str) {
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: invalid line {l:?}: {e}"))
        })
        .collect();
    let name = day_name(day);
    for l in &lines {
        assert!(
            l["timestamp"]
                .as_str()
                .is_some_and(|t| t.starts_with(&name)),
            "{what}: a line not of {name}: {l}"
        );
    }
    assert_eq!(
        counts(logged_events(&lines)),
        counts(truth_events(truth)),
        "{what}: the events of {name}"
    );
}

#[test]
fn retention_over_40_simulated_days() {
    // 2026-01-01; each day is simulated from 06:00 (for minutes) and
    // ingested at 23:00, so that a limit of whole days from an ingest's
    // 23:00 falls between days, never inside one.
    const FIRST: u64 = 20_454;
    const DAYS: u64 = 40;
    assert_eq!(day_name(FIRST), "2026-01-01");
    let at = |day: u64, hour: u64| rfc3339(day * DAY_S + hour * 3600);
    let mut home = data_dir(&[("CARO_RING_SIZE", "4M")]);
    let mut truths = Vec::new();
    for i in 0..DAYS {
        let day = FIRST + i;
        let truth = home.path().join(format!("truth-{i}.json"));
        let seed = (100 + i).to_string();
        home.sim(&[
            "--queries",
            "50",
            "--seed",
            &seed,
            "--time-scale",
            "0",
            "--start",
            &at(day, 6),
            "--truth",
            truth.to_str().unwrap(),
        ]);
        let truth = read_truth(&truth);
        assert!(
            truth["end_ns"].as_u64().unwrap() < (day * DAY_S + 23 * 3600) * 1_000_000_000,
            "day {i}: the simulation ran past 23:00"
        );
        set_env(&mut home, "CARO_NOW", &at(day, 23));
        let out = home.analyze_ok(&["ingest"]);
        assert_eq!(
            ingested(&out).1,
            truth_requests(&truth),
            "day {i} ({}): the requests ingested",
            day_name(day)
        );
        truths.push(truth);
    }

    let last = FIRST + DAYS - 1;
    let now_s = last * DAY_S + 23 * 3600;
    let cutoff_s = now_s - 30 * DAY_S;
    // Days 10..=39 are wholly inside the 30 days before now, day 9 wholly
    // outside (its requests ran at 06:00, the limit is at 23:00).
    let sum =
        |days: std::ops::Range<usize>| -> u64 { truths[days].iter().map(truth_requests).sum() };
    let kept = sum(10..40);
    let conn = open_read_only(&home.caro_dir().join("metrics.db"));
    for table in ["events", "processes"] {
        let (oldest, n): (Option<i64>, u64) = conn
            .query_row(
                &format!("SELECT min(timestamp), count(*) FROM {table}"),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let oldest = oldest.unwrap_or_else(|| panic!("no {table} rows kept at all"));
        assert!(
            oldest as u64 >= cutoff_s,
            "a {table} row of {} is kept, older than 30 days before {}",
            rfc3339(oldest as u64),
            rfc3339(now_s)
        );
        let want = if table == "events" { kept } else { 30 };
        assert_eq!(
            n, want,
            "{table} rows kept: the last 30 days' (one process a day)"
        );
    }
    let cutoff_day = FIRST + 9;
    let days: Vec<u64> = conn
        .prepare("SELECT DISTINCT day FROM histograms ORDER BY day")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        days.iter().map(|d| day_name(*d)).collect::<Vec<_>>(),
        (cutoff_day..=last).map(day_name).collect::<Vec<_>>(),
        "histograms kept: the days that ended less than 30 days before {}",
        rfc3339(now_s)
    );
    for table in ["counters", "gauges", "levels", "recorder"] {
        let oldest: Option<u64> = conn
            .query_row(&format!("SELECT min(day) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        if let Some(oldest) = oldest {
            assert!(
                oldest >= cutoff_day,
                "{table} keeps {}, a day that ended more than 30 days before {}",
                day_name(oldest),
                rfc3339(now_s)
            );
        }
    }
    drop(conn);

    // telemetry.log: today's lines, and an archive for each of the 7 days
    // before, each holding exactly its day's events.
    let mut archives: Vec<String> = std::fs::read_dir(home.caro_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("telemetry.log."))
        .collect();
    archives.sort();
    let want: Vec<String> = (last - 7..last)
        .map(|d| format!("telemetry.log.{}.zst", day_name(d)))
        .collect();
    assert_eq!(
        archives,
        want,
        "telemetry.log archives: the 7 days before {}",
        rfc3339(now_s)
    );
    for (name, day) in archives.iter().zip(last - 7..last) {
        let compressed = std::fs::read(home.caro_dir().join(name)).unwrap();
        let text = zstd::stream::decode_all(&compressed[..])
            .unwrap_or_else(|e| panic!("{name} does not decompress: {e}"));
        let text = String::from_utf8(text).unwrap();
        assert_log_is_the_days(&text, day, &truths[(day - FIRST) as usize], name);
    }
    let today = std::fs::read_to_string(home.caro_dir().join("telemetry.log")).unwrap();
    assert_log_is_the_days(
        &today,
        last,
        &truths[(last - FIRST) as usize],
        "telemetry.log",
    );

    // What a user reads.
    let r30 = report(&home, &["--days", "30"]);
    assert_eq!(
        r30["requests"], kept,
        "report --days 30: the last 30 days' requests"
    );
    let r7 = report(&home, &["--days", "7"]);
    assert_eq!(
        r7["requests"],
        sum(33..40),
        "report --days 7: the last 7 days' requests"
    );

    // A month later with nothing new, gc deletes nothing: retention counts
    // from the newest data, never from the clock alone, and says so.
    let before = files(&home.caro_dir());
    set_env(&mut home, "CARO_NOW", &at(last + 31, 23));
    let out = home.analyze_ok(&["gc"]);
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(
        warning.starts_with("caro-analyze: warning: the clock") && warning.lines().count() == 1,
        "gc 31 days after the newest data: {warning}"
    );
    assert_eq!(
        files(&home.caro_dir()).keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "gc 31 days after the newest data deleted files"
    );
    let conn = open_read_only(&home.caro_dir().join("metrics.db"));
    let events: u64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(events, kept, "events left by gc with only the clock moved");
    drop(conn);

    // A day recorded then expires everything older than its 30 days.
    let day = last + 31;
    home.sim(&[
        "--queries",
        "5",
        "--seed",
        "7",
        "--time-scale",
        "0",
        "--start",
        &at(day, 6),
    ]);
    home.analyze_ok(&["ingest"]);
    let conn = open_read_only(&home.caro_dir().join("metrics.db"));
    for table in ["events", "histograms", "levels"] {
        let oldest: i64 = conn
            .query_row(
                &format!(
                    "SELECT min({}) FROM {table}",
                    if table == "events" {
                        "timestamp / 86400"
                    } else {
                        "day"
                    }
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            day_name(oldest as u64),
            day_name(day),
            "{table}: only the new day is kept"
        );
    }
    let left: Vec<_> = files(&home.caro_dir())
        .into_iter()
        .filter(|(n, _)| n.starts_with("telemetry.log."))
        .map(|(n, _)| n)
        .collect();
    assert!(
        left.is_empty(),
        "telemetry.log archives left 31 days after the last day: {left:?}"
    );
}

/// Checks that `out` is a clean failure: exit code `code` (1 I/O, 2 usage,
/// 4 damaged data; not a panic's 101), one line on stderr starting
/// `caro-analyze: error:`; returns that line.
fn one_line_error(out: &Output, code: i32, what: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(out.status.code(), Some(101), "{what}: panicked: {err}");
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: exit status; stderr: {err}"
    );
    assert_eq!(
        err.lines().count(),
        1,
        "{what}: one line on stderr, got {err:?}"
    );
    assert!(
        err.starts_with("caro-analyze: error: ") && err.ends_with('\n'),
        "{what}: {err:?}"
    );
    err
}

#[test]
fn clear_deletes_everything_after_saying_what() {
    let home = DataDir::new();
    home.sim(&[
        "--queries",
        "1000",
        "--seed",
        "44",
        "--time-scale",
        "0",
        "--panics",
    ]);
    home.analyze_ok(&["ingest"]);
    let dir = home.caro_dir();
    let targets = ["events.ring", "metrics.db", "telemetry.log", "crashes"];
    for t in targets {
        assert!(dir.join(t).exists(), "{t} exists after a run and an ingest");
    }
    let before = files(&dir);

    // stdin is not a terminal (Command::output closes it), and no --yes.
    let out = home.analyze(&["clear"]);
    let err = one_line_error(&out, 2, "clear without --yes where nobody can be asked");
    assert!(
        err.contains("--yes"),
        "the error says to pass --yes: {err:?}"
    );
    assert!(
        files(&dir) == before,
        "clear without --yes deleted or changed files: {:?} left of {:?}",
        files(&dir).keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );

    let out = home.analyze_ok(&["clear", "--yes"]);
    let said = String::from_utf8(out.stdout).unwrap();
    for t in targets {
        let shown = dir.join(t).display().to_string();
        assert!(
            said.lines().any(|l| l.contains(&shown)),
            "clear --yes does not list {shown}: {said}"
        );
    }
    assert_eq!(said.lines().last(), Some("Deleted."), "{said}");
    for t in targets {
        assert!(
            !dir.join(t).exists(),
            "{t} is still there after clear --yes"
        );
    }
    let left: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "clear --yes left {left:?}");
}

/// Bytes that are no SQLite database (SplitMix64, fixed seed).
fn random_bytes(n: usize) -> Vec<u8> {
    let mut s = 0x5EED_u64;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

#[test]
fn a_foreign_or_corrupt_store_is_a_one_line_error_and_left_as_it_was() {
    let scratch = tempfile::tempdir().unwrap();
    // Another application's database.
    let other = scratch.path().join("notes.db");
    let conn = Connection::open(&other).unwrap();
    conn.execute_batch(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
         INSERT INTO notes (body) VALUES ('buy milk');",
    )
    .unwrap();
    drop(conn);
    // Our schema, from a newer caro-analyze; and a store of ours cut short.
    let ours = DataDir::new();
    ours.sim(&["--queries", "300", "--seed", "55", "--time-scale", "0"]);
    ours.analyze_ok(&["ingest"]);
    let ours_db = ours.caro_dir().join("metrics.db");
    let whole = std::fs::read(&ours_db).unwrap();
    let conn = Connection::open(&ours_db).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let newer = std::fs::read(&ours_db).unwrap();
    assert!(newer.len() >= 4096 * 4, "a store of several pages");

    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "random bytes",
            random_bytes(64 << 10),
            "not a caro metrics store",
        ),
        (
            "another application's SQLite database",
            std::fs::read(&other).unwrap(),
            "not a caro metrics store",
        ),
        ("our schema at user_version 99", newer, "schema version 99"),
        (
            "our store cut to half its size",
            whole[..whole.len() / 2].to_vec(),
            "not a caro metrics store",
        ),
    ];

    let home = DataDir::new();
    home.sim(&["--queries", "20", "--seed", "56", "--time-scale", "0"]);
    let dir = home.caro_dir();
    let db = dir.join("metrics.db");
    for (case, bytes, says) in &cases {
        std::fs::write(&db, bytes).unwrap();
        let before = files(&dir);
        for args in [
            &["ingest"][..],
            &["report", "--json"][..],
            &["report", "--json", "--no-ingest"][..],
            &["gc"][..],
        ] {
            let what = format!("{} on {case}", args.join(" "));
            let out = home.analyze(args);
            let err = one_line_error(&out, 4, &what);
            assert!(
                out.stdout.is_empty(),
                "{what}: printed {:?}",
                String::from_utf8_lossy(&out.stdout)
            );
            assert!(err.contains(says), "{what}: {err:?} should say {says:?}");
            assert!(
                err.contains(&db.display().to_string()),
                "{what}: {err:?} should name the store"
            );
            assert!(
                std::fs::read(&db).unwrap() == *bytes,
                "{what}: metrics.db was changed"
            );
            let after = files(&dir);
            assert_eq!(
                after.keys().collect::<Vec<_>>(),
                before.keys().collect::<Vec<_>>(),
                "{what}: files created or deleted beside the store"
            );
        }
    }
}

#[test]
fn a_locked_store_is_a_clear_error() {
    let home = DataDir::new();
    let truth = home.path().join("truth.json");
    home.sim(&[
        "--queries",
        "100",
        "--seed",
        "66",
        "--time-scale",
        "0",
        "--truth",
        truth.to_str().unwrap(),
    ]);
    let requests = truth_requests(&read_truth(&truth));
    // gc creates the store and ingests nothing.
    home.analyze_ok(&["gc"]);
    let db = home.caro_dir().join("metrics.db");
    let lock = Connection::open(&db).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();

    // Held past the analyzer's patience (20 s): a one-line error.
    let started = Instant::now();
    let out = home.analyze(&["ingest"]);
    let waited = started.elapsed();
    let err = one_line_error(&out, 1, "ingest on a locked store");
    assert!(
        err.contains("is locked by another process") && err.contains(&db.display().to_string()),
        "the error says the store is locked: {err:?}"
    );
    assert!(
        waited >= Duration::from_secs(15),
        "ingest gave up after {waited:?}, without waiting for the lock"
    );

    // Held for a moment: waited out.
    let child = home.spawn_analyze(&["ingest"]);
    std::thread::sleep(Duration::from_millis(500));
    lock.execute_batch("ROLLBACK").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "ingest after a lock held for a moment failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        ingested(&out).1,
        requests,
        "the ingest that waited took every request"
    );
    drop(lock);
    assert_eq!(report(&home, &["--no-ingest"])["requests"], requests);
}

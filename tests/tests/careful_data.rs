//! Careful with the user's data (issue 14), end to end with real processes
//! and real files:
//!
//! - a clock that jumps (8 days, 31 days or a year ahead, a year back)
//!   loses nothing: retention counts from the newest data, telemetry.log is
//!   not emptied, the commands warn about the clock in one line, and new
//!   records ingested a year "early" go under their own day;
//! - a ring restored from an older copy is said so, and every request
//!   written after the restore is counted exactly once;
//! - readers (`report`, `traces`, `export`, `telemetry preview`, `status`,
//!   `serve`'s /metrics) answer within a second while another process
//!   holds the store's write lock, and an `ingest` waits for it;
//! - a full disk (no file may grow) still lets the readers read;
//! - a ring larger than the memory the reader may use, and zstd bombs at
//!   the ring path, end in exit 0 or one line — never an abort, a signal
//!   or a backtrace.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use caro_tests::store::{open_read_only, rows, table_names};
use caro_tests::{
    bins, counts, ingested, logged_events, report, truth_events, truth_requests, wait_for, DataDir,
};
use rusqlite::Connection;

/// 2026-03-01 and 2026-03-02, as the store counts days (since 1970).
const DAY1: i64 = 20_513;
const DAY2: i64 = 20_514;
const DAY_S: i64 = 86_400;

/// The address space the reader may use in the memory tests.
const MEMORY_LIMIT: u64 = 1 << 30;

// ---------------------------------------------------------------------------
// Helpers.

/// Plays `queries` requests of seed `seed` starting at `start` (RFC 3339),
/// in simulated time only; returns its truth.
fn session(home: &DataDir, queries: u64, seed: u64, start: &str) -> serde_json::Value {
    let (q, s) = (queries.to_string(), seed.to_string());
    let truth = home.sim_truth(&[
        "--queries",
        &q,
        "--seed",
        &s,
        "--time-scale",
        "0",
        "--start",
        start,
    ]);
    assert!(
        truth_requests(&truth) > 0,
        "the session at {start} served nothing"
    );
    truth
}

/// Unix nanoseconds of an RFC 3339 time.
fn ns(rfc3339: &str) -> u64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap() as u64
}

/// The `caro-analyze: warning:` lines of a command's stderr.
fn warnings(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("caro-analyze: warning:"))
        .map(str::to_owned)
        .collect()
}

/// Whether `out` warned exactly once, about the clock.
fn one_clock_warning(out: &Output) -> Result<(), String> {
    let w = warnings(out);
    match &w[..] {
        [line] if line.contains("clock") => Ok(()),
        [line] => Err(format!("its warning does not mention the clock: {line:?}")),
        _ => Err(format!(
            "{} `caro-analyze: warning:` lines, not one about the clock; stderr: {:?}",
            w.len(),
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// Fails the test with the failures in `failures` (the first 30), if
/// there is one.
fn assert_none(failures: &[String], what: &str) {
    const SHOWN: usize = 30;
    let more = match failures.len().saturating_sub(SHOWN) {
        0 => String::new(),
        n => format!("\n… and {n} more"),
    };
    assert!(
        failures.is_empty(),
        "{what}: {} failures:\n{}{more}",
        failures.len(),
        failures[..failures.len().min(SHOWN)].join("\n")
    );
}

/// `{:?}`, cut to a readable length.
fn short(v: &impl std::fmt::Debug) -> String {
    let s = format!("{v:?}");
    match s.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// Fails if `out` warned about the clock.
fn assert_no_clock_warning(out: &Output, what: &str) {
    let w = warnings(out);
    assert!(
        !w.iter().any(|l| l.contains("clock")),
        "{what}: warned about the clock with the clock right: {w:?}"
    );
}

/// Every table of the store in `home`, its rows as text (a multiset),
/// except `meta`, whose values change with every command: its keys.
fn read_tables(home: &DataDir) -> BTreeMap<String, BTreeMap<String, usize>> {
    let conn = open_read_only(&home.caro_dir().join("metrics.db"));
    let names: Vec<String> = table_names(&conn);
    names
        .into_iter()
        .map(|t| {
            let rows: Vec<String> = if t == "meta" {
                conn.prepare("SELECT key FROM meta")
                    .unwrap()
                    .query_map([], |r| r.get::<_, String>(0))
                    .unwrap()
                    .collect::<rusqlite::Result<_>>()
                    .unwrap()
            } else {
                rows(&conn, &t).iter().map(|r| format!("{r:?}")).collect()
            };
            (t, counts(rows))
        })
        .collect()
}

/// How many rows `sql` (a `SELECT count(*)`) counts in `home`'s store.
fn count(home: &DataDir, sql: &str) -> i64 {
    open_read_only(&home.caro_dir().join("metrics.db"))
        .query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Every line of telemetry.log and of its archives.
fn log_lines(home: &DataDir) -> Vec<String> {
    let mut lines = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(home.caro_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("telemetry.log"))
        .collect();
    names.sort();
    for name in names {
        let bytes = std::fs::read(home.caro_dir().join(&name)).unwrap();
        let text = if name.ends_with(".zst") {
            zstd::stream::decode_all(&bytes[..])
                .unwrap_or_else(|e| panic!("{name} does not decompress: {e}"))
        } else {
            bytes
        };
        lines.extend(String::from_utf8(text).unwrap().lines().map(str::to_owned));
    }
    lines
}

/// telemetry.log's bytes (empty when it is missing).
fn telemetry_log(home: &DataDir) -> Vec<u8> {
    std::fs::read(home.caro_dir().join("telemetry.log")).unwrap_or_default()
}

/// The events (request id, message) of the lines of `lines` stamped on
/// `day` (`2026-03-02`).
fn events_of_day(lines: &[String], day: &str) -> BTreeMap<(u64, String), usize> {
    let parsed: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("invalid line {l:?}: {e}")))
        .filter(|l: &serde_json::Value| l["timestamp"].as_str().is_some_and(|t| t.starts_with(day)))
        .collect();
    counts(logged_events(&parsed))
}

/// What of `before` is missing from `after` (both multisets).
fn missing<'a>(
    before: &'a BTreeMap<String, usize>,
    after: &BTreeMap<String, usize>,
) -> Vec<&'a String> {
    before
        .iter()
        .filter(|(k, n)| after.get(*k).copied().unwrap_or(0) < **n)
        .map(|(k, _)| k)
        .collect()
}

/// `program args`, run in `home` as its commands are, stdin closed.
fn command(home: &DataDir, program: &Path, args: &[&str]) -> Command {
    let mut c = home.command(program);
    c.args(args).stdin(Stdio::null());
    c
}

/// Resource limits for a child, set between fork and exec.
#[derive(Clone, Copy, Debug, Default)]
struct Limits {
    /// RLIMIT_FSIZE, with SIGXFSZ ignored: writes past it fail with EFBIG,
    /// as on a full disk.
    file_size: Option<u64>,
    /// RLIMIT_AS: the address space the child may use.
    address_space: Option<u64>,
}

/// `caro-analyze args` in `home` under `limits`, its output piped.
fn analyze_command(home: &DataDir, args: &[&str], limits: Limits) -> Command {
    let mut c = command(home, &bins().analyze, args);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    if limits.file_size.is_some() || limits.address_space.is_some() {
        // SAFETY: between fork and exec the hook only makes async-signal-safe
        // system calls (setrlimit, signal) on values of its own; it
        // allocates nothing.
        unsafe {
            c.pre_exec(move || {
                let set = |resource, limit: u64| {
                    let rl = libc::rlimit {
                        rlim_cur: limit,
                        rlim_max: limit,
                    };
                    if libc::setrlimit(resource, &rl) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                };
                if let Some(limit) = limits.file_size {
                    set(libc::RLIMIT_FSIZE, limit)?;
                    libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                }
                if let Some(limit) = limits.address_space {
                    set(libc::RLIMIT_AS, limit)?;
                }
                Ok(())
            });
        }
    }
    c
}

/// A child killed (and reaped) when dropped, so that a failing test leaves
/// no process behind.
#[derive(Debug)]
struct Reaped(Option<Child>);

impl Reaped {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().unwrap()
    }

    fn take(mut self) -> Child {
        self.0.take().unwrap()
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `cmd` (stdout and stderr piped) to completion, or kills it once it
/// has run for `limit`: then `Err` says how long it had run. Its output is
/// read meanwhile, so a full pipe never stalls it.
fn run_within(mut cmd: Command, limit: Duration) -> Result<Output, String> {
    let started = Instant::now();
    let mut child = Reaped(Some(cmd.spawn().unwrap()));
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(
        child
            .child()
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .child()
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    loop {
        if let Some(status) = child.child().try_wait().unwrap() {
            // Reaped already: this returns the status at once.
            child.take().wait().unwrap();
            return Ok(Output {
                status,
                stdout: stdout.join().unwrap(),
                stderr: stderr.join().unwrap(),
            });
        }
        if started.elapsed() > limit {
            drop(child); // killed and reaped
            let err = stderr.join().unwrap();
            return Err(format!(
                "still running after {:?} (killed); stderr: {:?}",
                started.elapsed(),
                String::from_utf8_lossy(&err)
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `caro-analyze args` in `home` under `limits`; fails the test if it
/// runs longer than `limit`.
fn analyze_within(home: &DataDir, args: &[&str], limits: Limits, limit: Duration) -> Output {
    run_within(analyze_command(home, args, limits), limit)
        .unwrap_or_else(|e| panic!("caro-analyze {}: {e}", args.join(" ")))
}

/// Fails unless `out` succeeded; returns its stdout.
fn succeeded(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The one line of a clean failure: an exit code of `codes` (1 I/O, 4
/// damaged data; never a signal), one line on stderr, `caro-analyze:
/// error: …`; or what is wrong instead.
fn one_line(out: &Output, codes: &[i32]) -> Result<String, String> {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if let Some(signal) = out.status.signal() {
        return Err(format!("killed by signal {signal}; stderr: {err:?}"));
    }
    if !out.status.code().is_some_and(|c| codes.contains(&c)) {
        return Err(format!("{}, not {codes:?}; stderr: {err:?}", out.status));
    }
    if err.lines().count() != 1 {
        return Err(format!("not one line on stderr: {err:?}"));
    }
    if !err.starts_with("caro-analyze: error: ") || !err.ends_with('\n') {
        return Err(format!("not a `caro-analyze: error:` line: {err:?}"));
    }
    Ok(err.trim_end().to_owned())
}

/// Whether `out` ended cleanly under a memory limit: exit 0 with no trace
/// of a panic or an abort, or exit 1 (a run-time failure) with one line
/// saying it ran out of memory. Never a signal (an abort is SIGABRT), never a backtrace.
fn ok_or_out_of_memory(out: &Output) -> Result<&'static str, String> {
    let err = String::from_utf8_lossy(&out.stderr);
    if let Some(signal) = out.status.signal() {
        return Err(format!(
            "killed by signal {signal} (6 is an abort); stderr: {err:?}"
        ));
    }
    match out.status.code() {
        Some(0) => match ["panicked", "backtrace", "memory allocation"]
            .into_iter()
            .find(|bad| err.contains(bad))
        {
            Some(_) => Err(format!("succeeded, but said {err:?}")),
            None => Ok("read it"),
        },
        Some(1) => {
            let line = one_line(out, &[1])?;
            if line.contains("out of memory") {
                Ok("out of memory")
            } else {
                Err(format!("refused, but not for memory: {line:?}"))
            }
        }
        _ => Err(format!("{}; stderr: {err:?}", out.status)),
    }
}

// ---------------------------------------------------------------------------
// 1. Clock jumps lose nothing.

/// The clock jumps tried, from the first day's 23:00.
const JUMPS: [(&str, &str); 4] = [
    ("8 days ahead", "2026-03-09T23:00:00Z"),
    ("31 days ahead", "2026-04-01T23:00:00Z"),
    ("a year ahead", "2027-03-01T23:00:00Z"),
    ("a year behind", "2025-03-01T23:00:00Z"),
];

#[test]
fn clock_jumps_lose_nothing_and_warn_about_the_clock() {
    let mut home = DataDir::new();
    home.set_env("CARO_NOW", "2026-03-01T23:00:00Z");
    let t1 = session(&home, 60, 1401, "2026-03-01T06:00:00Z");
    let r1 = truth_requests(&t1);
    let out = home.analyze_ok(&["ingest"]);
    assert_eq!(ingested(&out).1, r1, "the first day's requests ingested");
    assert_no_clock_warning(&out, "ingest on the data's own day");
    let tables = read_tables(&home);
    let rows_of = |tables: &BTreeMap<String, BTreeMap<String, usize>>, t: &str| -> usize {
        tables[t].values().sum()
    };
    assert_eq!(
        rows_of(&tables, "events") as u64,
        r1,
        "one event per request"
    );
    for t in ["histograms", "levels", "recorder", "processes"] {
        assert!(rows_of(&tables, t) > 0, "the first ingest stored no {t}");
    }
    let log = telemetry_log(&home);
    let lines = counts(log_lines(&home));
    assert!(!log.is_empty(), "the first ingest wrote no telemetry.log");
    assert_eq!(
        report(&home, &["--days", "1"])["requests"],
        r1,
        "report --days 1 on the first day"
    );

    let commands: [&[&str]; 5] = [
        &["report", "--json"],
        &["gc"],
        &["ingest"],
        &["traces"],
        &["export", "--format", "jsonl"],
    ];
    let mut failures = Vec::new();
    for (jump, now) in JUMPS {
        home.set_env("CARO_NOW", now);
        for args in commands {
            let what = format!("{} with the clock {jump} ({now})", args.join(" "));
            let out = home.analyze(args);
            if !out.status.success() {
                failures.push(format!(
                    "{what}: failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim_end()
                ));
                continue;
            }
            if matches!(args[0], "report" | "gc" | "ingest") {
                if let Err(e) = one_clock_warning(&out) {
                    failures.push(format!("{what}: {e}"));
                }
            }
            let after = read_tables(&home);
            for (table, before) in &tables {
                let gone = missing(before, &after[table]);
                if !gone.is_empty() {
                    failures.push(format!(
                        "{what}: {} of the {} {table} rows are gone, such as {}",
                        gone.len(),
                        before.values().sum::<usize>(),
                        short(gone[0])
                    ));
                }
            }
            let now_log = telemetry_log(&home);
            if now_log != log {
                failures.push(format!(
                    "{what}: telemetry.log changed with no new data: {} bytes, was {}",
                    now_log.len(),
                    log.len()
                ));
            }
            let gone = missing(&lines, &counts(log_lines(&home)));
            if !gone.is_empty() {
                failures.push(format!(
                    "{what}: {} of the {} lines gone from telemetry.log and its archives",
                    gone.len(),
                    lines.values().sum::<usize>()
                ));
            }
        }
    }
    assert_none(&failures, "clock jumps with no new data");

    // Back at a normal clock, the next day adds up.
    home.set_env("CARO_NOW", "2026-03-02T23:00:00Z");
    let t2 = session(&home, 60, 1402, "2026-03-02T06:00:00Z");
    let r2 = truth_requests(&t2);
    let out = home.analyze_ok(&["ingest"]);
    assert_no_clock_warning(&out, "ingest of the second day at its 23:00");
    assert_eq!(ingested(&out).1, r2, "the second day's requests ingested");
    assert_eq!(
        report(&home, &["--days", "2"])["requests"],
        r1 + r2,
        "report --days 2: both days' requests"
    );
    assert_eq!(
        count(&home, "SELECT count(*) FROM events"),
        (r1 + r2) as i64,
        "events: both days'"
    );
    let all = log_lines(&home);
    assert_eq!(
        events_of_day(&all, "2026-03-02"),
        counts(truth_events(&t2)),
        "the second day's events in telemetry.log and its archives"
    );
    let not_day2 = counts(
        all.iter()
            .filter(|l| !l.contains("\"timestamp\":\"2026-03-02"))
            .cloned(),
    );
    assert!(
        not_day2 == lines,
        "telemetry.log and its archives: the first day's {} lines, each once, \
         besides the second day's; now {} lines of other days",
        lines.values().sum::<usize>(),
        not_day2.values().sum::<usize>()
    );

    // Real retention still works: a session 31 days after the first day,
    // ingested at its 23:00, expires the first day's rows.
    home.set_env("CARO_NOW", "2026-04-01T23:00:00Z");
    let t3 = session(&home, 60, 1403, "2026-04-01T06:00:00Z");
    home.analyze_ok(&["ingest"]);
    let day1_end = (DAY1 + 1) * DAY_S;
    assert_eq!(
        count(
            &home,
            &format!("SELECT count(*) FROM events WHERE timestamp < {day1_end}")
        ),
        0,
        "events of 2026-03-01 kept 31 days later"
    );
    assert_eq!(
        count(
            &home,
            &format!("SELECT count(*) FROM histograms WHERE day = {DAY1}")
        ),
        0,
        "histograms of 2026-03-01 kept 31 days later"
    );
    assert_eq!(
        count(
            &home,
            &format!(
                "SELECT count(*) FROM events WHERE timestamp >= {}",
                ns("2026-04-01T00:00:00Z") / 1_000_000_000
            )
        ),
        truth_requests(&t3) as i64,
        "the new session's events"
    );
}

#[test]
fn new_records_ingested_with_the_clock_a_year_behind_go_under_their_own_day() {
    let mut home = DataDir::new();
    home.set_env("CARO_NOW", "2026-03-01T23:00:00Z");
    let t1 = session(&home, 60, 1411, "2026-03-01T06:00:00Z");
    let r1 = truth_requests(&t1);
    home.analyze_ok(&["ingest"]);
    let tables = read_tables(&home);
    let lines = counts(log_lines(&home));
    let recorder_before: Vec<(i64, i64)> = {
        let conn = open_read_only(&home.caro_dir().join("metrics.db"));
        let mut q = conn
            .prepare("SELECT day, written FROM recorder ORDER BY day")
            .unwrap();
        let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    };
    assert_eq!(
        recorder_before.iter().map(|r| r.0).collect::<Vec<_>>(),
        [DAY1],
        "the first ingest counted under 2026-03-01"
    );

    let t2 = session(&home, 60, 1412, "2026-03-02T06:00:00Z");
    let r2 = truth_requests(&t2);
    home.set_env("CARO_NOW", "2025-03-02T23:00:00Z");
    let out = home.analyze_ok(&["ingest"]);
    let (records, requests) = ingested(&out);
    assert_eq!(requests, r2, "the second day's requests ingested");
    let mut failures = Vec::new();
    if let Err(e) = one_clock_warning(&out) {
        failures.push(format!("ingest: {e}"));
    }
    let conn = open_read_only(&home.caro_dir().join("metrics.db"));
    let recorder: Vec<(i64, i64)> = conn
        .prepare("SELECT day, written FROM recorder ORDER BY day")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    drop(conn);
    let want = [recorder_before[0], (DAY2, records as i64)];
    if recorder != want {
        failures.push(format!(
            "the recorder table's (day, written) are {recorder:?}, not {want:?}: the {records} \
             new records belong under 2026-03-02 (day {DAY2}), not the clock's 2025-03-02 \
             (day {})",
            DAY2 - 365
        ));
    }
    let after = read_tables(&home);
    for (table, before) in &tables {
        let gone = missing(before, &after[table]);
        if !gone.is_empty() {
            failures.push(format!(
                "{} of the {} {table} rows are gone, such as {}",
                gone.len(),
                before.values().sum::<usize>(),
                short(gone[0])
            ));
        }
    }
    let events = count(&home, "SELECT count(*) FROM events");
    if events != (r1 + r2) as i64 {
        failures.push(format!("{events} events stored, not {r1} + {r2}"));
    }
    let gone = missing(&lines, &counts(log_lines(&home)));
    if !gone.is_empty() {
        failures.push(format!(
            "{} of the first day's telemetry lines are gone",
            gone.len()
        ));
    }
    let log: Vec<String> = String::from_utf8(telemetry_log(&home))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let (got, want) = (events_of_day(&log, "2026-03-02"), counts(truth_events(&t2)));
    if got != want {
        failures.push(format!(
            "telemetry.log holds {} of the new day's {} events",
            got.values().sum::<usize>(),
            want.values().sum::<usize>()
        ));
    }
    assert_none(
        &failures,
        "an ingest of new records with the clock a year behind",
    );
}

// ---------------------------------------------------------------------------
// 2. A ring restored from an older copy.

/// Plays 30 requests, backs the ring up, ingests, plays 40, ingests,
/// restores the backup (same inode) and plays `after` requests; returns
/// the data folder, the requests played, and the output of an ingest run
/// now.
fn restored_ring(after: u64, seed: u64) -> (DataDir, u64, Output) {
    let mut home = DataDir::new();
    home.set_env("CARO_NOW", "2026-03-01T12:00:00Z");
    let ta = session(&home, 30, seed, "2026-03-01T06:00:00Z");
    let backup = home.path().join("backup.ring");
    std::fs::copy(home.ring(), &backup).unwrap();
    let out = home.analyze_ok(&["ingest"]);
    assert_eq!(ingested(&out).1, truth_requests(&ta), "the first 30");
    let tb = session(&home, 40, seed + 1, "2026-03-01T07:00:00Z");
    assert!(ta["end_ns"].as_u64() < tb["start_ns"].as_u64());
    let out = home.analyze_ok(&["ingest"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !said.contains("older copy"),
        "a plain second ingest of the same ring spoke of an older copy: {said:?}"
    );
    assert_eq!(ingested(&out).1, truth_requests(&tb), "the next 40");

    let inode = std::fs::metadata(home.ring()).unwrap().ino();
    std::fs::copy(&backup, home.ring()).unwrap();
    assert_eq!(
        std::fs::metadata(home.ring()).unwrap().ino(),
        inode,
        "the restore kept the ring's inode"
    );
    let tc = session(&home, after, seed + 2, "2026-03-01T08:00:00Z");
    assert!(tb["end_ns"].as_u64() < tc["start_ns"].as_u64());
    assert!(tc["end_ns"].as_u64().unwrap() < ns("2026-03-01T12:00:00Z"));
    let played = truth_requests(&ta) + truth_requests(&tb) + truth_requests(&tc);
    let out = home.analyze(&["ingest"]);
    succeeded(&out, "ingest after the restore");
    (home, played, out)
}

/// The store's requests, by its rows and by the report.
fn stored_requests(home: &DataDir) -> (i64, serde_json::Value) {
    (
        count(home, "SELECT count(*) FROM events"),
        report(home, &["--days", "30", "--no-ingest"])["requests"].clone(),
    )
}

#[test]
fn a_ring_restored_from_an_older_copy_is_said_and_counted_once() {
    let (home, played, out) = restored_ring(25, 1421);
    let said: Vec<String> = [&out.stdout, &out.stderr]
        .iter()
        .flat_map(|b| {
            String::from_utf8_lossy(b)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|l| l.contains("older copy"))
        .collect();
    let mut failures = Vec::new();
    if said.len() != 1 {
        failures.push(format!(
            "{} lines saying the ring is an older copy, not one; stdout {:?}, stderr {:?}",
            said.len(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stored = stored_requests(&home);
    if stored != (played as i64, serde_json::json!(played)) {
        failures.push(format!(
            "(events rows, report --days 30 requests) are {stored:?}, not {played} \
             (30 + 40 + 25 requests played, the ring restored before the 25)"
        ));
    }
    assert_none(&failures, "ingest after a restore");
    // And the next ingest, with nothing new, says nothing of it.
    let out = home.analyze_ok(&["ingest"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("older copy"), "said again: {text:?}");
    assert_eq!(ingested(&out).1, 0, "nothing new: {text:?}");
    assert_eq!(stored_requests(&home).0, played as i64);
}

#[test]
fn more_written_after_a_restore_than_before_it_is_counted_once() {
    // The restored ring's heads end past where the last ingest stopped.
    let (home, played, out) = restored_ring(120, 1431);
    eprintln!(
        "the ingest after the restore said: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (rows, reported) = stored_requests(&home);
    assert_eq!(
        (rows, reported),
        (played as i64, serde_json::json!(played)),
        "(events rows, report --days 30) after 30 + 40 + 120 requests, a restore before the 120"
    );
    let out = home.analyze_ok(&["ingest"]);
    assert_eq!(ingested(&out).1, 0, "a second ingest found nothing new");
    assert_eq!(stored_requests(&home).0, played as i64);
}

// ---------------------------------------------------------------------------
// 3. Readers do not wait for a writer.

/// GET /metrics from `addr` over plain HTTP/1.0; the status code and the
/// body, or why not, within `limit`.
fn get_metrics(addr: SocketAddr, limit: Duration) -> Result<(u16, String), String> {
    let started = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, limit).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(limit)).unwrap();
    s.set_write_timeout(Some(limit)).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .map_err(|e| format!("no answer after {:?}: {e}", started.elapsed()))?;
    if started.elapsed() > limit {
        return Err(format!("answered after {:?}", started.elapsed()));
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((code, body))
}

/// Sends `signal` to `child`, which has not been waited for.
fn signal(child: &Child, signal: i32) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) touches no memory of ours; the pid is our child's,
    // not yet reaped, so it names no other process.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
}

/// What a reader printed that must not change while the store is locked:
/// `status` prints the ring's live state too, so of it only the store's
/// request count.
fn reader_view(args: &[&str], stdout: &str) -> String {
    if args[0] == "status" {
        let v: serde_json::Value = serde_json::from_str(stdout)
            .unwrap_or_else(|e| panic!("status --json printed no JSON ({e}): {stdout:?}"));
        format!("store requests: {}", v["store"]["requests"])
    } else {
        stdout.to_owned()
    }
}

#[test]
fn readers_do_not_wait_for_a_writer() {
    const HOLD: Duration = Duration::from_secs(5);
    const ANSWER: Duration = Duration::from_secs(1);
    let mut home = DataDir::new();
    home.set_env("CARO_NOW", "2026-03-01T23:00:00Z");
    let t1 = session(&home, 200, 1441, "2026-03-01T06:00:00Z");
    let r1 = truth_requests(&t1);
    home.analyze_ok(&["ingest"]);

    // serve, started before the lock; with an interval it ingests once, at
    // its start, and then answers from the store.
    let mut serve = Reaped(Some(
        analyze_command(
            &home,
            &["serve", "--listen", "127.0.0.1:0", "--interval", "1h"],
            Limits::default(),
        )
        .spawn()
        .unwrap(),
    ));
    let (tx, rx) = std::sync::mpsc::channel();
    let serve_err = BufReader::new(serve.child().stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in serve_err.lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let addr: SocketAddr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("serve said where it listens");
        if let Some(rest) = line.strip_prefix("serving http://") {
            break rest.trim_end_matches("/metrics").parse().unwrap();
        }
    };
    let (code, _) = get_metrics(addr, Duration::from_secs(20)).expect("serve answers");
    assert_eq!(code, 200, "GET /metrics before the lock");

    // Something for the waiting ingest to do.
    let t2 = session(&home, 50, 1442, "2026-03-01T08:00:00Z");
    let r2 = truth_requests(&t2);

    let readers: [&[&str]; 6] = [
        &["report", "--no-ingest", "--json"],
        &["traces", "--no-ingest", "--json"],
        &["export", "--no-ingest", "--format", "prometheus"],
        &["export", "--no-ingest", "--format", "jsonl"],
        &["telemetry", "preview", "--no-ingest"],
        &["status", "--json"],
    ];
    let before: Vec<String> = readers
        .iter()
        .map(|args| {
            let out = analyze_within(&home, args, Limits::default(), Duration::from_secs(20));
            reader_view(args, &succeeded(&out, &args.join(" ")))
        })
        .collect();
    assert_eq!(
        report(&home, &["--no-ingest"])["requests"],
        r1,
        "the store before the lock"
    );

    let db = home.caro_dir().join("metrics.db");
    let lock = Connection::open(&db).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE; INSERT INTO meta VALUES ('x', 'y');")
        .unwrap();
    let locked_at = Instant::now();
    let mut ingest = Reaped(Some(
        analyze_command(&home, &["ingest"], Limits::default())
            .spawn()
            .unwrap(),
    ));

    let mut failures = Vec::new();
    for (args, before) in readers.iter().zip(&before) {
        let what = format!(
            "{} while another process holds the write lock",
            args.join(" ")
        );
        match run_within(analyze_command(&home, args, Limits::default()), ANSWER) {
            Err(e) => failures.push(format!("{what}: did not exit within {ANSWER:?}: {e}")),
            Ok(out) if !out.status.success() => failures.push(format!(
                "{what}: failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )),
            Ok(out) => {
                let now = reader_view(args, &String::from_utf8_lossy(&out.stdout));
                if now != *before {
                    failures.push(format!(
                        "{what}: printed {} bytes that differ from the {} before the lock",
                        now.len(),
                        before.len()
                    ));
                }
            }
        }
    }
    match get_metrics(addr, ANSWER) {
        Ok((200, _)) => {}
        Ok((code, body)) => failures.push(format!(
            "serve's GET /metrics under the lock answered {code}: {body:?}"
        )),
        Err(e) => failures.push(format!("serve's GET /metrics under the lock: {e}")),
    }
    // Readers that waited may have used up the time the lock is held.
    std::thread::sleep(HOLD.saturating_sub(locked_at.elapsed()));
    if let Some(status) = ingest.child().try_wait().unwrap() {
        let out = ingest.take().wait_with_output().unwrap();
        failures.push(format!(
            "an ingest started under the lock ended ({status}) before it was released: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    } else {
        lock.execute_batch("ROLLBACK").unwrap();
        drop(lock);
        let mut child = ingest.take();
        let done = wait_for(&mut child, Duration::from_secs(20));
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        match done {
            Some(s) if s.success() => {
                let (_, requests) = ingested(&out);
                if requests != r2 {
                    failures.push(format!(
                        "the ingest that waited took {requests} requests, not {r2}"
                    ));
                }
            }
            _ => failures.push(format!(
                "the ingest that waited did not succeed once the lock was released ({:?}): {}",
                done,
                String::from_utf8_lossy(&out.stderr)
            )),
        }
    }

    signal(serve.child(), libc::SIGTERM);
    let stopped = wait_for(serve.child(), Duration::from_secs(5));
    assert!(
        stopped.is_some_and(|s| s.success()),
        "serve on SIGTERM: {stopped:?}"
    );
    assert_none(
        &failures,
        "readers while another process holds the store's write lock",
    );
    assert_eq!(
        report(&home, &["--no-ingest"])["requests"],
        r1 + r2,
        "both sessions stored once the lock was released"
    );
}

// ---------------------------------------------------------------------------
// 4. A full disk lets readers read.

/// The same readers beside a real ingest, caught (SIGSTOP) in the middle
/// of its transaction, holding the store's write lock.
#[test]
fn readers_do_not_wait_for_an_ingest_in_progress() {
    const ANSWER: Duration = Duration::from_secs(1);
    let mut home = DataDir::new();
    home.set_env("CARO_NOW", "2026-03-01T23:00:00Z");
    // Room for every record: none lost to laps.
    home.set_env("CARO_RING_SIZE", "64M");
    let r1 = truth_requests(&session(&home, 200, 1451, "2026-03-01T06:00:00Z"));
    home.analyze_ok(&["ingest"]);
    let readers: [&[&str]; 4] = [
        &["report", "--no-ingest", "--json"],
        &["traces", "--no-ingest", "--json"],
        &["telemetry", "preview", "--no-ingest"],
        &["status", "--json"],
    ];
    let before: Vec<String> = readers
        .iter()
        .map(|args| reader_view(args, &succeeded(&home.analyze(args), &args.join(" "))))
        .collect();
    // Enough new records that the next ingest's transaction lasts.
    let r2 = truth_requests(&session(&home, 3000, 1452, "2026-03-01T08:00:00Z"));

    let probe = Connection::open(home.caro_dir().join("metrics.db")).unwrap();
    // Busy at once, not after waiting for the ingest to let go.
    probe.busy_timeout(Duration::ZERO).unwrap();
    let held = || match probe.execute_batch("BEGIN IMMEDIATE; ROLLBACK;") {
        Ok(()) => false,
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => true,
        Err(e) => panic!("probing the store's lock: {e}"),
    };
    let mut ingest = Reaped(Some(
        analyze_command(&home, &["ingest"], Limits::default())
            .spawn()
            .unwrap(),
    ));
    while !held() {
        assert!(
            ingest.child().try_wait().unwrap().is_none(),
            "the ingest ended before it was seen holding the store"
        );
    }
    signal(ingest.child(), libc::SIGSTOP);
    assert!(
        held(),
        "the ingest was stopped after it let go of the store"
    );

    let mut failures = Vec::new();
    for (args, before) in readers.iter().zip(&before) {
        let what = format!("{} beside a stopped ingest", args.join(" "));
        match run_within(analyze_command(&home, args, Limits::default()), ANSWER) {
            Err(e) => failures.push(format!("{what}: did not exit within {ANSWER:?}: {e}")),
            Ok(out) if !out.status.success() => failures.push(format!(
                "{what}: failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )),
            Ok(out) => {
                if reader_view(args, &String::from_utf8_lossy(&out.stdout)) != *before {
                    failures.push(format!("{what}: printed other than before the ingest"));
                }
            }
        }
    }
    signal(ingest.child(), libc::SIGCONT);
    let mut child = ingest.take();
    let done = wait_for(&mut child, Duration::from_secs(60));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(
        done.is_some_and(|s| s.success()),
        "the ingest, let go on: {done:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_none(&failures, "readers beside an ingest in progress");
    assert_eq!(
        report(&home, &["--no-ingest"])["requests"],
        r1 + r2,
        "both sessions stored once the ingest went on"
    );
}

#[test]
fn a_full_disk_lets_readers_read() {
    let mut home = DataDir::new();
    home.set_env("CARO_NOW", "2026-03-01T23:00:00Z");
    let t = session(&home, 100, 1451, "2026-03-01T06:00:00Z");
    let r = truth_requests(&t);
    home.analyze_ok(&["ingest"]);

    // The store is closed: nothing beside metrics.db itself.
    let leftovers = || {
        ["metrics.db-wal", "metrics.db-shm", "metrics.db-journal"]
            .into_iter()
            .filter(|f| home.caro_dir().join(f).exists())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        leftovers(),
        [""; 0],
        "files left beside the store after ingest exited: it is not closed"
    );
    let full = Limits {
        file_size: Some(0),
        ..Limits::default()
    };
    let within = Duration::from_secs(30);
    let mut failures = Vec::new();
    let mut printed = BTreeMap::new();
    for args in [
        &["report", "--no-ingest", "--json"][..],
        &["traces", "--no-ingest"][..],
        &["status", "--json"][..],
    ] {
        let what = format!("{} on a full disk", args.join(" "));
        let out = analyze_within(&home, args, full, within);
        eprintln!(
            "{what}: {}; then beside the store: {:?}",
            out.status,
            leftovers()
        );
        if out.status.success() {
            printed.insert(args[0], String::from_utf8_lossy(&out.stdout).into_owned());
        } else {
            failures.push(format!(
                "{what}: failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            ));
        }
    }
    let json = |text: &str| -> serde_json::Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
    };
    if let Some(report) = printed.get("report") {
        let requests = &json(report)["requests"];
        if *requests != r {
            failures.push(format!(
                "report on a full disk: {requests} requests, not {r}"
            ));
        }
    }
    if let Some(status) = printed.get("status") {
        let requests = &json(status)["store"]["requests"];
        if *requests != r {
            failures.push(format!(
                "status on a full disk: {requests} requests stored, not {r}"
            ));
        }
    }
    if let Some(traces) = printed.get("traces") {
        let room = home.analyze(&["traces", "--no-ingest"]);
        if *traces != succeeded(&room, "traces --no-ingest with room") {
            failures.push("traces on a full disk printed other traces than with room".to_owned());
        }
    }
    assert_none(&failures, "readers on a full disk");
}

// ---------------------------------------------------------------------------
// 5. Memory.

/// The header's `created_ns` (SPEC.md §2: offset 64).
fn created_ns(ring: &Path) -> u64 {
    let mut b = [0u8; 72];
    File::open(ring).unwrap().read_exact(&mut b).unwrap();
    u64::from_le_bytes(b[64..72].try_into().unwrap())
}

/// Creates `caro/` (0700) in `home`.
fn make_caro_dir(home: &DataDir) {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(home.caro_dir())
        .unwrap();
}

#[test]
fn a_ring_larger_than_the_readers_memory_never_aborts() {
    let home = DataDir::new();
    make_caro_dir(&home);
    let geometry = caro_format::Geometry::for_size(2 << 30);
    let size = geometry.file_size();
    assert!(size > MEMORY_LIMIT, "a ring of {size} bytes");
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        - 3_600_000_000_000;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(home.ring())
        .unwrap();
    f.write_all(&geometry.initial_bytes(created)).unwrap();
    f.set_len(size).unwrap(); // sparse: the slots take no disk
    drop(f);

    let out = home.sim(&["--queries", "20", "--seed", "1461", "--time-scale", "0"]);
    assert!(
        out.stderr.is_empty(),
        "the recorder said: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        (
            std::fs::metadata(home.ring()).unwrap().len(),
            created_ns(&home.ring())
        ),
        (size, created),
        "the recorder reused the ring made for it"
    );
    let out = analyze_within(
        &home,
        &["logs", "--format", "json"],
        Limits::default(),
        Duration::from_secs(120),
    );
    let lines = succeeded(&out, "logs --format json without a memory limit");
    let requests = lines
        .lines()
        .filter(|l| l.contains("\"request_id\""))
        .count();
    assert!(
        requests > 20,
        "the sim's records are in the ring: {requests} lines with a request id"
    );

    let limited = Limits {
        address_space: Some(MEMORY_LIMIT),
        ..Limits::default()
    };
    let commands: [&[&str]; 6] = [
        &["status"],
        &["logs", "--format", "json"],
        &["ingest"],
        &["report", "--json"],
        &["traces"],
        &["export", "--format", "jsonl"],
    ];
    let mut failures = Vec::new();
    for args in commands {
        let what = format!(
            "{} on a {size}-byte ring with {MEMORY_LIMIT} bytes of address space",
            args.join(" ")
        );
        let out = analyze_within(&home, args, limited, Duration::from_secs(120));
        match ok_or_out_of_memory(&out) {
            Ok(ended) => eprintln!("{what}: {ended}"),
            Err(e) => failures.push(format!("{what}: {e}")),
        }
    }
    assert_none(&failures, "readers with less memory than the ring");
}

/// Writes, at `path`, one zstd frame of `prefix` followed by zeros up to
/// `total` bytes, through a streaming encoder in 1 MiB chunks.
fn zstd_bomb(path: &Path, prefix: &[u8], total: u64) -> u64 {
    let file = File::create(path).unwrap();
    let mut enc = zstd::stream::write::Encoder::new(file, 1).unwrap();
    enc.write_all(prefix).unwrap();
    let zeros = vec![0u8; 1 << 20];
    let mut left = total - prefix.len() as u64;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        enc.write_all(&zeros[..n]).unwrap();
        left -= n as u64;
    }
    enc.finish().unwrap().sync_all().unwrap();
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn zstd_bombs_at_the_ring_path_are_refused_in_one_line() {
    const BOMB: u64 = 6 << 30;
    let home = DataDir::new();
    make_caro_dir(&home);
    let geometry = caro_format::Geometry::for_size(1 << 30);
    let header_bomb = home.path().join("header.bomb");
    let magic_bomb = home.path().join("magic.bomb");
    let sizes = [
        zstd_bomb(&header_bomb, &geometry.initial_bytes(1), BOMB),
        zstd_bomb(&magic_bomb, &caro_format::layout::MAGIC, BOMB),
    ];
    eprintln!("zstd bombs of {BOMB} bytes compressed to {sizes:?} bytes");
    // No memory limit of the test's own first: a reader that inflates a
    // bomb whole (6 GiB, in a buffer that grows to 8) is caught by the time
    // it takes, and killed then; any limit under 8 GiB would let it off with
    // a quick "out of memory" instead.
    let limited = Limits {
        address_space: Some(MEMORY_LIMIT),
        ..Limits::default()
    };
    let mut failures = Vec::new();
    for (bomb, what) in [
        (
            &header_bomb,
            "a zstd frame of the header of a ring made for 1 GiB and 6 GiB of zeros",
        ),
        (&magic_bomb, "a zstd frame of the magic and 6 GiB of zeros"),
    ] {
        std::fs::copy(bomb, home.ring()).unwrap();
        for (limits, memory) in [(Limits::default(), "no limit"), (limited, "1 GiB")] {
            for args in [&["status"][..], &["logs"][..]] {
                let what = format!(
                    "{} on {what} at the ring path, address space: {memory}",
                    args[0]
                );
                match run_within(
                    analyze_command(&home, args, limits),
                    Duration::from_secs(10),
                ) {
                    Err(e) => failures.push(format!("{what}: {e}")),
                    // Not a ring (4), or, under the limit, a header
                    // that asks for more memory than there is (1).
                    Ok(out) => match one_line(&out, &[1, 4]) {
                        Ok(line) => eprintln!("{what}: {line}"),
                        Err(e) => failures.push(format!("{what}: {e}")),
                    },
                }
            }
        }
    }
    assert_none(&failures, "zstd bombs at the ring path");
}

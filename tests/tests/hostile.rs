//! Hostile and broken inputs, end to end with the real binaries: rings cut
//! short, bit-flipped or lying about their own sizes; rings truncated and
//! replaced under a reader and under a writer; a ring path that is a
//! symbolic link or another user's file; a data folder that cannot be
//! written; a disk that fills up; `clear` racing `ingest`. Every failure is
//! one line on stderr and exit code 1 (I/O) or 4 (damaged data) — never a
//! panic (101), never a signal — and nothing is written where it should
//! not be.
//!
//! What is covered elsewhere is not repeated here: a foreign, corrupt,
//! newer or locked store (tests/store.rs), a newer ring or a foreign file
//! at the ring path under the recorder (tests/host.rs), the writer's own
//! checks of damaged headers (recorder/tests/open.rs).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use caro_tests::store::{open_read_only, table_names};
use caro_tests::{as_nobody, bins, truth_requests, wait_for, DataDir, NOBODY};

/// A ring small enough to copy hundreds of times.
const RING_SIZE: &str = "256K";

/// xorshift64: deterministic, so a failure names a case that can be rerun.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A data folder whose recorder makes small rings.
fn small_home() -> DataDir {
    let mut home = DataDir::new();
    home.set_env("CARO_RING_SIZE", RING_SIZE);
    home
}

/// A real ring, written by `caro_sim` (lapped, so every slot holds a
/// record), and its bytes.
fn sim_ring(seed: u64) -> (DataDir, Vec<u8>) {
    let home = small_home();
    let seed = seed.to_string();
    home.sim(&["--queries", "300", "--seed", &seed, "--time-scale", "0"]);
    let bytes = std::fs::read(home.ring()).unwrap();
    (home, bytes)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Header fields, by their offsets in SPEC.md §2.
struct Layout {
    lane_count: usize,
    dict_offset: usize,
    dict_size: usize,
    lanes_offset: usize,
}

fn layout(bytes: &[u8]) -> Layout {
    Layout {
        lane_count: u32_at(bytes, 20) as usize,
        dict_offset: u64_at(bytes, 40) as usize,
        dict_size: u64_at(bytes, 48) as usize,
        lanes_offset: u64_at(bytes, 56) as usize,
    }
}

/// How a command ended, once it is known to have ended cleanly.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    Ok,
    /// Exit code 1 (I/O), 3 (no data: the ring went away) or 4 (damaged
    /// data) with this one line on stderr.
    Refused(String),
}

/// Checks that `out` ended cleanly: never by a signal, never a panic; exit
/// 0 with only `caro-analyze: ` notes on stderr, or exit 1 (a file that
/// cannot be used), 3 (a ring gone) or 4 (a damaged file) with exactly one
/// line `caro-analyze: error: …` and nothing on stdout.
fn clean(out: &Output, what: &str) -> Ended {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        None,
        "{what}: killed by signal {:?}; stderr: {err}",
        out.status.signal()
    );
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{what}: panicked: {err}"
    );
    match out.status.code() {
        Some(0) => {
            for line in err.lines() {
                assert!(
                    line.starts_with("caro-analyze: ") && !line.contains("error"),
                    "{what}: succeeded, but said {line:?}"
                );
            }
            Ended::Ok
        }
        Some(1 | 3 | 4) => Ended::Refused(one_line(out, what)),
        code => panic!("{what}: exit code {code:?}; stderr: {err}"),
    }
}

/// Checks that `out` is a clean failure and returns its one line.
fn one_line_error(out: &Output, what: &str) -> String {
    match clean(out, what) {
        Ended::Refused(line) => line,
        Ended::Ok => panic!(
            "{what}: succeeded; stdout: {}",
            String::from_utf8_lossy(&out.stdout)
        ),
    }
}

fn one_line(out: &Output, what: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        matches!(out.status.code(), Some(1 | 3 | 4)),
        "{what}: exit code {:?}, not 1 (I/O), 3 (no data) or 4 (damaged data): {err}",
        out.status.code()
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
    assert!(
        out.stdout.is_empty(),
        "{what}: refused, yet printed {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    err.trim_end().to_owned()
}

/// Every stdout line of `logs --format json` parses as a JSON object.
fn assert_json_lines(out: &Output, what: &str) -> usize {
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {line:?}"));
        assert!(v.is_object(), "{what}: not a JSON object: {line:?}");
    }
    text.lines().count()
}

/// `caro-analyze args… --ring path`, run in `home`.
fn analyze_ring(home: &DataDir, args: &[&str], path: &Path) -> Output {
    let mut all = args.to_vec();
    all.extend(["--ring", path.to_str().unwrap()]);
    home.analyze(&all)
}

/// Runs `status --json` and `logs --format json` on `path` at once (the
/// analyzer waits a moment and reads again when it sees damage, so two at
/// a time halves the wait) and checks both end cleanly.
fn status_and_logs(home: &DataDir, path: &Path, what: &str) -> (Ended, Ended) {
    let ring = path.to_str().unwrap();
    let status = home.spawn_analyze(&["status", "--json", "--ring", ring]);
    let logs = home.spawn_analyze(&["logs", "--format", "json", "--ring", ring]);
    let status = status.wait_with_output().unwrap();
    let logs = logs.wait_with_output().unwrap();
    let s = clean(&status, &format!("status on {what}"));
    let l = clean(&logs, &format!("logs on {what}"));
    if s == Ended::Ok {
        let _: serde_json::Value = serde_json::from_slice(&status.stdout)
            .unwrap_or_else(|e| panic!("status --json on {what}: not JSON ({e})"));
    }
    assert_json_lines(&logs, &format!("logs on {what}"));
    (s, l)
}

#[test]
fn a_ring_cut_at_any_offset_is_refused_in_one_line() {
    let (home, bytes) = sim_ring(11);
    let geo = layout(&bytes);
    let lanes_end = geo.lanes_offset + 64 * geo.lane_count;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.ring");

    // Every offset of the header page, the dictionary's header and the
    // lane headers, through the library (a process per offset would take
    // minutes in the debug profile): a refusal, never a panic.
    let every: Vec<usize> = (0..4096)
        .chain(geo.dict_offset..geo.dict_offset + 64)
        .chain(geo.lanes_offset..lanes_end + 1)
        .collect();
    for &at in &every {
        std::fs::write(&path, &bytes[..at]).unwrap();
        let loaded = std::panic::catch_unwind(|| caro_analyze::read::load(&path));
        let loaded = loaded.unwrap_or_else(|_| panic!("ring::load panicked on a cut at {at}"));
        let err = loaded
            .err()
            .unwrap_or_else(|| panic!("a ring cut at {at} of {} bytes was read", bytes.len()));
        let said = err.to_string();
        assert!(
            !said.contains('\n'),
            "cut at {at}: a multi-line error {said:?}"
        );
        assert!(
            caro_format::decode(&bytes[..at]).is_err(),
            "cut at {at}: the decoder accepted it"
        );
    }

    // The binary on a sample of them, and on 50 random cuts of the body:
    // every one refused, in one line that says so.
    let mut rng = Rng(0x7C0F_FEE5_u64);
    let mut sample: Vec<usize> = (0..=232).step_by(4).collect();
    sample.extend((0..4096).step_by(251));
    sample.extend((geo.lanes_offset..=lanes_end).step_by(29));
    sample.extend((0..50).map(|_| 4096 + rng.below(bytes.len() as u64 - 4096) as usize));
    for at in sample {
        std::fs::write(&path, &bytes[..at]).unwrap();
        let what = format!("a ring cut at {at}");
        let (s, l) = status_and_logs(&home, &path, &what);
        for (cmd, ended) in [("status", s), ("logs", l)] {
            let Ended::Refused(line) = ended else {
                panic!("{cmd} read {what}");
            };
            assert!(
                line.contains("truncated") || line.contains("not a caro ring file"),
                "{cmd} on {what}: {line}"
            );
        }
    }
    assert_only_the_ring(&home);
}

/// Reading writes nothing: `home`'s data folder still holds only its ring.
fn assert_only_the_ring(home: &DataDir) {
    let names: Vec<_> = std::fs::read_dir(home.caro_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["events.ring"], "reading wrote beside the ring");
}

#[test]
fn single_bit_flips_never_crash_and_json_stays_json() {
    let (home, bytes) = sim_ring(12);
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0xB17_F11B5);
    let (mut read, mut refused) = (0, 0);
    for case in 0..200 {
        let mut copy = bytes.clone();
        // One flip in four lands in the header page, the rest anywhere.
        let at = if case % 4 == 0 {
            rng.below(224)
        } else {
            rng.below(copy.len() as u64)
        } as usize;
        let bit = rng.below(8);
        copy[at] ^= 1 << bit;
        let path = dir.path().join(format!("flip{case}.ring"));
        std::fs::write(&path, &copy).unwrap();
        let what = format!("case {case}: bit {bit} of byte {at} flipped");
        match status_and_logs(&home, &path, &what) {
            (Ended::Ok, Ended::Ok) => read += 1,
            (Ended::Refused(_), Ended::Refused(_)) => refused += 1,
            (s, l) => panic!("{what}: status and logs disagree: {s:?} and {l:?}"),
        }
        std::fs::remove_file(&path).unwrap();
    }
    eprintln!("of 200 single-bit flips, {read} rings were read and {refused} refused");
    assert_only_the_ring(&home);
    assert!(read > 100, "{read} flipped rings read, {refused} refused");
}

/// Writes `bytes` to a fresh file and runs `status` and `logs` on it.
fn try_ring(home: &DataDir, bytes: &[u8], what: &str) -> (Ended, Ended, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    std::fs::write(&path, bytes).unwrap();
    let (s, l) = status_and_logs(home, &path, what);
    let status = match s {
        Ended::Ok => {
            serde_json::from_slice(&analyze_ring(home, &["status", "--json"], &path).stdout)
                .unwrap()
        }
        Ended::Refused(_) => serde_json::Value::Null,
    };
    (s, l, status)
}

#[test]
fn headers_that_lie_about_sizes_are_refused_in_one_line() {
    let (home, bytes) = sim_ring(13);
    let geo = layout(&bytes);
    let len = bytes.len() as u64;
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = bytes.clone();
        f(&mut b);
        b
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a zeroed header page",
            edit(&|b| b[..4096].fill(0)),
            "not a caro ring file",
        ),
        (
            "a zeroed header after the magic",
            edit(&|b| b[8..224].fill(0)),
            "",
        ),
        (
            "file_size a page past the end",
            edit(&|b| put_u64(b, 32, len + 4096)),
            "truncated",
        ),
        (
            "file_size u64::MAX",
            edit(&|b| put_u64(b, 32, u64::MAX)),
            "truncated",
        ),
        ("dict_size past the end", edit(&|b| put_u64(b, 48, len)), ""),
        (
            "dict_offset + dict_size overflowing",
            edit(&|b| put_u64(b, 40, u64::MAX - 7)),
            "",
        ),
        (
            "lanes_offset past the end",
            edit(&|b| put_u64(b, 56, len)),
            "",
        ),
        (
            "a lane's slots past the end",
            edit(&|b| put_u64(b, geo.lanes_offset + 16, len)),
            "",
        ),
        (
            "a lane of 2^28 slots",
            edit(&|b| {
                b[geo.lanes_offset + 12..geo.lanes_offset + 16]
                    .copy_from_slice(&28u32.to_le_bytes())
            }),
            "",
        ),
        (
            "two lanes sharing their slots",
            edit(&|b| {
                let first = u64_at(b, geo.lanes_offset + 16);
                put_u64(b, geo.lanes_offset + 64 + 16, first);
            }),
            "",
        ),
    ];
    for (what, bytes, says) in cases {
        let (s, l, _) = try_ring(&home, &bytes, what);
        for (cmd, ended) in [("status", s), ("logs", l)] {
            let Ended::Refused(line) = ended else {
                panic!("{cmd} read {what}");
            };
            assert!(
                line.contains(says),
                "{cmd} on {what}: {line:?} lacks {says:?}"
            );
        }
    }
}

/// Rewrites the stamp of the dictionary entry at `at` to `words` words,
/// with a check that matches (so only the length is wrong), and returns
/// its old length in words.
fn restamp(bytes: &mut [u8], at: usize, words: u32) -> u32 {
    let old = u32_at(bytes, at);
    let stamp = (0xCA70 << 16) | (words << 2) | 2;
    let body: Vec<u64> = (1..words.min(64) as usize)
        .map(|i| {
            bytes
                .get(at + 8 * i..at + 8 * i + 8)
                .map_or(0, |w| u64_at(w, 0))
        })
        .collect();
    bytes[at..at + 4].copy_from_slice(&stamp.to_le_bytes());
    bytes[at + 4..at + 8].copy_from_slice(&caro_format::slot::checksum(stamp, &body).to_le_bytes());
    (old >> 2) & 0x3FFF
}

/// Fixes the check of the entry at `at` after its body was edited.
fn recheck(bytes: &mut [u8], at: usize) {
    let stamp = u32_at(bytes, at);
    let words = ((stamp >> 2) & 0x3FFF) as usize;
    let body: Vec<u64> = (1..words).map(|i| u64_at(bytes, at + 8 * i)).collect();
    bytes[at + 4..at + 8].copy_from_slice(&caro_format::slot::checksum(stamp, &body).to_le_bytes());
}

#[test]
fn dictionary_entries_that_point_into_themselves_or_past_the_end_are_skipped() {
    let (home, bytes) = sim_ring(14);
    let geo = layout(&bytes);
    let index_len = u32_at(&bytes, geo.dict_offset + 8) as usize;
    let log = geo.dict_offset + 16 + 8 * index_len;
    assert_eq!(
        u32_at(&bytes, log) >> 16,
        0xCA70,
        "the dictionary log starts with an entry"
    );
    let (_, _, whole) = try_ring(&home, &bytes, "the ring as written");
    let entries = whole["dictionary"]["entries"].as_u64().unwrap();
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = bytes.clone();
        f(&mut b);
        b
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "an entry of 1 word (its length inside its own stamp)",
            edit(&|b| {
                restamp(b, log, 1);
            }),
        ),
        (
            "an entry of 0 words",
            edit(&|b| {
                restamp(b, log, 0);
            }),
        ),
        (
            "an entry of 16383 words (past the log's end)",
            edit(&|b| {
                restamp(b, log, 16383);
            }),
        ),
        (
            "a string length past the entry's end, check fixed",
            edit(&|b| {
                b[log + 24..log + 26].copy_from_slice(&u16::MAX.to_le_bytes());
                recheck(b, log);
            }),
        ),
        (
            "a string length into the entry's own header, check fixed",
            edit(&|b| {
                // Longer than what is left of the entry by one byte.
                let words = (u32_at(b, log) >> 2) & 0x3FFF;
                let left = 8 * words as usize - 26;
                b[log + 24..log + 26].copy_from_slice(&(left as u16 + 1).to_le_bytes());
                recheck(b, log);
            }),
        ),
        (
            "a tail of u64::MAX",
            edit(&|b| put_u64(b, geo.dict_offset, u64::MAX)),
        ),
        (
            "an index longer than the region",
            edit(&|b| {
                b[geo.dict_offset + 8..geo.dict_offset + 12]
                    .copy_from_slice(&u32::MAX.to_le_bytes())
            }),
        ),
        (
            "every entry's length one word too long",
            edit(&|b| {
                let end = geo.dict_offset + geo.dict_size;
                let mut entries = Vec::new();
                let mut at = log;
                while at + 16 <= end && u32_at(b, at) >> 16 == 0xCA70 {
                    let words = (u32_at(b, at) >> 2) & 0x3FFF;
                    entries.push((at, words));
                    at += 8 * words as usize;
                }
                // Last first: each check covers the next entry's stamp.
                for &(at, words) in entries.iter().rev() {
                    restamp(b, at, words + 1);
                }
            }),
        ),
    ];
    for (what, bytes) in cases {
        let (s, l, status) = try_ring(&home, &bytes, what);
        assert_eq!(s, Ended::Ok, "status on {what}: the header is sound");
        assert_eq!(l, Ended::Ok, "logs on {what}: the header is sound");
        let dict = &status["dictionary"];
        eprintln!("{what}: dictionary {dict}, corrupt {}", status["corrupt"]);
        assert!(
            dict["entries"].as_u64().unwrap() < entries
                || dict["skipped_bytes"].as_u64().unwrap() > 0,
            "{what}: nothing skipped: {dict}"
        );
    }
}

#[test]
fn a_ring_truncated_and_replaced_under_a_follower_never_kills_it() {
    let (home, bytes) = sim_ring(15);
    let (_, other) = sim_ring(16);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    std::fs::write(&path, &bytes).unwrap();
    let ring = path.to_str().unwrap();
    // `-n`: the first ring's history too (a follower starts from now).
    let mut child = home.spawn_analyze(&[
        "logs", "--follow", "-n", "1000000", "--format", "json", "--ring", ring,
    ]);
    // The first ring prints more than a pipe holds: read it as it comes,
    // or the follower blocks on its output and never polls again.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stdout.read_to_end(&mut bytes).unwrap();
        bytes
    });
    let pause = Duration::from_millis(700);
    std::thread::sleep(pause);
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    type Step<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let steps: Vec<Step> = vec![
        (
            "cut to half its size",
            Box::new(|| file.set_len(bytes.len() as u64 / 2).unwrap()),
        ),
        ("cut to 100 bytes", Box::new(|| file.set_len(100).unwrap())),
        ("cut to nothing", Box::new(|| file.set_len(0).unwrap())),
        (
            "grown back with zeros",
            Box::new(|| file.set_len(bytes.len() as u64).unwrap()),
        ),
        (
            "written whole again",
            Box::new(|| file.write_all_at(&bytes, 0).unwrap()),
        ),
        (
            "replaced by another ring, renamed over it",
            Box::new(|| {
                let tmp = dir.path().join("new.ring");
                std::fs::write(&tmp, &other).unwrap();
                std::fs::rename(&tmp, &path).unwrap();
            }),
        ),
        ("removed", Box::new(|| std::fs::remove_file(&path).unwrap())),
        ("back", Box::new(|| std::fs::write(&path, &bytes).unwrap())),
    ];
    for (what, step) in &steps {
        step();
        std::thread::sleep(pause);
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "logs --follow ended ({status}) after the ring was {what}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    child.kill().unwrap();
    let mut out = child.wait_with_output().unwrap();
    out.stdout = reader.join().unwrap();
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGKILL),
        "ended by our kill only"
    );
    // Our SIGKILL may land while a poll prints: then the last line is cut
    // short (it has no newline), and only the lines before it count.
    if let Some(end) = out.stdout.iter().rposition(|&b| b == b'\n') {
        if end + 1 < out.stdout.len() {
            eprintln!("the kill cut the follower's last line short");
            out.stdout.truncate(end + 1);
        }
    }
    let printed = assert_json_lines(&out, "logs --follow");
    assert!(printed > 0, "the follower printed the first ring");
    let err = String::from_utf8_lossy(&out.stderr);
    for line in err.lines() {
        assert!(line.starts_with("caro-analyze: "), "{line:?} in {err}");
    }
    assert!(
        err.contains("still following") && err.contains("recreated"),
        "the follower said what happened: {err}"
    );
}

#[test]
fn a_ring_rewritten_while_it_is_read_never_kills_the_reader() {
    let (home, bytes) = sim_ring(17);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    std::fs::write(&path, &bytes).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let vandal = {
        let (path, bytes, stop) = (path.clone(), bytes.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(0x5EED);
            let file = OpenOptions::new().write(true).open(&path).unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                file.set_len(rng.below(bytes.len() as u64)).unwrap();
                std::thread::sleep(Duration::from_micros(rng.below(3000)));
                file.write_all_at(&bytes, 0).unwrap();
                std::thread::sleep(Duration::from_micros(rng.below(3000)));
            }
        })
    };
    let mut outcomes = BTreeMap::new();
    for round in 0..30 {
        let what = format!("round {round}");
        let ingest = analyze_ring(&home, &["ingest"], &path);
        let i = clean(&ingest, &format!("ingest, {what}"));
        let (s, l) = status_and_logs(&home, &path, &what);
        for e in [s, l, i] {
            let key = match e {
                Ended::Ok => "read".to_owned(),
                Ended::Refused(line) => line.split(": ").nth(3).unwrap_or("").to_owned(),
            };
            *outcomes.entry(key).or_insert(0) += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    vandal.join().unwrap();
    eprintln!("outcomes while the ring was being cut: {outcomes:?}");
}

/// A long `caro_sim` run writing into `home`'s ring, started once the
/// ring holds records.
fn writing_sim(home: &DataDir, queries: &str) -> Child {
    let child = home.spawn_sim(&["--queries", queries, "--seed", "18", "--time-scale", "0.01"]);
    let started = Instant::now();
    while std::fs::metadata(home.ring()).map_or(true, |m| m.len() == 0) {
        assert!(started.elapsed() < Duration::from_secs(10), "no ring made");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    child
}

/// Cuts `home`'s ring to its first page, as another process might.
fn cut_ring(home: &DataDir) {
    File::options()
        .write(true)
        .open(home.ring())
        .unwrap()
        .set_len(4096)
        .unwrap();
}

/// The recorder maps the ring: when someone truncates it under a running
/// host, the host's next record touches a page past the file's end. The
/// recorder's SIGBUS guard moves the mapping to memory of the host's own,
/// and the host runs on; at its exit one line says what was lost.
#[test]
fn a_ring_truncated_under_a_writer_does_not_kill_the_host() {
    let home = small_home();
    // Long enough to be writing still, a second after the cut.
    let mut sim = writing_sim(&home, "5000");
    cut_ring(&home);
    std::thread::sleep(Duration::from_secs(1));
    let alive = sim.try_wait().unwrap().is_none();
    let _ = sim.kill();
    let out = sim.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        alive || out.status.success(),
        "the host died once its ring was truncated ({}); stderr: {err}",
        out.status
    );
    assert!(
        alive || err.contains("was cut short by another process"),
        "{err}"
    );
}

/// A host that ends normally after its ring was cut says so, in one line.
#[test]
fn a_host_whose_ring_was_cut_says_so_at_exit() {
    let home = small_home();
    let mut sim = writing_sim(&home, "600");
    cut_ring(&home);
    let status = sim.wait().unwrap();
    let mut err = String::new();
    sim.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "{status}: {err}");
    let lines: Vec<_> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("was cut short by another process"),
        "{err}"
    );
}

#[test]
fn a_ring_replaced_under_a_writer_is_left_as_the_replacer_wrote_it() {
    let home = small_home();
    let mut sim = writing_sim(&home, "400");
    let (_, other) = sim_ring(19);
    let tmp = home.caro_dir().join("replacement");
    std::fs::write(&tmp, &other).unwrap();
    std::fs::rename(&tmp, home.ring()).unwrap();
    let status = wait_for(&mut sim, Duration::from_secs(30)).expect("the host finishes");
    let out = sim.wait_with_output().unwrap();
    assert!(
        status.success(),
        "the host ({status}): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read(home.ring()).unwrap() == other,
        "the host wrote into the ring that replaced its own"
    );
    // What it recorded since went to the file that was replaced: it says so.
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("was replaced or removed by another process"),
        "{err}"
    );
}

/// `program args`, run in `home` as its commands are.
fn command(home: &DataDir, program: &Path, args: &[&str]) -> Command {
    let mut c = home.command(program);
    c.args(args).stdin(Stdio::null());
    c
}

/// Runs `program args` in `home` with a file size limit of `limit` bytes,
/// SIGXFSZ ignored so that writes past it fail with EFBIG: a full disk.
fn with_file_limit(home: &DataDir, program: &Path, args: &[&str], limit: u64) -> Output {
    let mut c = command(home, program, args);
    // SAFETY: between fork and exec the hook only makes two
    // async-signal-safe system calls, on values of its own.
    unsafe {
        c.pre_exec(move || {
            let rl = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &rl) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    c.output().unwrap()
}

/// Runs `caro-analyze args` in `home` as `nobody` (only root can).
fn analyze_as_nobody(home: &DataDir, args: &[&str]) -> Output {
    as_nobody(&mut command(home, &bins().analyze, args))
        .output()
        .unwrap()
}

/// Every file under `dir` with its bytes, the ring left out.
fn files_beside_ring(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if p.file_name().unwrap() != "events.ring" {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_owned(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// Rows per table of the store in `home`.
fn row_counts(home: &DataDir) -> BTreeMap<String, i64> {
    let conn = open_read_only(&home.caro_dir().join("metrics.db"));
    table_names(&conn)
        .into_iter()
        .map(|t| {
            let n = conn
                .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                .unwrap();
            (t, n)
        })
        .collect()
}

/// telemetry.log's length as the store's last commit recorded it.
fn committed_log_len(home: &DataDir) -> u64 {
    let conn = rusqlite::Connection::open_with_flags(
        home.caro_dir().join("metrics.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    conn.query_row("SELECT value FROM meta WHERE key = 'log_len'", [], |r| {
        r.get::<_, String>(0)
    })
    .map_or(0, |v| v.parse().unwrap())
}

fn truth_requests_in(path: &Path) -> u64 {
    truth_requests(&serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
}

#[test]
fn a_full_disk_during_ingest_leaves_the_store_as_it_was() {
    let mut home = DataDir::new();
    // Large enough that neither run laps it.
    home.set_env("CARO_RING_SIZE", "16M");
    let truth1 = home.path().join("truth1.json");
    let truth2 = home.path().join("truth2.json");
    let t1 = truth1.to_str().unwrap();
    home.sim(&[
        "--queries",
        "100",
        "--seed",
        "21",
        "--time-scale",
        "0",
        "--truth",
        t1,
    ]);
    home.analyze_ok(&["ingest"]);
    let t2 = truth2.to_str().unwrap();
    home.sim(&[
        "--queries",
        "150",
        "--seed",
        "22",
        "--time-scale",
        "0",
        "--truth",
        t2,
    ]);
    // A checkpoint-free copy of what the first ingest left.
    let before = files_beside_ring(&home.caro_dir());
    let rows = row_counts(&home);
    assert!(rows["events"] > 0 || rows["counters"] > 0, "{rows:?}");
    let db_len = std::fs::metadata(home.caro_dir().join("metrics.db"))
        .unwrap()
        .len();

    for limit in [0, 4096, db_len / 2, db_len + 8192] {
        let out = with_file_limit(&home, &bins().analyze, &["ingest"], limit);
        let what = format!("ingest with files limited to {limit} bytes");
        let line = one_line_error(&out, &what);
        eprintln!("{what}: {line}");
        assert!(
            line.contains("metrics.db") || line.contains("telemetry.log"),
            "{what}: {line}"
        );
        assert_eq!(row_counts(&home), rows, "{what}: rows changed");
        let after = files_beside_ring(&home.caro_dir());
        let names = |m: &BTreeMap<PathBuf, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
        // SQLite may leave its -wal and -shm beside the store; nothing else.
        let mut extra = names(&after);
        extra
            .retain(|n| !before.contains_key(n) && !n.to_string_lossy().starts_with("metrics.db-"));
        assert!(extra.is_empty(), "{what}: left {extra:?}");
        for (name, bytes) in &before {
            let name_str = name.to_string_lossy();
            if name_str.starts_with("metrics.db") {
                continue; // compared by its rows: SQLite may checkpoint
            }
            let got = &after[name];
            if name_str == "telemetry.log" {
                // A failed ingest may leave its lines appended past the
                // committed length; the next ingest cuts them off.
                assert_eq!(
                    committed_log_len(&home),
                    bytes.len() as u64,
                    "{what}: telemetry.log's committed length changed"
                );
                assert!(
                    got.starts_with(bytes),
                    "{what}: telemetry.log's committed lines changed"
                );
                if got.len() > bytes.len() {
                    eprintln!(
                        "{what}: telemetry.log holds {} uncommitted bytes",
                        got.len() - bytes.len()
                    );
                }
                continue;
            }
            assert!(got == bytes, "{what}: {} changed", name.display());
        }
    }
    home.analyze_ok(&["ingest"]);
    let log = std::fs::read_to_string(home.caro_dir().join("telemetry.log")).unwrap();
    assert!(
        log.as_bytes()
            .starts_with(&before[Path::new("telemetry.log")]),
        "telemetry.log's first lines changed"
    );
    let lines = caro_tests::counts(log.lines());
    let twice: Vec<_> = lines.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "telemetry.log lines written twice: {twice:?}"
    );
    assert_eq!(
        committed_log_len(&home),
        log.len() as u64,
        "telemetry.log holds exactly what is committed"
    );
    let report = home.analyze_ok(&["report", "--json", "--no-ingest"]);
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(
        report["requests"],
        truth_requests_in(&truth1) + truth_requests_in(&truth2),
        "every request of both runs, once"
    );
}

#[test]
fn a_full_disk_when_the_ring_or_the_store_is_created_is_one_line() {
    // The recorder: the host runs on, says why in one line, leaves nothing.
    let home = small_home();
    let out = with_file_limit(
        &home,
        &bins().sim,
        &["--queries", "20", "--seed", "23", "--time-scale", "0"],
        64 << 10,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the host failed ({}): {err}",
        out.status
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("caro-recorder: recording disabled: "),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(home.caro_dir())
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "a ring that could not be made left {left:?}"
    );

    // The analyzer: a store that cannot be created.
    let (home, _) = sim_ring(24);
    let out = with_file_limit(&home, &bins().analyze, &["ingest"], 0);
    one_line_error(&out, "ingest creating its store on a full disk");
    assert_eq!(out.status.code(), Some(1), "a full disk is an I/O error");
    let db = home.caro_dir().join("metrics.db");
    let left = std::fs::metadata(&db).map_or(0, |m| m.len());
    assert_eq!(left, 0, "a store half made: {left} bytes");
    // And the next ingest, with room, makes it.
    home.analyze_ok(&["ingest"]);
}

/// Whether this process can create a file in `dir` (root can, whatever
/// its mode says).
fn can_write_in(dir: &Path) -> bool {
    let probe = dir.join(".probe");
    let ok = File::create(&probe).is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

#[test]
fn a_data_folder_that_cannot_be_written_is_one_line() {
    let (source, bytes) = sim_ring(25);
    let ring = source.path().join("elsewhere.ring");
    std::fs::write(&ring, &bytes).unwrap();
    let ring = ring.to_str().unwrap();

    // A folder without write permission. Permission bits do not stop root:
    // as root, the analyzer runs as `nobody`, who owns the folder.
    let home = DataDir::new();
    let dir = home.caro_dir();
    std::fs::create_dir(&dir).unwrap();
    let readable = home.path().join("elsewhere.ring");
    std::fs::write(&readable, &bytes).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
    let as_root = can_write_in(&dir);
    if as_root {
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&readable, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let readable = readable.to_str().unwrap();
    for args in [&["ingest", "--ring", readable][..], &["gc"][..]] {
        let what = format!("{} in a read-only folder", args[0]);
        let out = if as_root {
            analyze_as_nobody(&home, args)
        } else {
            home.analyze(args)
        };
        let line = one_line_error(&out, &what);
        eprintln!("{what}: {line}");
        assert!(line.contains(&dir.display().to_string()), "{what}: {line}");
    }
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "wrote into the read-only folder: {left:?}");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();

    // A file where the folder should be: stops root too.
    let home = DataDir::new();
    std::fs::write(home.caro_dir(), b"not a folder").unwrap();
    for args in [
        &["ingest", "--ring", ring][..],
        &["report", "--json", "--ring", ring][..],
        &["gc"][..],
    ] {
        let out = home.analyze(args);
        let line = one_line_error(&out, &format!("{} with a file for a folder", args[0]));
        assert!(
            line.contains(&home.caro_dir().display().to_string()),
            "{line}"
        );
    }
    assert_eq!(std::fs::read(home.caro_dir()).unwrap(), b"not a folder");
    // Reading needs no folder.
    assert_eq!(
        clean(&home.analyze(&["status", "--ring", ring]), "status"),
        Ended::Ok
    );
}

#[test]
fn a_symlink_or_another_users_file_at_the_ring_path_is_left_alone() {
    // A symbolic link: the host runs on and the link's target is untouched.
    let home = small_home();
    std::fs::create_dir(home.caro_dir()).unwrap();
    std::fs::set_permissions(home.caro_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let target = home.path().join("target");
    std::fs::write(&target, b"not yours").unwrap();
    std::os::unix::fs::symlink(&target, home.ring()).unwrap();
    let out = home.sim(&["--queries", "5", "--seed", "26"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), b"not yours");
    // The analyzer never reads through the link, whatever it points at,
    // and `clear` deletes the link, never what it points at.
    let out = home.analyze(&["logs"]);
    let line = one_line_error(&out, "logs through a symbolic link");
    assert!(line.contains("is a symbolic link"), "{line}");
    assert_eq!(out.status.code(), Some(1), "a file it will not read: I/O");
    let (_, ring) = sim_ring(31);
    std::fs::write(&target, &ring).unwrap();
    let line = one_line_error(&home.analyze(&["status"]), "status through a link");
    assert!(line.contains("is a symbolic link"), "{line}");
    home.analyze_ok(&["clear", "--yes"]);
    assert!(
        std::fs::symlink_metadata(home.ring()).is_err(),
        "clear left the link"
    );
    assert!(
        std::fs::read(&target).unwrap() == ring,
        "clear followed the link"
    );

    // Another user's ring (needs root to give it away).
    let (home, bytes) = sim_ring(27);
    if std::os::unix::fs::chown(home.ring(), Some(65534), Some(65534)).is_err() {
        eprintln!("skipped another user's ring: giving a file away needs root");
        return;
    }
    let out = home.sim(&["--queries", "5", "--seed", "28"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("belongs to another user"), "{err}");
    assert!(std::fs::read(home.ring()).unwrap() == bytes, "written into");
}

#[test]
fn a_store_of_an_older_unknown_schema_is_one_line_and_left_as_it_was() {
    let (home, _) = sim_ring(29);
    home.analyze_ok(&["gc"]);
    let db = home.caro_dir().join("metrics.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    conn.pragma_update(None, "user_version", 0).unwrap();
    drop(conn);
    let bytes = std::fs::read(&db).unwrap();
    let out = home.analyze(&["ingest"]);
    let line = one_line_error(&out, "ingest on schema version 0");
    assert!(line.contains("unknown schema version 0"), "{line}");
    assert_eq!(out.status.code(), Some(4), "a store not ours: a data error");
    assert!(
        std::fs::read(&db).unwrap() == bytes,
        "the store was changed"
    );
}

#[test]
fn clear_racing_ingest_leaves_no_store_or_a_valid_one() {
    let (home, bytes) = sim_ring(30);
    let saved = home.path().join("saved.ring");
    std::fs::write(&saved, &bytes).unwrap();
    let saved = saved.to_str().unwrap();
    for round in 0..10 {
        std::fs::create_dir_all(home.caro_dir()).unwrap();
        std::fs::write(home.ring(), &bytes).unwrap();
        if round % 2 == 0 {
            home.analyze_ok(&["ingest"]);
        }
        // Half the ingests read a ring clear does not delete, so they go on
        // to write the store while clear deletes it.
        let ingest = if round % 4 < 2 {
            home.spawn_analyze(&["ingest"])
        } else {
            home.spawn_analyze(&["ingest", "--ring", saved])
        };
        let clear = home.spawn_analyze(&["clear", "--yes"]);
        let what = format!("round {round}");
        let ingest = ingest.wait_with_output().unwrap();
        let clear = clear.wait_with_output().unwrap();
        let i = clean(&ingest, &format!("ingest, {what}"));
        let c = clean(&clear, &format!("clear, {what}"));
        eprintln!("{what}: ingest {i:?}, clear {c:?}");
        let status = home.analyze_ok(&["status", "--json", "--ring", saved]);
        let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        let db = home.caro_dir().join("metrics.db");
        if db.exists() {
            assert!(status["store"].is_object(), "{what}: {}", status["store"]);
            let counts = row_counts(&home);
            assert!(
                counts.contains_key("meta"),
                "{what}: a store without tables"
            );
        } else {
            assert!(status["store"].is_null(), "{what}: {}", status["store"]);
            let orphans: Vec<_> = ["metrics.db-wal", "metrics.db-journal"]
                .into_iter()
                .filter(|n| home.caro_dir().join(n).exists())
                .collect();
            assert!(
                orphans.is_empty(),
                "{what}: {orphans:?} left without a store"
            );
        }
        // Whatever is left, the next ingest can use it.
        home.analyze_ok(&["ingest", "--ring", saved]);
    }
}

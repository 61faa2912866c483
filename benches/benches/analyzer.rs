//! `decode/*`, `ingest/1M_records` and `report/json_30_days`: reading a
//! ring of a million records, and whole `caro-analyze` processes over data
//! a simulated caro recorded (see the crate docs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use tempfile::TempDir;

// benches/ab.py makes the same two fixtures (keep them in step).

/// The ring's size in records, give or take [`RING_TOLERANCE`].
const RING_RECORDS: u64 = 1_000_000;
const RING_TOLERANCE: f64 = 0.05;
/// Requests that record about [`RING_RECORDS`] (about 18.5 records each:
/// spans are recorded at their creation and close).
const RING_QUERIES: &str = "54000";
/// When the simulated session starts, and when the analyzer thinks it
/// runs: a day and a half later.
const RING_START: &str = "2026-11-01T00:00:00Z";
const RING_NOW: &str = "2026-11-02T12:00:00Z";

/// Days of use in the report's store, and requests a day.
const DAYS: u32 = 30;
const REQUESTS_PER_DAY: u64 = 2000;

/// The variables a developer's shell may set that would change what is
/// recorded or analysed; each command gets only those it is given.
const CLEARED_ENV: &[&str] = &[
    "RUST_LOG",
    "CARO_LOG",
    "CARO_LOG_FORMAT",
    "CARO_RING_SIZE",
    "CARO_NOW",
];

/// A temporary `XDG_CACHE_HOME`; its data folder is `caro/`.
struct Home {
    dir: TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().expect("a temporary XDG_CACHE_HOME"),
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("caro")
    }

    /// `program` with `args`, run in this home with only `env` set.
    fn command(&self, program: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = Command::new(program);
        c.args(args).env("XDG_CACHE_HOME", self.dir.path());
        for k in CLEARED_ENV {
            c.env_remove(k);
        }
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    fn sim(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        run(self.command(&caro_tests::bins().sim, args, env))
    }

    fn analyze(&self, args: &[&str], now: &str) -> Output {
        run(self.command(&caro_tests::bins().analyze, args, &[("CARO_NOW", now)]))
    }

    fn analyze_json(&self, args: &[&str], now: &str) -> serde_json::Value {
        let out = self.analyze(args, now);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "caro-analyze {}: invalid JSON ({e}): {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Deletes all but the ring: the store, telemetry.log and its
    /// archives, crash snapshots.
    fn clear_store(&self) {
        let data = self.data();
        for entry in std::fs::read_dir(&data)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", data.display()))
        {
            let path = entry.expect("a directory entry").path();
            if path.file_name() == Some("events.ring".as_ref()) {
                continue;
            }
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.unwrap_or_else(|e| panic!("cannot delete {}: {e}", path.display()));
        }
    }
}

/// Runs `c` to completion; panics, with its stderr, unless it succeeds.
fn run(mut c: Command) -> Output {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("cannot start {c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A ring of about [`RING_RECORDS`] records, alone in its data folder.
fn ring_fixture() -> Home {
    let home = Home::new();
    home.sim(
        &[
            "--queries",
            RING_QUERIES,
            "--threads",
            "4",
            "--time-scale",
            "0",
            "--seed",
            "1",
            "--start",
            RING_START,
        ],
        // Four threads write four lanes: 256 MiB holds every record.
        &[("CARO_RING_SIZE", "256M")],
    );
    let status = home.analyze_json(&["status", "--json"], RING_NOW);
    let records = status["records"]
        .as_u64()
        .unwrap_or_else(|| panic!("status --json has no records: {status}"));
    let lost = &status["lost_to_laps"];
    println!("ingest/1M_records: the ring holds {records} records ({lost} slots lost to laps)");
    let off = (records as f64 - RING_RECORDS as f64).abs() / RING_RECORDS as f64;
    assert!(
        off <= RING_TOLERANCE,
        "the ring holds {records} records, not {RING_RECORDS} ± {}%: adjust RING_QUERIES",
        RING_TOLERANCE * 100.0
    );
    home
}

/// `decode` and `ingest`, over one ring fixture.
fn reading(c: &mut Criterion) {
    let home = ring_fixture();
    decode(c, &home);
    ingest(c, &home);
}

/// Reading the ring file and decoding every record, against a floor that
/// reads the same file and only sums its bytes (as words).
fn decode(c: &mut Criterion, home: &Home) {
    let path = home.data().join("events.ring");
    let records = caro_format::decode(&std::fs::read(&path).expect("the ring"))
        .expect("the ring decodes")
        .records
        .len();
    let mut group = c.benchmark_group("decode");
    group
        .throughput(Throughput::Elements(records as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    group.bench_function("caro_format", |b| {
        b.iter(|| {
            let bytes = std::fs::read(&path).expect("the ring");
            let decoded = caro_format::decode(&bytes).expect("the ring decodes");
            assert_eq!(decoded.records.len(), records);
        })
    });
    group.bench_function("read_and_sum_floor", |b| {
        b.iter(|| {
            let bytes = std::fs::read(&path).expect("the ring");
            let sum = bytes
                .chunks_exact(8)
                .map(|w| u64::from_le_bytes(w.try_into().unwrap()))
                .fold(0u64, u64::wrapping_add);
            std::hint::black_box(sum)
        })
    });
    group.finish();
}

fn ingest(c: &mut Criterion, home: &Home) {
    let mut group = c.benchmark_group("ingest");
    // A second or two an iteration: ten of them, one a sample (criterion
    // says it could not fit its samples in the time, and does them all).
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(10));
    group.bench_function("1M_records", |b| {
        b.iter_batched(
            || {
                home.clear_store();
                home.command(
                    &caro_tests::bins().analyze,
                    &["ingest"],
                    &[("CARO_NOW", RING_NOW)],
                )
            },
            run,
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

/// `2026-10-DDTHH:MMZ`: day `day` (0-based) of the report's month.
fn day_at(day: u32, time: &str) -> String {
    format!("2026-10-{:02}T{time}:00Z", day + 1)
}

/// A store filled by [`DAYS`] days of use, and the time of the report.
fn report_fixture() -> (Home, String) {
    let home = Home::new();
    for day in 0..DAYS {
        let seed = (day + 1).to_string();
        home.sim(
            &[
                "--start",
                &day_at(day, "09:00"),
                "--queries",
                &REQUESTS_PER_DAY.to_string(),
                "--threads",
                "2",
                "--time-scale",
                "0",
                "--seed",
                &seed,
            ],
            // A thread's 1,000 requests take some 20,000 slots of its
            // lane: 64 MiB keeps every record until the ingest, with room.
            &[("CARO_RING_SIZE", "64M")],
        );
        home.analyze(&["ingest"], &day_at(day, "23:00"));
    }
    let now = day_at(DAYS - 1, "23:30");
    let report = home.analyze_json(&["report", "--json", "--no-ingest", "--days", "30"], &now);
    let requests = report["requests"].as_u64();
    println!(
        "report/json_30_days: the store holds {} requests over {DAYS} days",
        report["requests"]
    );
    assert_eq!(
        requests,
        Some(u64::from(DAYS) * REQUESTS_PER_DAY),
        "report --json over {DAYS} days of {REQUESTS_PER_DAY} requests: {report}"
    );
    (home, now)
}

fn report(c: &mut Criterion) {
    let (home, now) = report_fixture();
    let mut group = c.benchmark_group("report");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10));
    group.bench_function("json_30_days", |b| {
        b.iter_batched(
            || {
                home.command(
                    &caro_tests::bins().analyze,
                    &["report", "--json", "--no-ingest", "--days", "30"],
                    &[("CARO_NOW", &now)],
                )
            },
            run,
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, reading, report);
criterion_main!(benches);

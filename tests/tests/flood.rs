//! A runaway loop logging at `trace` must not wipe out the recent `warn`
//! and `error` records of other threads: `stress_writer --flood` records
//! 100 errors, then 10 million trace events from another thread while the
//! first thread records 100 warns, into a 1 MiB ring that the flood laps
//! hundreds of times. Alerts have lanes of their own, so every one of them
//! must still be there.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Instant;

use caro_format::{decode, Decoded, LaneClass, Level};
use caro_tests::{bins, u64_field};

/// Trace events of the flood.
const FLOOD: u64 = 10_000_000;
const RING_SIZE: u64 = 1 << 20;

// The derived values of `recorder/examples/stress_writer.rs`, computed again.
const FLOOD_WRITER: u64 = 1 << 40;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn check(writer: u64, seq: u64) -> u64 {
    mix(mix(writer.wrapping_add(0x9E37_79B9_7F4A_7C15)) ^ seq)
}

/// The `n` of every record at `level` whose message is `message`, each
/// checked against its `check` field (writer `writer`).
fn alerts(d: &Decoded, level: Level, message: &str, writer: u64) -> Vec<u64> {
    d.records
        .iter()
        .filter(|r| {
            d.dictionary
                .callsites
                .get(&r.callsite)
                .is_some_and(|c| c.level == level && c.message == message)
        })
        .map(|r| {
            let n = u64_field(d, r, "n").unwrap_or_else(|| panic!("no n: {r:?}"));
            assert_eq!(u64_field(d, r, "check"), Some(check(writer, n)), "{r:?}");
            n
        })
        .collect()
}

#[test]
fn a_trace_flood_keeps_every_recent_error_and_warn() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("flood.ring");
    let writer = &bins().stress_writer;
    let started = Instant::now();
    let out = Command::new(writer)
        .arg("--ring")
        .arg(&ring)
        .args(["--ring-size", &RING_SIZE.to_string()])
        .args(["--flood", &FLOOD.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stress_writer --flood failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    print!("{}", String::from_utf8_lossy(&out.stdout));
    println!("writer ran {:.1} s", started.elapsed().as_secs_f64());

    let d = decode(&std::fs::read(&ring).unwrap()).unwrap();
    let errors = alerts(&d, Level::Error, "before the flood", FLOOD_WRITER);
    let warns = alerts(&d, Level::Warn, "during the flood", FLOOD_WRITER + 1);
    let all: BTreeSet<u64> = (0..100).collect();
    assert_eq!(errors.len(), 100, "errors kept: {errors:?}");
    assert_eq!(errors.iter().copied().collect::<BTreeSet<_>>(), all);
    assert_eq!(warns.len(), 100, "warns kept: {warns:?}");
    assert_eq!(warns.iter().copied().collect::<BTreeSet<_>>(), all);

    // The flood really overflowed its lanes, and kept its newest events.
    let traces: Vec<u64> = d
        .records
        .iter()
        .filter(|r| {
            d.dictionary
                .callsites
                .get(&r.callsite)
                .is_some_and(|c| c.level == Level::Trace)
        })
        .map(|r| u64_field(&d, r, "i").unwrap())
        .collect();
    let lost = |class| -> u64 {
        d.lanes
            .iter()
            .filter(|(l, _)| l.class == class)
            .map(|(_, s)| s.lost_to_laps)
            .sum()
    };
    let (main_lost, alert_lost) = (lost(LaneClass::Main), lost(LaneClass::Alert));
    let main_slots: u64 = d
        .lanes
        .iter()
        .filter(|(l, _)| l.class == LaneClass::Main)
        .map(|(l, _)| l.slots())
        .sum();
    println!(
        "trace events: {} kept, {main_lost} slots lost to laps (main lanes hold {main_slots} slots)",
        traces.len()
    );
    assert!(
        traces.contains(&(FLOOD - 1)),
        "the newest trace event is gone"
    );
    assert_eq!(
        traces.len() as u64 + main_lost,
        FLOOD,
        "main lanes hold only the flood"
    );
    assert!(main_lost > FLOOD / 2, "the flood never lapped: {main_lost}");
    assert_eq!(alert_lost, 0, "an alert lane was lapped");
    let totals = d.totals();
    assert_eq!(totals.corrupt, 0, "{totals:?}");
    assert_eq!(totals.abandoned + totals.pending, 0, "{totals:?}");

    // The analyzer shows them too.
    let logs = Command::new(&bins().analyze)
        .args(["logs", "--format", "json", "--ring"])
        .arg(&ring)
        .env_remove("CARO_LOG_FORMAT")
        .env("XDG_CACHE_HOME", dir.path())
        .output()
        .unwrap();
    assert!(
        logs.status.success(),
        "logs failed: {}",
        String::from_utf8_lossy(&logs.stderr)
    );
    let shown = String::from_utf8(logs.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["level"] == "ERROR" && l["fields"]["message"] == "before the flood")
        .count();
    assert_eq!(shown, 100);
}

//! The whole ring is used whatever the writers: one thread, one process of
//! two threads, or eight processes each write until the main lanes have
//! lapped several times, and the records newer than anything lost must
//! fill at least 90 % of the main class (SPEC.md section 11: writers move
//! from lane to lane, 1/32 of a lane at a time). And the simulated
//! 2000-request session fits the default ring whole.

use std::process::Child;

use caro_format::{decode, Decoded, LaneClass};
use caro_tests::{report, stress_writer, u64_field, DataDir};

/// The default size, 16 MiB: about 176,000 main slots, so that a lap takes
/// long (tens of milliseconds) beside the scheduler's time slices, as it
/// does in life (minutes to days): a writer descheduled in the middle of
/// its turn writes late into an early turn.
const RING_SIZE: u64 = 16 << 20;

/// Slots a `stress_writer` record of sequence `seq` takes (its shapes).
fn slots_of(seq: u64) -> u64 {
    seq % 4 + 1
}

/// The share of the main class's slots that hold records newer than every
/// record lost. A lane loses its oldest records first, and a record's time
/// is taken just before its slots are claimed, so what a lane lost is
/// older than the oldest record it holds: the newest records are those
/// not older than the oldest record held by any lane that lost some.
fn newest_share(d: &Decoded) -> f64 {
    let main = |lane: usize| d.lanes[lane].0.class == LaneClass::Main;
    let main_slots: u64 = d
        .lanes
        .iter()
        .filter(|(l, _)| main(l.index))
        .map(|(l, _)| l.slots())
        .sum();
    let mut oldest = vec![u64::MAX; d.lanes.len()];
    for r in d.records.iter().filter(|r| main(r.lane)) {
        oldest[r.lane] = oldest[r.lane].min(r.time_ns);
    }
    let newer_than_losses = d
        .lanes
        .iter()
        .filter(|(l, s)| main(l.index) && s.lost_to_laps > 0)
        .map(|(l, _)| oldest[l.index])
        .max()
        .unwrap_or(0);
    let newest: u64 = d
        .records
        .iter()
        .filter(|r| main(r.lane) && r.time_ns >= newer_than_losses)
        .map(|r| slots_of(u64_field(d, r, "seq").expect("a stress record")))
        .sum();
    newest as f64 / main_slots as f64
}

/// `processes` writers of `threads` threads each write `slots` slots in
/// all; the share of the newest, and the slots lost to laps.
fn run(processes: u64, threads: u64, slots: u64) -> (f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("events.ring");
    // 2.5 slots a record on average.
    let count = slots * 2 / 5 / (processes * threads);
    let children: Vec<Child> = (0..processes)
        .map(|p| stress_writer(&ring, RING_SIZE, p * threads, threads, count))
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "stress_writer failed");
    }
    let d = decode(&std::fs::read(&ring).unwrap()).unwrap();
    (newest_share(&d), d.totals().lost_to_laps)
}

#[test]
fn the_newest_records_fill_the_main_class_whatever_the_writers() {
    // Five laps of the main class.
    let slots = 5 * caro_format::Geometry::for_size(RING_SIZE).class_slots(LaneClass::Main);
    for (processes, threads) in [(1, 1), (1, 2), (8, 1)] {
        let (share, lost) = run(processes, threads, slots);
        println!(
            "{processes} × {threads}: newest {:.1} %, lost {lost}",
            share * 100.0
        );
        assert!(lost > 0, "{processes} × {threads}: the ring never lapped");
        assert!(
            share >= 0.9,
            "{processes} × {threads}: the newest records fill only {:.1} % of the main class",
            share * 100.0
        );
    }
}

#[test]
fn a_2000_request_session_fits_the_default_ring() {
    let home = DataDir::new();
    let out = home.sim(&["--queries", "2000", "--time-scale", "0", "--seed", "17"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = home.status_json();
    let lost = &status["lost_to_laps"];
    assert_eq!(lost.as_u64(), Some(0), "{status}");
    let r = report(&home, &[]);
    assert_eq!(r["requests"].as_u64(), Some(2000), "{r}");
}

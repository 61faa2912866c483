//! Every record keeps its process after any number of laps: many
//! short-lived `stress_writer` processes, a few at a time, lap the smallest
//! ring many times over (and its identity table too), so thread ids come
//! back in later processes. Each record must resolve to the process that
//! wrote it — known here by the writer number in its fields — in the
//! decoder and in `caro-analyze logs`.

use std::collections::BTreeMap;

use caro_tests::{stress_writer, u64_field, DataDir};

/// The smallest ring a writer makes (SPEC.md §11).
const RING_SIZE: u64 = 256 << 10;
const PROCESSES: u64 = 96;
const AT_ONCE: u64 = 4;
const THREADS: u64 = 2;
const RECORDS: u64 = 600;

#[test]
fn every_record_keeps_its_process_after_many_laps() {
    let home = DataDir::new();
    let ring = home.path().join("laps.ring");
    // Writer number → pid of the process whose thread it was.
    let mut pid_of_writer = BTreeMap::new();
    for batch in 0..PROCESSES / AT_ONCE {
        let children: Vec<_> = (0..AT_ONCE)
            .map(|i| {
                let first = (batch * AT_ONCE + i) * THREADS;
                let child = stress_writer(&ring, RING_SIZE, first, THREADS, RECORDS);
                for w in first..first + THREADS {
                    pid_of_writer.insert(w, child.id());
                }
                child
            })
            .collect();
        for mut child in children {
            assert!(child.wait().unwrap().success(), "a stress writer failed");
        }
    }

    let bytes = std::fs::read(&ring).unwrap();
    let d = caro_format::decode(&bytes).unwrap();
    let capacity: u64 = d.lanes.iter().map(|(l, _)| l.slots()).sum();
    let lapped: u64 = d
        .lanes
        .iter()
        .map(|(l, s)| s.lost_to_laps.min(l.head))
        .sum();
    assert!(
        lapped > 20 * capacity,
        "the ring lapped many times: {lapped} slots lost, {capacity} held"
    );
    assert!(
        d.identities.lost_to_laps > 0,
        "the identity table lapped too: {} claimed, {} held",
        d.identities.claimed,
        d.identities.held.len()
    );

    let mut checked = 0;
    for r in &d.records {
        let pid = d.pid(r).unwrap_or_else(|| panic!("no pid for {r:?}"));
        assert!(
            pid_of_writer.values().any(|&p| p == pid),
            "{r:?} resolves to pid {pid}, which no writer had"
        );
        if let Some(w) = u64_field(&d, r, "writer") {
            assert_eq!(
                pid, pid_of_writer[&w],
                "writer {w}'s record resolves to another process: {r:?}"
            );
            checked += 1;
        }
    }
    assert!(checked > 500, "only {checked} stress records held");

    let ring_arg = ring.to_str().unwrap();
    let out = home.analyze_ok(&["logs", "--format", "json", "--ring", ring_arg]);
    let mut lines = 0;
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let l: serde_json::Value = serde_json::from_str(line).unwrap();
        let pid = l["pid"]
            .as_u64()
            .unwrap_or_else(|| panic!("no pid in {line}"));
        assert!(l["thread"].as_u64().is_some(), "no thread in {line}");
        if let Some(w) = l["fields"]["writer"].as_u64() {
            assert_eq!(pid, u64::from(pid_of_writer[&w]), "{line}");
            lines += 1;
        }
    }
    assert_eq!(lines, checked, "logs prints every stress record held");

    let out = home.analyze_ok(&["status", "--json", "--ring", ring_arg]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids = &status["identities"];
    assert_eq!(ids["capacity"], d.identities.capacity, "{status}");
    assert_eq!(ids["held"], d.identities.held.len() as u64, "{status}");
    assert!(ids["lost_to_laps"].as_u64() > Some(0), "{status}");
    assert_eq!(status["file_size"], RING_SIZE, "the ring is the size asked");
}

//! `caro-analyze status`, end to end.

mod common;

use caro_format::layout::header_offset;
use caro_format::{CallsiteKind, Level, RecordKind};
use common::*;
use serde_json::{json, Value};

/// A ring with known counts: 3 processes opened it, 2 distinct pids
/// started in it, 4 threads wrote, 4 slots were lapped.
fn known_ring() -> RingBuilder {
    let mut b = RingBuilder::new(T0 - 60_000_000_000);
    b.set_u64(header_offset::PROCESSES as u64, 3);
    b.set_u64(header_offset::DROPPED as u64, 5);
    b.set_u64(header_offset::DROPPED as u64 + 8, 2);
    let span = b.callsite(
        Level::Info,
        CallsiteKind::Span,
        "process_query",
        "caro",
        &[],
    );
    let cs = b.event_callsite(Level::Info, "caro", "tick", &["message"]);
    let interned = b.string("static");
    assert_ne!(interned, 0);
    for (thread, pid) in [(1, 100), (2, 200), (3, 100)] {
        b.record(
            ALERT,
            RecordKind::ProcessStart,
            T0,
            0,
            0,
            thread,
            &values(|w| w.u64(0, pid)),
        );
    }
    // An abandoned slot: claimed, never stamped, long before the rest.
    b.set_head(MAIN, 1);
    b.span_new(MAIN, T0 + 1_000_000_000, span, 1, |_| {});
    // 18 one-slot events: 20 claims in 16 slots, 4 lapped (the abandoned
    // slot, the span and 2 events).
    for n in 0..18 {
        b.event(
            MAIN,
            T0 + 2_000_000_000 + n,
            cs,
            1,
            &values(|w| w.message(0)),
        );
    }
    b
}

#[test]
fn status_json_numbers_match_the_ring() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    let b = known_ring();
    b.write_to(&path);
    let o = run(analyze(&["status", "--json", "--ring"]).arg(&path));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 1, "a single JSON object");
    let s: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(s["path"], path.to_str().unwrap());
    assert_eq!(s["file_size"], b.bytes.len() as u64);
    assert_eq!(
        (s["version_major"].as_u64(), s["version_minor"].as_u64()),
        (
            Some(caro_format::layout::VERSION_MAJOR.into()),
            Some(caro_format::layout::VERSION_MINOR.into())
        )
    );
    assert_eq!(s["values_left_out"], 0);
    assert_eq!(
        s["capacity"],
        json!({"slots": 32, "lanes": 2, "classes": {"main": {"lanes": 1, "slots": 16}, "alert": {"lanes": 1, "slots": 16}}})
    );
    assert_eq!(s["slots_written"], 20 + 3);
    // 16 events held in main, 3 process starts in alert.
    assert_eq!(s["records"], 19);
    assert_eq!(s["oldest_ns"], T0);
    assert_eq!(s["oldest"], "2026-01-15T14:32:15.123Z");
    assert_eq!(s["newest_ns"], T0 + 2_000_000_017);
    assert_eq!(
        s["writers"],
        json!({"processes": 3, "process_start_pids": 2, "threads": 4})
    );
    assert_eq!(s["lost_to_laps"], 4);
    assert_eq!(s["abandoned"], 0, "the abandoned slot was lapped");
    assert_eq!(s["pending"], 0);
    assert_eq!(s["corrupt"], 0);
    assert_eq!(s["unknown_kinds"], 0);
    assert_eq!(
        s["dropped"],
        json!({"dictionary_full": 5, "callsite_table_full": 2})
    );
    assert_eq!(
        s["dictionary"],
        json!({"entries": 3, "callsites": 2, "strings": 1, "messages": 1, "unfinished": 0, "skipped_bytes": 0})
    );
}

#[test]
fn abandoned_pending_and_corrupt_slots_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    // Writes in progress are judged by the clock: this ring was written
    // ten seconds ago, but for one slot claimed just now.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let t0 = now - 10_000_000_000;
    let mut b = RingBuilder::new(t0);
    let cs = b.event_callsite(Level::Info, "caro", "tick", &["message"]);
    b.set_head(MAIN, 1); // abandoned: never stamped, ten seconds ago
    let bad = b.event(MAIN, t0 + 10, cs, 0, &values(|w| w.message(0)));
    b.event(MAIN, t0 + 20, cs, 0, &values(|w| w.message(0)));
    b.claim(MAIN, now); // pending: being written this moment
                        // Flip a payload bit of the record at `bad`: its checksum fails.
    let off = b.geometry.lane_slots_offset(MAIN) + 64 * bad + 40;
    b.bytes[off as usize] ^= 1;
    b.write_to(&path);
    let o = run(analyze(&["status", "--json", "--ring"]).arg(&path));
    let s: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (
            &s["records"],
            &s["abandoned"],
            &s["pending"],
            &s["corrupt"],
            &s["lost_to_laps"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(1), &json!(0))
    );
    // And `logs` says what was lost, in one line after its output.
    let o = run(analyze(&["logs", "--ring"]).arg(&path));
    assert_eq!(
        stderr(&o),
        "caro-analyze: 0 slots lost to laps, 1 abandoned by killed writers, 1 corrupt\n"
    );
}

#[test]
fn status_text_is_an_aligned_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    known_ring().write_to(&path);
    let o = run(analyze(&["status", "--ring"]).arg(&path));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let rows: Vec<(&str, &str)> = text
        .lines()
        .map(|l| {
            let (name, _) = l.split_once(':').unwrap();
            (name, l)
        })
        .collect();
    // Every value starts in the same column, two spaces after the longest name.
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap() + 3;
    for (name, line) in &rows {
        assert!(line.len() > width, "{line:?}");
        assert!(
            line[name.len() + 1..width].chars().all(|c| c == ' '),
            "{line:?}"
        );
        assert_ne!(&line[width..width + 1], " ", "{line:?}");
    }
    let value = |name: &str| {
        rows.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, l)| l[width..].to_owned())
            .unwrap_or_else(|| panic!("no {name:?} row in\n{text}"))
    };
    assert_eq!(value("path"), path.display().to_string());
    assert_eq!(
        value("format version"),
        format!(
            "{}.{}",
            caro_format::layout::VERSION_MAJOR,
            caro_format::layout::VERSION_MINOR
        )
    );
    assert_eq!(value("values left out"), "0");
    assert_eq!(value("capacity"), "32 slots in 2 lanes");
    assert_eq!(value("main lanes"), "1 lane, 16 slots (1.0 KiB)");
    assert_eq!(value("file size"), "18.0 KiB (18432 bytes)");
    assert_eq!(value("identity table"), "none (format before 1.3)");
    assert_eq!(value("records"), "19");
    assert_eq!(value("oldest"), "2026-01-15T14:32:15.123Z");
    assert_eq!(value("writer processes"), "3");
    assert_eq!(value("process starts"), "2 distinct pids");
    assert_eq!(value("threads"), "4");
    assert_eq!(value("lost to laps"), "4");
    assert_eq!(value("dropped"), "5 dictionary_full, 2 callsite_table_full");
    assert!(value("dictionary").starts_with("3 entries"));
}

#[test]
fn an_empty_ring_has_no_oldest_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    RingBuilder::new(T0).write_to(&path);
    let o = run(analyze(&["status", "--json", "--ring"]).arg(&path));
    let s: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (&s["records"], &s["oldest_ns"], &s["newest"]),
        (&json!(0), &Value::Null, &Value::Null)
    );
    let o = run(analyze(&["logs", "--ring"]).arg(&path));
    assert_eq!(
        (o.status.code(), stdout(&o), stderr(&o)),
        (Some(0), String::new(), String::new())
    );
}

#[test]
fn the_default_ring_is_in_the_xdg_cache_folder() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(analyze(&["status"]).env("XDG_CACHE_HOME", dir.path()));
    assert_eq!(o.status.code(), Some(3), "no data: nothing recorded yet");
    let expected = dir.path().join("caro").join("events.ring");
    assert!(
        stderr(&o).contains(&expected.display().to_string()),
        "{}",
        stderr(&o)
    );
    std::fs::create_dir(dir.path().join("caro")).unwrap();
    let mut b = RingBuilder::new(T0);
    let cs = b.event_callsite(Level::Info, "caro", "hello", &["message"]);
    b.event(MAIN, T0, cs, 0, &values(|w| w.message(0)));
    b.write_to(&expected);
    let o = run(analyze(&["logs", "--format", "json"]).env("XDG_CACHE_HOME", dir.path()));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains(r#""message":"hello""#));
}

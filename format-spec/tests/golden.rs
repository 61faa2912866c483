//! The golden rings decode to their checked-in text, and the reference
//! decoder, written from SPEC.md alone, prints exactly the same. `v1.3` is
//! what today's writer makes; `v1.2` and `v1.1` are frozen, older rings
//! that must still read the same.

use std::path::{Path, PathBuf};
use std::process::Command;

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(name)
}

/// The golden versions, newest first.
const VERSIONS: [&str; 3] = ["v1.3", "v1.2", "v1.1"];

fn expected_text(version: &str) -> String {
    std::fs::read_to_string(golden(&format!("{version}.txt"))).unwrap()
}

fn ring(version: &str) -> Vec<u8> {
    std::fs::read(golden(&format!("{version}.ring"))).unwrap()
}

#[test]
fn golden_rings_decode_to_golden_text() {
    for version in VERSIONS {
        let decoded = caro_format::decode(&ring(version)).unwrap();
        assert_eq!(
            caro_format::text::canonical_text(&decoded),
            expected_text(version),
            "{version}"
        );
    }
}

#[test]
fn a_scrubbed_copy_keeps_every_record_that_decoded_and_nothing_else() {
    // Templates (v1.2) too: their text parts are replaced like strings.
    for version in VERSIONS {
        let original = ring(version);
        let mut bytes = original.clone();
        let done = caro_format::rewrite::rewrite_strings(&mut bytes, |s| {
            s.contains("embedded")
                .then(|| s.replace("embedded", "EMBEDDED"))
        })
        .unwrap();
        let (before, after) = (
            caro_format::decode(&original).unwrap(),
            caro_format::decode(&bytes).unwrap(),
        );
        // One record holds a value of a newer minor version, which cannot be
        // written back: it is zeroed with the slots that did not decode.
        assert_eq!(done.blanked, 1, "{version}");
        assert_eq!(done.records as usize, before.records.len() - 1);
        assert_eq!(after.records.len(), before.records.len() - 1);
        let (b, a) = (before.totals(), after.totals());
        assert_eq!((b.corrupt, b.unknown_kinds), (1, 1));
        assert_eq!((a.corrupt, a.unknown_kinds), (0, 0));
        // Zeroed, a continuation whose head a lap overwrote reads as an
        // unstamped slot, no longer as lost.
        assert!(a.lost_to_laps <= b.lost_to_laps);
        assert!(a.abandoned + a.pending > b.abandoned + b.pending);
        // The dictionary keeps its entries (an unfinished one by its stamp
        // alone); the bytes it skipped are zero.
        let (bd, ad) = (&before.dictionary, &after.dictionary);
        assert_eq!((ad.entries, ad.unfinished), (bd.entries, bd.unfinished));
        assert_eq!(ad.skipped_bytes, bd.skipped_bytes);
        // Every other record reads as before, `embedded` replaced in string
        // values and every dictionary string alike; a callsite or string id
        // missing from the dictionary is now none (0).
        let records = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.starts_with("record "))
                .map(str::to_owned)
                .collect()
        };
        let text = caro_format::text::canonical_text(&after);
        assert!(!text.contains("embedded"), "{text}");
        assert!(text.contains(r#"backend="EMBEDDED""#), "{text}");
        let want: Vec<String> = records(&expected_text(version))
            .into_iter()
            .filter(|l| !l.contains("=<ext "))
            .map(|l| {
                l.replace(" callsite=0000000000001234", "")
                    .replace("<string 00000000deadbeef>", "<string 0000000000000000>")
            })
            .collect();
        let got: Vec<String> = records(&text)
            .into_iter()
            .map(|l| l.replace("EMBEDDED", "embedded"))
            .collect();
        assert_eq!(got, want, "{version}");
    }
}

#[test]
fn a_range_decode_returns_and_counts_only_its_slots() {
    let bytes = ring("v1.2");
    let whole = caro_format::decode(&bytes).unwrap();
    // Lane 2 of the golden ring: seq 4 stamped writing long ago
    // (abandoned), seq 5 moments ago (pending). Both may still have a
    // writer by position, so an incremental reader stops at 4.
    let lane2 = whole.lanes[2].1;
    assert_eq!((lane2.abandoned, lane2.pending), (1, 1));
    assert_eq!(lane2.first_pending, Some(5));
    assert_eq!(lane2.first_open, Some(4));

    // Judged by the same clock as the whole: its newest record.
    let now = whole.records.iter().map(|r| r.time_ns).max();
    let heads: Vec<u64> = whole.lanes.iter().map(|(l, _)| l.head).collect();
    let nothing = caro_format::decode_range(&bytes, now, &heads, &[]).unwrap();
    assert!(nothing.records.is_empty());
    assert_eq!(nothing.totals().lost_to_laps, 0);

    // Up to each lane's first open slot, then from there: every record
    // once, between the two reads.
    let until: Vec<u64> = whole
        .lanes
        .iter()
        .map(|(l, s)| s.first_open.unwrap_or(l.head))
        .collect();
    let first = caro_format::decode_range(&bytes, now, &[], &until).unwrap();
    let rest = caro_format::decode_range(&bytes, now, &until, &[]).unwrap();
    assert_eq!(rest.lanes[2].1.abandoned, 1);
    assert_eq!(rest.lanes[2].1.pending, 1);
    assert_eq!(first.lanes[2].1.pending, 0);
    // (A NaN field makes records unequal to themselves: compare places.)
    let place = |r: &caro_format::Record| (r.time_ns, r.lane, r.seq);
    let mut both: Vec<_> = first
        .records
        .iter()
        .chain(&rest.records)
        .map(place)
        .collect();
    both.sort_unstable();
    assert_eq!(both, whole.records.iter().map(place).collect::<Vec<_>>());
    assert_eq!(
        first.totals().lost_to_laps + rest.totals().lost_to_laps,
        whole.totals().lost_to_laps
    );
}

#[test]
fn reference_decoder_agrees_byte_for_byte() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/decode.py");
    for version in VERSIONS {
        let out = Command::new("python3")
            .arg(&script)
            .arg(golden(&format!("{version}.ring")))
            .output()
            .expect("python3 is needed to run the reference decoder");
        assert!(
            out.status.success(),
            "decode.py failed on {version}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let python = String::from_utf8(out.stdout).unwrap();
        assert_eq!(python, expected_text(version), "{version}");
    }
}

#[test]
fn reference_decoder_refuses_what_the_rust_decoder_refuses() {
    let dir = std::env::temp_dir().join(format!("caro-format-ref-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ring = ring("v1.2");
    let mut newer = ring.clone();
    newer[8] = 2;
    let cases: [(&str, Vec<u8>); 3] = [
        ("foreign", b"#!/bin/sh\necho hello\n".to_vec()),
        ("truncated", ring[..ring.len() / 2].to_vec()),
        ("newer", newer),
    ];
    for (name, bytes) in cases {
        assert!(caro_format::decode(&bytes).is_err(), "{name}");
        let path = dir.join(name);
        std::fs::write(&path, &bytes).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/decode.py");
        let out = Command::new("python3")
            .arg(&script)
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).lines().count(),
            1,
            "{name}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Where a ring has content: its header, the dictionary's log, the
/// identity table, the lane headers and the slots of lanes written to.
fn hot_regions(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let header = caro_format::decode::Header::parse(bytes).unwrap();
    let h = header.raw;
    let u64_at =
        |at: u64| u64::from_le_bytes(bytes[at as usize..at as usize + 8].try_into().unwrap());
    let u32_at =
        |at: u64| u32::from_le_bytes(bytes[at as usize..at as usize + 4].try_into().unwrap());
    let mut hot = Vec::new();
    hot.push(0..h.header_size as usize);
    let log = h.dict_offset + 16 + 8 * u64::from(u32_at(h.dict_offset + 8));
    hot.push(
        log as usize..(log + u64_at(h.dict_offset) + 64).min(h.dict_offset + h.dict_size) as usize,
    );
    if h.ids_size > 0 {
        let written = 16 + 48 * u64_at(h.ids_offset);
        hot.push(h.ids_offset as usize..(h.ids_offset + written.min(h.ids_size)) as usize);
    }
    let lanes = h.lanes_offset as usize;
    hot.push(lanes..lanes + 64 * h.lane_count as usize);
    for lane in caro_format::decode::lanes(&header, bytes).unwrap() {
        if lane.head > 0 {
            let start = lane.slots_offset as usize;
            hot.push(start..start + 64 * lane.head.min(lane.slots()) as usize);
        }
    }
    hot
}

/// Damaged copies of each golden ring (bytes and words changed at random,
/// deterministically): both decoders must refuse the same files and print
/// the same text for the rest. This reaches the corners the golden rings
/// do not: damaged dictionaries and identity tables, orphaned
/// continuations, wild heads.
#[test]
fn both_decoders_agree_on_damaged_rings() {
    for version in VERSIONS {
        damaged_copies_agree(version);
    }
}

fn damaged_copies_agree(version: &str) {
    let ring = ring(version);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/decode.py");
    let dir = std::env::temp_dir().join(format!(
        "caro-format-damaged-{}-{version}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let hot = hot_regions(&ring);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut refused, mut decoded) = (0, 0);
    for case in 0..60 {
        let mut bytes = ring.clone();
        for _ in 0..1 + next() % 6 {
            let region = &hot[(next() % hot.len() as u64) as usize];
            let at = region.start + (next() % (region.end - region.start) as u64) as usize;
            if next() % 3 == 0 {
                let at = at & !7;
                let word =
                    [0, 1, u64::MAX, u64::MAX / 2, next(), next() % 300][(next() % 6) as usize];
                bytes[at..at + 8].copy_from_slice(&word.to_le_bytes());
            } else {
                bytes[at] ^= 1 << (next() % 8);
            }
        }
        let path = dir.join(format!("case{case}.ring"));
        std::fs::write(&path, &bytes).unwrap();
        let out = Command::new("python3")
            .arg(&script)
            .arg(&path)
            .output()
            .unwrap();
        match caro_format::decode(&bytes) {
            Ok(d) => {
                decoded += 1;
                assert!(
                    out.status.success(),
                    "{version} case {case}: Python refused what Rust read: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let python = String::from_utf8(out.stdout).unwrap();
                let rust = caro_format::text::canonical_text(&d);
                if python != rust {
                    let (p, r) = (
                        path.with_extension("python.txt"),
                        path.with_extension("rust.txt"),
                    );
                    std::fs::write(&p, python).unwrap();
                    std::fs::write(&r, rust).unwrap();
                    panic!(
                        "{version} case {case}: the decoders disagree on {}: diff {} {}",
                        path.display(),
                        p.display(),
                        r.display()
                    );
                }
            }
            Err(e) => {
                refused += 1;
                assert_eq!(
                    out.status.code(),
                    Some(1),
                    "{version} case {case}: Rust refused ({e}) what Python read"
                );
            }
        }
    }
    assert!(
        decoded > 30 && refused > 0,
        "{version}: the damage mixes readable and refused files: {decoded} read, {refused} refused"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A writer killed after committing a continuation but before its head
/// (continuations are committed first): the whole record is unfinished —
/// abandoned — not a damaged slot and a stray continuation.
#[test]
fn a_record_whose_head_was_never_committed_is_unfinished_not_damaged() {
    use caro_format::slot::{writing_word, RecordHead, RecordKind, SlotImages};
    use caro_format::{Geometry, ValueWriter};

    let geometry = Geometry::for_size(1 << 20);
    let mut bytes = geometry.initial_bytes(1);
    bytes.resize(geometry.file_size() as usize, 0);
    let mut values = ValueWriter::new();
    for f in 0..5 {
        values.u64(f, f as u64);
    }
    let head = RecordHead {
        time_ns: 1_000,
        callsite: 7,
        span: 0,
        thread: 1,
        kind: RecordKind::Event.code(),
        flags: 0,
    };
    let images = SlotImages::new(&head, values.bytes(), 0);
    assert_eq!(images.count, 2, "a record with a continuation");
    let slots = geometry.lane_slots_offset(0) as usize;
    for (i, words) in images.as_slice().iter().enumerate() {
        let at = slots + i * 64;
        for (w, word) in words.iter().enumerate() {
            bytes[at + w * 8..at + w * 8 + 8].copy_from_slice(&word.to_le_bytes());
        }
    }
    // The head still says "writing"; the lane's head says two slots.
    bytes[slots..slots + 8].copy_from_slice(&writing_word(0, 1_000).to_le_bytes());
    let lane_head = geometry.lanes_offset() as usize;
    bytes[lane_head..lane_head + 8].copy_from_slice(&2u64.to_le_bytes());

    // Read ten seconds later: the writer is gone.
    let t = caro_format::decode_at(&bytes, Some(10_000_000_000))
        .unwrap()
        .totals();
    assert_eq!((t.records, t.corrupt, t.lost_to_laps), (0, 0, 0), "{t:?}");
    assert_eq!(t.abandoned, 2, "{t:?}");
}

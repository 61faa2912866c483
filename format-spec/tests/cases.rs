//! The golden cases (`golden/cases/`): one small ring for each rule of
//! SPEC.md that a reader could otherwise guess at, each with its expected
//! canonical text (or, for a ring that must be refused, `error`). Both
//! decoders must print exactly that. `CARO_UPDATE_GOLDEN=1 cargo test -p
//! caro-format --test cases` writes them again after an intended change.

use std::path::{Path, PathBuf};
use std::process::Command;

use caro_format::dictionary::{encode_callsite, CallsiteKind, CallsiteRef, EncodedEntry, Level};
use caro_format::layout::SLOT_SIZE;
use caro_format::slot::{stamp, writing_word, RecordHead, RecordKind, SlotImages, SlotState};
use caro_format::{Geometry, ValueWriter};

/// 2026-01-15T14:32:15Z.
const T0: u64 = 1_768_487_535_000_000_000;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/cases")
}

/// A ring of one main and one alert lane of 16 slots, written by hand.
struct Case {
    g: Geometry,
    bytes: Vec<u8>,
}

impl Case {
    fn new() -> Case {
        let g = Geometry::uniform(1, 4, 4, 8192, 16).with_identities(64);
        let mut bytes = g.initial_bytes(T0);
        bytes.resize(g.file_size() as usize, 0);
        Case { g, bytes }
    }

    fn word(&mut self, at: u64, v: u64) {
        self.bytes[at as usize..at as usize + 8].copy_from_slice(&v.to_le_bytes());
    }

    fn slot(&self, lane: u32, seq: u64) -> u64 {
        self.g.lane_slots_offset(lane) + (seq % 16) * u64::from(SLOT_SIZE)
    }

    fn set_head(&mut self, lane: u32, head: u64) {
        self.word(self.g.lanes_offset() + 64 * u64::from(lane), head);
    }

    fn entry(&mut self, e: &EncodedEntry) {
        let dict = self.g.dict_offset();
        let tail = u64::from_le_bytes(
            self.bytes[dict as usize..dict as usize + 8]
                .try_into()
                .unwrap(),
        );
        let at = dict + self.g.dict_log_offset() + tail;
        self.word(at, e.committed_word());
        for (i, w) in e.words.iter().enumerate().skip(1) {
            self.word(at + 8 * i as u64, *w);
        }
        self.word(dict, tail + 8 * e.words.len() as u64);
    }

    fn callsite(&mut self, level: Level, target: &str, file: &str, fields: &[&str]) -> u64 {
        let e = encode_callsite(&CallsiteRef {
            level,
            kind: CallsiteKind::Event,
            name: "event",
            target,
            file,
            line: 3,
            fields,
            message: "",
        });
        self.entry(&e);
        e.id
    }

    /// Writes a committed record at `seq` of `lane`; returns its slots.
    fn record(
        &mut self,
        lane: u32,
        seq: u64,
        kind: u8,
        t: u64,
        callsite: u64,
        v: &ValueWriter,
    ) -> u64 {
        let head = RecordHead {
            time_ns: T0 + t,
            callsite,
            span: 0,
            thread: 9,
            kind,
            flags: 0,
        };
        let images = SlotImages::new(&head, v.bytes(), seq);
        for (i, words) in images.as_slice().iter().enumerate() {
            let at = self.slot(lane, seq + i as u64);
            for (w, word) in words.iter().enumerate() {
                self.word(at + 8 * w as u64, *word);
            }
        }
        images.count as u64
    }
}

fn u64s(values: &[u64]) -> ValueWriter {
    let mut v = ValueWriter::new();
    for (i, x) in values.iter().enumerate() {
        v.u64(i, *x);
    }
    v
}

/// Every case: its name and its bytes.
fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();

    // Kinds 7 to 10 keep their own level whatever their callsite.
    let mut c = Case::new();
    let debug = c.callsite(Level::Debug, "caro::x", "src/x.rs", &[]);
    c.record(
        1,
        0,
        RecordKind::Panic.code(),
        1,
        debug,
        &ValueWriter::new(),
    );
    c.record(1, 1, RecordKind::ProcessStart.code(), 2, debug, &u64s(&[9]));
    c.record(
        0,
        0,
        RecordKind::Event.code(),
        3,
        debug,
        &ValueWriter::new(),
    );
    c.set_head(1, 2);
    c.set_head(0, 1);
    out.push(("kinds", c.bytes));

    // An unknown kind is checked like any record: a sound one is skipped
    // and its time is no record time (the writer at sequence 3, stamped
    // at the known record's time, is pending, not abandoned, although the
    // unknown record is 100 s newer); a damaged one is corrupt.
    let mut c = Case::new();
    c.record(0, 0, RecordKind::Event.code(), 0, 0, &ValueWriter::new());
    c.record(0, 1, 200, 100_000_000_000, 0, &u64s(&[1]));
    c.record(0, 2, 201, 0, 0, &u64s(&[2]));
    let at = c.slot(0, 2) + 40;
    c.bytes[at as usize] ^= 1;
    let w = writing_word(3, T0);
    c.word(c.slot(0, 3), w);
    c.set_head(0, 4);
    out.push(("unknown", c.bytes));

    // A sequence bit flipped in a lane that never lapped: corrupt, not
    // lost to a lap.
    let mut c = Case::new();
    for seq in 0..3 {
        c.record(0, seq, RecordKind::Event.code(), seq, 0, &u64s(&[seq]));
    }
    let at = c.slot(0, 1);
    let flipped = u64::from(stamp(1, SlotState::Head) ^ (1 << 3));
    let check = c.bytes[at as usize + 4..at as usize + 8].to_vec();
    c.word(at, flipped);
    c.bytes[at as usize + 4..at as usize + 8].copy_from_slice(&check);
    c.set_head(0, 3);
    out.push(("flipped", c.bytes));

    // A slot claimed and never stamped, then the committed continuation of
    // its record: both have no time of their own and take the lane's
    // newest record time: pending.
    let mut c = Case::new();
    c.record(0, 0, RecordKind::Event.code(), 0, 0, &ValueWriter::new());
    let mut long = ValueWriter::new();
    long.str(0, "a string long enough to need a continuation slot");
    let mut other = Case::new();
    other.record(0, 1, RecordKind::Event.code(), 5, 0, &long);
    let cont = c.slot(0, 2);
    c.bytes[cont as usize..cont as usize + 64]
        .copy_from_slice(&other.bytes[cont as usize..cont as usize + 64]);
    c.set_head(0, 3);
    out.push(("unstamped", c.bytes));

    // Names that need quoting: a target with a space, a file name with a
    // newline, an empty target, field names with `=` and `"`.
    let mut c = Case::new();
    let spaced = c.callsite(Level::Info, "my target", "src/a\nb.rs", &["a=b", "plain"]);
    let empty = c.callsite(Level::Warn, "", "", &["say \"hi\""]);
    c.record(0, 0, RecordKind::Event.code(), 1, spaced, &u64s(&[1, 2]));
    c.record(1, 0, RecordKind::Event.code(), 2, empty, &u64s(&[3]));
    c.set_head(0, 1);
    c.set_head(1, 1);
    out.push(("names", c.bytes));

    // A file one byte shorter than its header says: refused whole.
    let mut short =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/v1.3.ring")).unwrap();
    short.pop();
    out.push(("short", short));
    out
}

fn expected(bytes: &[u8]) -> String {
    match caro_format::decode(bytes) {
        Ok(d) => caro_format::text::canonical_text(&d),
        Err(_) => "error\n".to_owned(),
    }
}

#[test]
fn both_decoders_print_each_case_as_its_golden_text() {
    let dir = cases_dir();
    let update = std::env::var_os("CARO_UPDATE_GOLDEN").is_some();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/decode.py");
    for (name, bytes) in cases() {
        let ring = dir.join(format!("{name}.ring"));
        let txt = dir.join(format!("{name}.txt"));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&ring, &bytes).unwrap();
            std::fs::write(&txt, expected(&bytes)).unwrap();
        }
        assert!(
            std::fs::read(&ring).unwrap() == bytes,
            "{name}: the case's bytes drifted; run with CARO_UPDATE_GOLDEN=1"
        );
        let want = std::fs::read_to_string(&txt).unwrap();
        assert_eq!(expected(&bytes), want, "{name}: the Rust decoder");
        let out = Command::new("python3")
            .arg(&script)
            .arg(&ring)
            .output()
            .unwrap();
        if want == "error\n" {
            assert_eq!(
                out.status.code(),
                Some(1),
                "{name}: the reference decoder must refuse it"
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stderr).lines().count(),
                1,
                "{name}"
            );
        } else {
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                String::from_utf8(out.stdout).unwrap(),
                want,
                "{name}: the reference decoder"
            );
        }
    }
}

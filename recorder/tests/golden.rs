//! The golden ring: a fixed program writes a ring through the recorder's
//! own ring writer; the bytes must equal `format-spec/golden/v1.3.ring` and
//! their decoding `format-spec/golden/v1.3.txt`. Any drift of the encoder
//! fails here. `CARO_UPDATE_GOLDEN=1 cargo test -p caro-recorder --test
//! golden` rewrites both after an intended format change. (The v1.1 and
//! v1.2 golden files beside them are frozen: older rings must still read.)

use std::path::{Path, PathBuf};

use bytemuck::Zeroable;
use caro_format::dictionary::{encode_callsite, encode_string, CallsiteKind, CallsiteRef, Level};
use caro_format::layout::{IdentityEntry, LaneClass, IDS_HEADER_SIZE, LANE_HEADER_SIZE, SLOT_SIZE};
use caro_format::slot::{record_flags, writing_word, RecordHead, RecordKind};
use caro_format::{Geometry, TemplateWriter, ValueWriter};
use caro_recorder::ring::Ring;

/// Four lanes a class (main of 64 slots, alert of 16) and an identity
/// table of five entries.
fn geometry() -> Geometry {
    Geometry::uniform(4, 6, 4, 64 << 10, 512).with_identities(IDS_HEADER_SIZE + 5 * 48)
}
/// 2026-01-15T14:32:15Z.
const T0: u64 = 1_768_487_535_000_000_000;
const THREAD: u32 = 4242;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../format-spec/golden")
}

fn head(kind: RecordKind, time_ns: u64, callsite: u64, span: u32, left_out: u8) -> RecordHead {
    RecordHead {
        time_ns,
        callsite,
        span,
        thread: THREAD,
        kind: kind.code(),
        flags: record_flags(left_out),
    }
}

fn write(
    ring: &Ring,
    (class, lane): (LaneClass, u32),
    kind: RecordKind,
    t: u64,
    callsite: u64,
    span: u32,
    v: &ValueWriter,
) {
    if v.truncated() {
        ring.count_left_out(v.left_out());
    }
    ring.write(
        class,
        lane,
        &head(kind, T0 + t, callsite, span, v.left_out()),
        v.bytes(),
    );
}

fn identity(pid: u32, tid: u32, since: u64, version: u64) -> IdentityEntry {
    IdentityEntry {
        pid,
        tid,
        started_ns: T0,
        since_ns: T0 + since,
        version,
        ..IdentityEntry::zeroed()
    }
}

/// The fixed program.
fn make_golden(path: &Path) {
    let g = geometry();
    let mut initial = g.initial_bytes(T0);
    initial.resize(g.file_size() as usize, 0);
    std::fs::write(path, &initial).unwrap();
    let ring = Ring::open_or_create(path, 0, T0).unwrap();
    let span_fields = ["backend"];
    let span_cs = encode_callsite(&CallsiteRef {
        level: Level::Info,
        kind: CallsiteKind::Span,
        name: "generate_command",
        target: "caro::agent",
        file: "src/agent.rs",
        line: 40,
        fields: &span_fields,
        message: "",
    });
    let event_fields = ["message", "backend", "query_length", "confidence", "query"];
    let event_cs = encode_callsite(&CallsiteRef {
        level: Level::Info,
        kind: CallsiteKind::Event,
        name: "event src/agent.rs:52",
        target: "caro::agent",
        file: "src/agent.rs",
        line: 52,
        fields: &event_fields,
        message: "generating command",
    });
    let mixed_fields: Vec<String> = (0..32).map(|i| format!("f_{i}")).collect();
    let mixed_refs: Vec<&str> = mixed_fields.iter().map(String::as_str).collect();
    let mixed_cs = encode_callsite(&CallsiteRef {
        level: Level::Debug,
        kind: CallsiteKind::Event,
        name: "event src/mix.rs:7",
        target: "caro::mix",
        file: "src/mix.rs",
        line: 7,
        fields: &mixed_refs,
        message: "",
    });
    let warn_fields = ["message", "error", "latency_ms"];
    let warn_cs = encode_callsite(&CallsiteRef {
        level: Level::Warn,
        kind: CallsiteKind::Event,
        name: "event src/backends/embedded.rs:88",
        target: "caro::backends::embedded",
        file: "src/backends/embedded.rs",
        line: 88,
        fields: &warn_fields,
        message: "backend slow, \"retrying\"\n",
    });
    let embedded = encode_string("embedded");
    let matcher = encode_string("Static matcher found match in ");
    for e in [
        &span_cs, &event_cs, &mixed_cs, &warn_cs, &embedded, &matcher,
    ] {
        ring.register(e).unwrap();
    }
    // Registering twice adds nothing.
    ring.register(&embedded).unwrap();
    let version = encode_string("1.5.0");
    ring.register(&version).unwrap();

    // v1.3: identities. Seven in a table of five: the two oldest lapped;
    // thread 4242 of process 4242, then its id reused by process 5000
    // (from 60 µs on); the fifth is patched below into one a writer left
    // unfinished, the sixth into a damaged one.
    for (pid, tid, since) in [
        (1, 1, 0),
        (2, 2, 0),
        (4242, 4242, 0),
        (5000, 4242, 60_000),
        (6000, 6000, 0),
        (7000, 7000, 0),
        (4242, 4243, 500),
    ] {
        let v = if pid == 4242 { version.id } else { 0 };
        ring.write_identity(&identity(pid, tid, since, v)).unwrap();
    }

    let mut v = ValueWriter::new();
    v.u64(0, 4242);
    v.str(1, "1.5.0");
    write(
        &ring,
        (LaneClass::Alert, 0),
        RecordKind::ProcessStart,
        0,
        0,
        0,
        &v,
    );
    // v1.1: the thread says which process it is in.
    let mut v = ValueWriter::new();
    v.u64(0, 4242);
    write(
        &ring,
        (LaneClass::Alert, 0),
        RecordKind::ThreadStart,
        0,
        0,
        0,
        &v,
    );

    // A request: span, events, exit, close.
    let mut v = ValueWriter::with_parent(0);
    v.static_str(0, embedded.id);
    write(
        &ring,
        (LaneClass::Main, 0),
        RecordKind::SpanNew,
        1_000,
        span_cs.id,
        7,
        &v,
    );
    write(
        &ring,
        (LaneClass::Main, 0),
        RecordKind::SpanEnter,
        2_000,
        span_cs.id,
        7,
        &ValueWriter::new(),
    );
    let mut v = ValueWriter::new();
    v.message(0);
    v.str(1, "embedded");
    v.u64(2, 42);
    v.f64(3, 0.92);
    v.redacted(4, 23);
    write(
        &ring,
        (LaneClass::Main, 0),
        RecordKind::Event,
        3_000,
        event_cs.id,
        7,
        &v,
    );
    // Every value kind, with a skip past 15 fields and continuations.
    let mut v = ValueWriter::new();
    v.i64(0, -5);
    v.bool(1, true);
    v.bool(2, false);
    v.u128(3, u128::MAX);
    v.i128(4, i128::MIN);
    v.f64(5, 1e-7);
    v.f64(6, f64::NAN);
    v.f64(7, -0.0);
    v.f64(8, 1e16);
    v.static_str(9, 0xDEAD_BEEF);
    v.str(11, "tab\there \\ \u{7f}");
    v.u64(31, 1); // 19 fields on: a SKIP tag
    write(
        &ring,
        (LaneClass::Main, 0),
        RecordKind::Event,
        4_000,
        mixed_cs.id,
        7,
        &v,
    );
    // A string past the 127-byte bound, cut, over three slots.
    let mut v = ValueWriter::new();
    v.str(10, &"x".repeat(130));
    write(
        &ring,
        (LaneClass::Main, 0),
        RecordKind::Event,
        4_500,
        mixed_cs.id,
        7,
        &v,
    );
    // A record that runs out of room keeps what fit and says so.
    let mut v = ValueWriter::new();
    for f in 0..24 {
        v.u64(f, f as u64);
    }
    write(
        &ring,
        (LaneClass::Main, 0),
        RecordKind::Event,
        5_000,
        mixed_cs.id,
        7,
        &v,
    );
    let mut v = ValueWriter::new();
    v.f64(0, 1.5);
    write(
        &ring,
        (LaneClass::Main, 0),
        RecordKind::SpanRecord,
        6_000,
        span_cs.id,
        7,
        &v,
    );
    write(
        &ring,
        (LaneClass::Main, 0),
        RecordKind::SpanExit,
        7_000,
        span_cs.id,
        7,
        &ValueWriter::new(),
    );
    write(
        &ring,
        (LaneClass::Main, 0),
        RecordKind::SpanClose,
        8_000,
        span_cs.id,
        7,
        &ValueWriter::new(),
    );
    // v1.2: messages kept as templates. Literal pieces (one from the
    // dictionary), numbers, quotes, holes; then one that does not fit
    // beside a long string, and one naming a string the dictionary lacks.
    let mut t = TemplateWriter::new(255);
    t.string(matcher.id, 30);
    t.text("1");
    t.text(".");
    t.text("234");
    t.text("ms: ");
    t.hole(23);
    t.text(" (\"quoted\" \u{7f}é)");
    let mut v = ValueWriter::new();
    v.template(0, &mut t);
    v.str(1, "embedded");
    write(
        &ring,
        (LaneClass::Main, 0),
        RecordKind::Event,
        8_100,
        event_cs.id,
        7,
        &v,
    );
    let mut v = ValueWriter::new();
    v.str(1, &"y".repeat(120));
    let mut t = TemplateWriter::new(v.room_for_ext(2));
    t.hole(300);
    t.text(&"z".repeat(60));
    t.text("not kept");
    v.template(2, &mut t);
    let mut t = TemplateWriter::new(v.room_for_ext(3));
    t.string(0xFEED, 5);
    v.template(3, &mut t);
    write(
        &ring,
        (LaneClass::Main, 0),
        RecordKind::Event,
        8_200,
        mixed_cs.id,
        7,
        &v,
    );

    // An event from a callsite the dictionary does not have.
    write(
        &ring,
        (LaneClass::Main, 0),
        RecordKind::Event,
        8_500,
        0x1234,
        0,
        &ValueWriter::new(),
    );

    // Alerts.
    let mut v = ValueWriter::new();
    v.message(0);
    v.str(1, "backend_timeout");
    v.u64(2, 1_500);
    write(
        &ring,
        (LaneClass::Alert, 0),
        RecordKind::Event,
        9_000,
        warn_cs.id,
        7,
        &v,
    );
    let mut v = ValueWriter::new();
    v.str(0, "src/main.rs");
    v.u64(1, 10);
    v.u64(2, 5);
    write(
        &ring,
        (LaneClass::Alert, 1),
        RecordKind::Panic,
        10_000,
        0,
        0,
        &v,
    );
    let mut v = ValueWriter::new();
    for (i, x) in [4242u64, 1_200, 300, 44_368, 5, 2_000]
        .into_iter()
        .enumerate()
    {
        v.u64(i, x);
    }
    write(
        &ring,
        (LaneClass::Alert, 0),
        RecordKind::ProcessExit,
        11_000,
        0,
        0,
        &v,
    );

    // A flood that laps alert lane 2 (16 slots): the 4 oldest are lost.
    for i in 0..20u64 {
        let mut v = ValueWriter::new();
        v.message(0);
        v.u64(2, i);
        write(
            &ring,
            (LaneClass::Alert, 2),
            RecordKind::Event,
            20_000 + i,
            warn_cs.id,
            0,
            &v,
        );
    }

    // Lane 2: a record kind from a newer minor version, then a record.
    ring.write(
        LaneClass::Main,
        2,
        &head(RecordKind::Event, T0 + 30_000, 0, 0, 0),
        &[],
    );
    let mut future = head(RecordKind::Event, T0 + 31_000, 0, 0, 0);
    future.kind = 200;
    ring.write(LaneClass::Main, 2, &future, &[7u8; 40]);
    ring.write(
        LaneClass::Main,
        2,
        &head(RecordKind::Event, T0 + 32_000, 0, 0, 0),
        &[],
    );

    // Lane 3: a record damaged after it was written (patched below).
    let mut v = ValueWriter::new();
    v.u64(2, 99);
    write(
        &ring,
        (LaneClass::Main, 3),
        RecordKind::Event,
        40_000,
        event_cs.id,
        0,
        &v,
    );
    write(
        &ring,
        (LaneClass::Main, 3),
        RecordKind::Event,
        41_000,
        event_cs.id,
        0,
        &v,
    );
    // A value type of a newer minor version (EXT), then a value after it.
    let mut ext = vec![0xF0, 3, 2, 9, 9, 0x00];
    ext.extend_from_slice(&7u64.to_le_bytes());
    ring.write(
        LaneClass::Main,
        0,
        &head(RecordKind::Event, T0 + 8_700, mixed_cs.id, 0, 0),
        &ext,
    );

    // Alert lane 3 (16 slots): a record of two slots at sequences 4 and 5,
    // then single ones to 19; patched below into a lapped lane.
    for i in 0..18u64 {
        let mut v = ValueWriter::new();
        if i == 4 {
            v.str(1, "a value long enough to need a continuation slot");
        }
        v.u64(2, i);
        write(
            &ring,
            (LaneClass::Alert, 3),
            RecordKind::Event,
            50_000 + i,
            warn_cs.id,
            0,
            &v,
        );
    }

    // v1.3: records of thread 4242 after its id went to process 5000,
    // and of a thread no identity names.
    for (t, thread) in [(60_000, 4242), (60_001, 4243), (60_002, 31337)] {
        let mut h = head(RecordKind::Event, T0 + t, 0, 0, 0);
        h.thread = thread;
        ring.write(LaneClass::Main, 1, &h, &[]);
    }
    drop(ring);

    // What no well-behaved writer leaves: patch the bytes.
    let mut bytes = std::fs::read(path).unwrap();
    let word = |b: &mut Vec<u8>, off: u64, v: u64| {
        b[off as usize..off as usize + 8].copy_from_slice(&v.to_le_bytes())
    };
    // Lane 2: two writers claimed a slot each and stopped after the first
    // stamp; one long ago (abandoned), one moments ago (pending).
    let lane2 = g.lanes_offset() + 2 * u64::from(LANE_HEADER_SIZE);
    word(&mut bytes, lane2, 6);
    let slot = |i: u32, seq: u64| g.lane_slots_offset(i) + seq * u64::from(SLOT_SIZE);
    word(&mut bytes, slot(2, 4), writing_word(4, T0 - 5_000_000_000));
    word(&mut bytes, slot(2, 5), writing_word(5, T0 + 40_000));
    // Lane 3: flip one payload bit of the first record.
    bytes[(slot(3, 0) + 40) as usize] ^= 0x10;
    // Alert lane 3 (lane 7): a writer claimed sequence 20 and died before
    // stamping it, so sequences 5 to 20 are held: 5 is the continuation of
    // a lapped head, and 7's slot was overwritten by a later lap (23).
    let lane7 = g.lanes_offset() + 7 * u64::from(LANE_HEADER_SIZE);
    word(&mut bytes, lane7, 21);
    word(
        &mut bytes,
        slot(7, 7),
        u64::from(caro_format::slot::stamp(
            23,
            caro_format::slot::SlotState::Head,
        )),
    );
    // The dictionary: an entry a killed writer left unfinished, then one
    // damaged after it was committed.
    let dict = g.dict_offset();
    let tail = u64::from_le_bytes(bytes[dict as usize..dict as usize + 8].try_into().unwrap());
    let mut at = dict + g.dict_log_offset() + tail;
    let half = caro_format::dictionary::encode_string("half written");
    let damaged = caro_format::dictionary::encode_string("damaged");
    for (entry, first) in [
        (&half, half.writing_word()),
        (&damaged, damaged.committed_word()),
    ] {
        word(&mut bytes, at, first);
        for (i, w) in entry.words.iter().enumerate().skip(1) {
            word(&mut bytes, at + 8 * i as u64, *w);
        }
        at += 8 * entry.words.len() as u64;
    }
    bytes[(at - 3) as usize] ^= 0x40;
    word(&mut bytes, dict, at - dict - g.dict_log_offset());
    // Identity 5 (entry 0): its writer died after the writing stamp.
    let entry = |seq: u64| g.ids_offset() + IDS_HEADER_SIZE + (seq % 5) * 48;
    word(&mut bytes, entry(5), caro_format::identity::writing_word(5));
    // Identity 4 (entry 4): a bit of its pid flipped.
    bytes[(entry(4) + 8) as usize] ^= 2;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn encoder_output_matches_the_golden_ring() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.3.ring");
    make_golden(&path);
    let bytes = std::fs::read(&path).unwrap();
    let text = caro_format::text::canonical_text(&caro_format::decode(&bytes).unwrap());
    let golden = golden_dir();
    if std::env::var_os("CARO_UPDATE_GOLDEN").is_some() {
        std::fs::write(golden.join("v1.3.ring"), &bytes).unwrap();
        std::fs::write(golden.join("v1.3.txt"), &text).unwrap();
    }
    let expected = std::fs::read(golden.join("v1.3.ring"))
        .expect("golden ring missing: run with CARO_UPDATE_GOLDEN=1");
    assert!(
        bytes == expected,
        "the encoder's bytes drifted from format-spec/golden/v1.3.ring"
    );
    let expected_text = std::fs::read_to_string(golden.join("v1.3.txt")).unwrap();
    assert_eq!(
        text, expected_text,
        "the decoding drifted from format-spec/golden/v1.3.txt"
    );
}

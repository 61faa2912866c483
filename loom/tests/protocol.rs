//! Every interleaving (up to a bound of preemptions) of writers racing on one
//! slot — lapping each other, with and without continuations — and a
//! reader running beside them: the reader returns only whole records some
//! writer published, and accounts for every slot claimed exactly once, as
//! a record, lost to a lap, unfinished or damaged. The same for the
//! identity table's entries (SPEC.md §10), claimed and committed alike.
#![cfg(loom)]

use caro_format::decode::{decode_lane, Lane};
use caro_format::identity::Identities;
use caro_format::layout::{IdentityEntry, SlotStamp, IDENTITY_SIZE};
use caro_format::slot::{RecordHead, RecordKind};
use caro_format::{LaneClass, LaneStats, Record, Value, ValueWriter};
use caro_loom::commit::{write_identity, write_record, IdentityWords, LaneWords};
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;

/// A lane of `1 << log2` slots after its head word.
fn lane_words(log2: u32) -> (Arc<Vec<AtomicU64>>, LaneWords) {
    let words = (0..1 + (8 << log2)).map(|_| AtomicU64::new(0)).collect();
    let lane = LaneWords {
        head: 0,
        slots: 1,
        mask: (1 << log2) - 1,
    };
    (Arc::new(words), lane)
}

/// Record `n` of writer `writer`: its values say who wrote it, and with
/// `wide` it takes a continuation slot too.
fn write(words: &[AtomicU64], lane: LaneWords, writer: u32, n: u64, wide: bool) {
    let mut v = ValueWriter::new();
    v.u64(0, n);
    if wide {
        for f in 1..4 {
            v.u64(f, n * 100 + f as u64);
        }
    }
    let head = RecordHead {
        time_ns: 1_000 + n,
        callsite: 7,
        span: 0,
        thread: writer,
        kind: RecordKind::Event.code(),
        flags: 0,
    };
    write_record(words, lane, &head, v.padded(), v.bytes().len());
}

/// What a reader gets: the lane's head, then its slots, loaded word by
/// word as a reader copying the file would, and decoded.
fn read(words: &[AtomicU64], log2: u32) -> (Vec<Record>, LaneStats, u64) {
    let head = words[0].load(Ordering::Acquire);
    let bytes: Vec<u8> = words[1..]
        .iter()
        .flat_map(|w| w.load(Ordering::Acquire).to_le_bytes())
        .collect();
    let lane = Lane {
        index: 0,
        class: LaneClass::Main,
        head,
        slots_log2: log2,
        slots_offset: 0,
    };
    let (records, stats) = decode_lane(&lane, &bytes);
    (records, stats, head)
}

/// Every record is one a writer wrote, whole.
fn all_published(records: &[Record], wide: bool) {
    for r in records {
        let Value::U64(n) = r.values[0].value else {
            panic!("a record with no writer's number: {r:?}")
        };
        assert_eq!(r.time_ns, 1_000 + n, "{r:?}");
        assert_eq!(u64::from(r.thread), n / 10, "{r:?}");
        let expected = if wide { 4 } else { 1 };
        assert_eq!(r.values.len(), expected, "{r:?}");
        for v in &r.values[1..] {
            let f = u64::from(v.field);
            assert_eq!(v.value, Value::U64(n * 100 + f), "{r:?}");
        }
    }
}

/// Slots read as records, lost, unfinished or damaged: every one claimed.
fn accounted(records: &[Record], stats: &LaneStats, slots_each: u64) -> u64 {
    records.len() as u64 * slots_each
        + stats.lost_to_laps
        + stats.pending
        + stats.abandoned
        + stats.corrupt
}

/// `writers` threads each writing `records_each` records into a lane of
/// `1 << log2` slots; with `reader`, a reader reads beside them. Every
/// interleaving with up to `preemptions` preemptions is run.
fn model(log2: u32, writers: u32, records_each: u64, wide: bool, reader: bool, preemptions: usize) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    builder.check(move || {
        let (words, lane) = lane_words(log2);
        let threads: Vec<_> = (1..=writers)
            .map(|w| {
                let words = Arc::clone(&words);
                loom::thread::spawn(move || {
                    for k in 0..records_each {
                        write(&words, lane, w, u64::from(w) * 10 + k, wide);
                    }
                })
            })
            .collect();
        let slots_each = if wide { 2 } else { 1 };
        if reader {
            // Beside the writers: whole records only, every slot it saw
            // claimed accounted for.
            let (records, stats, head) = read(&words, log2);
            all_published(&records, wide);
            assert_eq!(accounted(&records, &stats, slots_each), head, "{stats:?}");
        }
        for t in threads {
            t.join().unwrap();
        }
        // Once the writers are done: still only whole records, and every
        // claimed slot accounted for. Writers racing on one slot (the
        // lane lapped within a single record's write) can leave it holding
        // the older sequence (counted unfinished) or a mix of both
        // records, which the checksum refuses (counted damaged): either
        // way a loss the reader counts, never a record it returns.
        let (records, stats, head) = read(&words, log2);
        all_published(&records, wide);
        assert_eq!(head, u64::from(writers) * records_each * slots_each);
        assert_eq!(accounted(&records, &stats, slots_each), head, "{stats:?}");
        assert!(records.len() as u64 * slots_each <= head.min(1 << log2));
    });
}

// Each model is as small as shows its race: a reader's loads multiply
// the interleavings loom explores, so the reader runs beside one writer,
// and writers race each other with the reader after them.

#[test]
fn writers_racing_on_one_slot() {
    model(0, 2, 1, false, false, 3);
}

#[test]
fn records_with_a_continuation_racing_on_two_slots() {
    model(1, 2, 1, true, false, 1);
}

#[test]
fn a_reader_beside_a_writer() {
    model(0, 1, 1, false, true, 3);
}

#[test]
fn a_reader_beside_a_writer_lapping_itself() {
    model(0, 1, 2, false, true, 3);
}

/// Identity `w` as writer `w` writes it: every field says who wrote it.
fn identity_of(w: u32) -> IdentityEntry {
    IdentityEntry {
        pid: w,
        tid: w * 10,
        started_ns: u64::from(w) * 100,
        since_ns: u64::from(w) * 1_000,
        version: u64::from(w),
        stamp: SlotStamp { stamp: 0, check: 0 },
        reserved: 0,
    }
}

/// What a reader of the identity table gets, loaded word by word.
fn read_identities(words: &[AtomicU64]) -> Identities {
    let bytes: Vec<u8> = words
        .iter()
        .flat_map(|w| w.load(Ordering::Acquire).to_le_bytes())
        .collect();
    Identities::parse(&bytes)
}

/// Only whole identities some writer wrote, and every claimed one
/// accounted for: held, lost to a lap, unfinished or damaged.
fn identities_sound(ids: &Identities) {
    for id in &ids.held {
        let w = id.pid;
        assert_eq!(
            (id.tid, id.started_ns, id.since_ns, id.version),
            (
                w * 10,
                u64::from(w) * 100,
                u64::from(w) * 1_000,
                u64::from(w)
            ),
            "{ids:?}"
        );
    }
    assert_eq!(
        ids.held.len() as u64 + ids.lost_to_laps + ids.unfinished + ids.corrupt,
        ids.claimed,
        "{ids:?}"
    );
}

/// `writers` threads each writing one identity into a table of
/// `capacity` entries (one: every writer after the first laps it); with
/// `reader`, a reader reads beside them.
fn identity_model(capacity: u64, writers: u32, reader: bool, preemptions: usize) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    builder.check(move || {
        let entry_words = IDENTITY_SIZE as usize / 8;
        let words: Arc<Vec<AtomicU64>> = Arc::new(
            (0..2 + entry_words * capacity as usize)
                .map(|_| AtomicU64::new(0))
                .collect(),
        );
        let table = IdentityWords {
            tail: 0,
            entries: 2,
            capacity,
        };
        let threads: Vec<_> = (1..=writers)
            .map(|w| {
                let words = Arc::clone(&words);
                loom::thread::spawn(move || write_identity(&words, table, &identity_of(w)))
            })
            .collect();
        if reader {
            let ids = read_identities(&words);
            identities_sound(&ids);
            if u64::from(writers) <= capacity {
                // Nothing laps: an entry is unfinished or whole, never a
                // mixture the checksum has to catch.
                assert_eq!(ids.corrupt, 0, "{ids:?}");
            }
        }
        for t in threads {
            t.join().unwrap();
        }
        let ids = read_identities(&words);
        identities_sound(&ids);
        assert_eq!(ids.claimed, u64::from(writers));
    });
}

#[test]
fn a_reader_beside_an_identity_writer() {
    identity_model(1, 1, true, 3);
}

#[test]
fn identity_writers_racing_on_one_entry() {
    identity_model(1, 2, false, 2);
}

//! One record: a valid, empty ring (the smallest `Geometry` makes) with
//! the fuzzer's bytes written over a few consecutive slots of one lane and
//! that lane's head moved past them, then `caro_format::decode`.
//!
//! The first four input bytes choose the lane, where the slots sit (near
//! sequence 0, near the stamps' 2^30 wrap, or near 2^64), the lane's head,
//! and how the slots are sealed: as given, with their checksum made right,
//! or stamped for their sequence and sealed (so that the fuzzer reaches
//! the payload and value decoding without guessing checksums). The rest
//! is up to eight slots of 64 bytes.
//!
//! The geometry is valid, so decoding must succeed; every slot in the
//! lane's range is counted once (a record of n slots once for all n),
//! records are ordered and lie in their lane's range, and the canonical
//! text renders them without panicking.
#![no_main]

use caro_format::layout::{LANE_HEADER_SIZE, SLOT_SIZE};
use caro_format::slot::{checksum, stamp, SlotState};
use caro_format::{decode, Geometry};
use libfuzzer_sys::fuzz_target;

const CREATED_NS: u64 = 1_764_000_000_000_000_000;
/// Most slots the input writes.
const MAX_SLOTS: usize = 8;

fuzz_target!(|data: &[u8]| {
    let Some((&[mode, lane_sel, place, head_sel], rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let geometry = Geometry::for_size(0);
    let mut file = geometry.initial_bytes(CREATED_NS);
    file.resize(geometry.file_size() as usize, 0);

    let lane = u32::from(lane_sel) % geometry.lane_count();
    let slots = 1u64 << geometry.lane(lane).1;
    let low = u64::from(place & 0x3F);
    let first = match place >> 6 {
        0 => low,
        1 => (1 << 30) - 32 + low,
        2 => slots * 1000 + low,
        _ => u64::MAX - 128 + low,
    };
    let written: Vec<&[u8]> = rest.chunks(SLOT_SIZE as usize).take(MAX_SLOTS).collect();
    let slots_offset = geometry.lane_slots_offset(lane) as usize;
    for (i, bytes) in written.iter().enumerate() {
        let seq = first.wrapping_add(i as u64);
        let at = slots_offset + (seq % slots) as usize * SLOT_SIZE as usize;
        let slot = &mut file[at..at + SLOT_SIZE as usize];
        slot[..bytes.len()].copy_from_slice(bytes);
        let given = u32::from_le_bytes(slot[..4].try_into().unwrap());
        let stamp_word = match (mode >> (2 * (i % 4))) & 3 {
            0 => continue,
            1 => given,
            2 => stamp(seq, state(given)),
            // A record as a writer lays it out: a head, then continuations.
            _ if i == 0 => stamp(seq, SlotState::Head),
            _ => stamp(seq, SlotState::Cont),
        };
        let words: Vec<u64> = slot[8..]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        slot[..4].copy_from_slice(&stamp_word.to_le_bytes());
        slot[4..8].copy_from_slice(&checksum(stamp_word, &words).to_le_bytes());
    }
    // The head: past the slots written, short of them, or a little beyond.
    let head = first.saturating_add(u64::from(head_sel) % (written.len() as u64 + 4));
    let lane_header = geometry.lanes_offset() as usize + (lane * LANE_HEADER_SIZE) as usize;
    file[lane_header..lane_header + 8].copy_from_slice(&head.to_le_bytes());

    let decoded = decode(&file).expect("a valid geometry must decode");
    let in_range = head.min(slots);
    let (lane_info, stats) = &decoded.lanes[lane as usize];
    assert_eq!(lane_info.head, head);
    // Sequences before the oldest held were lost to laps before the range.
    let oldest = head.saturating_sub(slots);
    assert!(stats.lost_to_laps >= oldest);
    let counted = [
        stats.records,
        stats.lost_to_laps - oldest,
        stats.abandoned,
        stats.pending,
        stats.corrupt,
        stats.unknown_kinds,
    ]
    .iter()
    .sum::<u64>();
    assert!(
        counted <= in_range && counted * 4 >= in_range,
        "{counted} slots counted of {in_range}: {stats:?}"
    );
    for (l, s) in &decoded.lanes {
        if l.index != lane as usize {
            assert_eq!(*s, Default::default());
        }
    }
    for r in &decoded.records {
        assert_eq!(r.lane, lane as usize);
        assert!(
            r.seq >= oldest && r.seq < head,
            "record at {} of [{oldest}, {head})",
            r.seq
        );
        assert!(r.values.len() <= caro_format::value::MAX_FIELDS);
    }
    assert!(decoded
        .records
        .windows(2)
        .all(|w| (w[0].time_ns, w[0].lane, w[0].seq) < (w[1].time_ns, w[1].lane, w[1].seq)));
    let _ = caro_format::text::canonical_text(&decoded);
});

fn state(stamp: u32) -> SlotState {
    caro_format::slot::stamp_state(stamp)
}

//! Slot stamps, the slot checksum and record kinds: the commit protocol's
//! vocabulary, shared by the writer and the reader.

use crate::layout::{CONT_PAYLOAD, HEAD_PAYLOAD, MAX_CONT, MAX_PAYLOAD};

/// Slot state, the low two bits of a stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotState {
    /// Claimed and never stamped (or never claimed at all).
    Empty = 0,
    /// A writer is writing it, or was killed while writing it.
    Writing = 1,
    /// The first slot of a committed record.
    Head = 2,
    /// A committed continuation of the record before it.
    Cont = 3,
}

/// Sequence numbers are stored modulo 2^30 in a stamp.
pub const SEQ_BITS: u32 = 30;
pub const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

/// The stamp of sequence `seq` in `state`.
#[inline(always)]
pub const fn stamp(seq: u64, state: SlotState) -> u32 {
    (((seq & SEQ_MASK) as u32) << 2) | state as u32
}

/// A writing stamp's check field holds the writer's time in units of
/// 2^20 ns (about a millisecond): enough for a reader to tell a write in
/// progress from one a killed writer abandoned long ago.
pub const WRITING_TIME_SHIFT: u32 = 20;
/// A write this many units of 2^20 ns from the newest record (about a
/// second) may still be in progress.
pub const WRITING_RECENT: u32 = 954;

/// The stamp word a writer opens slot `seq` with, at `time_ns`.
#[inline(always)]
pub const fn writing_word(seq: u64, time_ns: u64) -> u64 {
    stamp(seq, SlotState::Writing) as u64 | ((time_ns >> WRITING_TIME_SHIFT) as u32 as u64) << 32
}

/// Whether a writing stamp's coarse time `t` is within about a second of
/// `newest_ns`, either side.
pub const fn writing_is_recent(t: u32, newest_ns: u64) -> bool {
    let d = ((newest_ns >> WRITING_TIME_SHIFT) as u32).wrapping_sub(t);
    d <= WRITING_RECENT || d >= 0u32.wrapping_sub(WRITING_RECENT)
}

/// The state bits of a stamp.
pub const fn stamp_state(stamp: u32) -> SlotState {
    match stamp & 3 {
        0 => SlotState::Empty,
        1 => SlotState::Writing,
        2 => SlotState::Head,
        _ => SlotState::Cont,
    }
}

/// How a stamp's sequence relates to the sequence a reader expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqOrder {
    Same,
    /// Written by a later lap: the expected record was overwritten.
    Newer,
    /// Left from an earlier lap: the expected record was never stamped.
    Older,
}

/// Compares the sequence in `stamp` with `expected`, modulo 2^30.
pub const fn seq_order(stamp: u32, expected: u64) -> SeqOrder {
    let got = (stamp >> 2) as u64;
    let d = got.wrapping_sub(expected & SEQ_MASK) & SEQ_MASK;
    if d == 0 {
        SeqOrder::Same
    } else if d < (1 << (SEQ_BITS - 1)) {
        SeqOrder::Newer
    } else {
        SeqOrder::Older
    }
}

/// Odd multipliers of the checksum, one for the stamp and one per word
/// position modulo 7.
pub const CHECK_MULTIPLIERS: [u64; 8] = [
    0x9E37_79B9_7F4A_7C15,
    0xBF58_476D_1CE4_E5B9,
    0x94D0_49BB_1331_11EB,
    0xD6E8_FEB8_6659_FD93,
    0xA076_1D64_78BD_642F,
    0xE703_7ED1_A0B4_28DB,
    0x8EBC_6AF0_9C88_C6E3,
    0x5899_65CC_7537_4CC3,
];

/// The checksum of a slot or dictionary entry: its stamp and the words
/// after its first. Independent multiplies keep the writer's cost to a few
/// nanoseconds; it catches torn and stale slots, not adversaries.
#[inline(always)]
pub fn checksum(stamp: u32, words: &[u64]) -> u32 {
    let mut acc = (u64::from(stamp) + 1).wrapping_mul(CHECK_MULTIPLIERS[0]);
    for (i, w) in words.iter().enumerate() {
        acc = acc.wrapping_add((w ^ i as u64).wrapping_mul(CHECK_MULTIPLIERS[1 + i % 7]));
    }
    ((acc >> 32) as u32) ^ (acc as u32)
}

/// Record kinds, the `kind` byte of a head slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Event,
    SpanNew,
    SpanEnter,
    SpanExit,
    SpanClose,
    SpanRecord,
    ProcessStart,
    ProcessExit,
    Panic,
    /// Since v1.1: a thread's first record (again after a fork) names its
    /// process, so that readers group threads by process.
    ThreadStart,
}

impl RecordKind {
    pub const ALL: [RecordKind; 10] = [
        RecordKind::Event,
        RecordKind::SpanNew,
        RecordKind::SpanEnter,
        RecordKind::SpanExit,
        RecordKind::SpanClose,
        RecordKind::SpanRecord,
        RecordKind::ProcessStart,
        RecordKind::ProcessExit,
        RecordKind::Panic,
        RecordKind::ThreadStart,
    ];

    pub const fn code(self) -> u8 {
        match self {
            RecordKind::Event => 1,
            RecordKind::SpanNew => 2,
            RecordKind::SpanEnter => 3,
            RecordKind::SpanExit => 4,
            RecordKind::SpanClose => 5,
            RecordKind::SpanRecord => 6,
            RecordKind::ProcessStart => 7,
            RecordKind::ProcessExit => 8,
            RecordKind::Panic => 9,
            RecordKind::ThreadStart => 10,
        }
    }

    pub fn from_code(code: u8) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The kind's name in the canonical text form.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Event => "EVENT",
            RecordKind::SpanNew => "SPAN_NEW",
            RecordKind::SpanEnter => "SPAN_ENTER",
            RecordKind::SpanExit => "SPAN_EXIT",
            RecordKind::SpanClose => "SPAN_CLOSE",
            RecordKind::SpanRecord => "SPAN_RECORD",
            RecordKind::ProcessStart => "PROCESS_START",
            RecordKind::ProcessExit => "PROCESS_EXIT",
            RecordKind::Panic => "PANIC",
            RecordKind::ThreadStart => "THREAD_START",
        }
    }

    /// The level of the kinds that have one of their own, whatever their
    /// callsite: PANIC at ERROR, process start and exit and thread start
    /// at INFO. The others are at their callsite's level.
    pub fn own_level(self) -> Option<crate::dictionary::Level> {
        use crate::dictionary::Level;
        match self {
            RecordKind::Panic => Some(Level::Error),
            RecordKind::ProcessStart | RecordKind::ProcessExit | RecordKind::ThreadStart => {
                Some(Level::Info)
            }
            _ => None,
        }
    }

    /// Field names of the kinds whose values are positional rather than
    /// named by a callsite.
    pub fn builtin_fields(self) -> &'static [&'static str] {
        match self {
            RecordKind::ProcessStart => &["pid", "version"],
            RecordKind::ProcessExit => &[
                "pid",
                "cpu_user_us",
                "cpu_system_us",
                "peak_rss_kib",
                "open_fds",
                "wall_us",
                "status",
            ],
            RecordKind::Panic => &["file", "line", "column"],
            RecordKind::ThreadStart => &["pid"],
            _ => &[],
        }
    }
}

/// Head-slot flag: the record ran out of room and some values are missing.
pub const FLAG_VALUES_TRUNCATED: u8 = 1;

/// A head's flags for a record that left out `left_out` values: bit 0 set
/// when any was, and (since v1.2) bits 1 to 7 their number, up to 127.
#[inline(always)]
pub fn record_flags(left_out: u8) -> u8 {
    if left_out == 0 {
        0
    } else {
        FLAG_VALUES_TRUNCATED | left_out.min(127) << 1
    }
}

/// Continuation slots needed for `len` payload bytes.
#[inline(always)]
pub const fn continuations_for(len: usize) -> usize {
    if len <= HEAD_PAYLOAD {
        0
    } else {
        (len - HEAD_PAYLOAD).div_ceil(CONT_PAYLOAD)
    }
}

/// The fields of a record's head slot other than its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHead {
    pub time_ns: u64,
    pub callsite: u64,
    pub span: u32,
    pub thread: u32,
    pub kind: u8,
    pub flags: u8,
}

/// A record's payload, zero-padded to the most a record can carry.
pub type PaddedPayload = [u8; MAX_PAYLOAD];

#[inline(always)]
fn word_at(p: &PaddedPayload, off: usize) -> u64 {
    u64::from_le_bytes([
        p[off],
        p[off + 1],
        p[off + 2],
        p[off + 3],
        p[off + 4],
        p[off + 5],
        p[off + 6],
        p[off + 7],
    ])
}

/// The words of a record's head slot at sequence `seq`, stamped and
/// checksummed: what a writer stores. `payload` holds `len` bytes.
#[inline(always)]
pub fn head_slot(head: &RecordHead, payload: &PaddedPayload, len: usize, seq: u64) -> [u64; 8] {
    let first = u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]);
    let mut w = [
        0,
        head.time_ns,
        head.callsite,
        u64::from(head.span) | u64::from(head.thread) << 32,
        u64::from(head.kind)
            | u64::from(head.flags) << 8
            | (continuations_for(len) as u64) << 16
            | (len as u64) << 24
            | u64::from(first) << 32,
        word_at(payload, 4),
        word_at(payload, 12),
        word_at(payload, 20),
    ];
    seal(&mut w, stamp(seq, SlotState::Head));
    w
}

/// The words of continuation `c` (0-based) of a record whose head is at
/// sequence `seq`, stamped and checksummed.
#[inline(always)]
pub fn cont_slot(payload: &PaddedPayload, c: usize, seq: u64) -> [u64; 8] {
    let base = HEAD_PAYLOAD + c * CONT_PAYLOAD;
    let mut w = [0u64; 8];
    for (i, word) in w.iter_mut().enumerate().skip(1) {
        *word = word_at(payload, base + (i - 1) * 8);
    }
    seal(&mut w, stamp(seq + 1 + c as u64, SlotState::Cont));
    w
}

/// The slots of one record, for writers that hold its payload as a slice
/// (tests, tools); the recorder uses [`head_slot`] and [`cont_slot`].
#[derive(Clone, Copy, Debug)]
pub struct SlotImages {
    pub slots: [[u64; 8]; 1 + MAX_CONT],
    pub count: usize,
}

impl SlotImages {
    /// Lays out `head` and `payload` (at most [`MAX_PAYLOAD`] bytes; more
    /// is cut) as slots starting at sequence `seq`.
    pub fn new(head: &RecordHead, payload: &[u8], seq: u64) -> SlotImages {
        let len = payload.len().min(MAX_PAYLOAD);
        let mut padded = [0u8; MAX_PAYLOAD];
        padded[..len].copy_from_slice(&payload[..len]);
        let count = 1 + continuations_for(len);
        let mut slots = [[0; 8]; 1 + MAX_CONT];
        slots[0] = head_slot(head, &padded, len, seq);
        for (c, slot) in slots.iter_mut().enumerate().take(count).skip(1) {
            *slot = cont_slot(&padded, c - 1, seq);
        }
        SlotImages { slots, count }
    }

    pub fn as_slice(&self) -> &[[u64; 8]] {
        &self.slots[..self.count]
    }
}

#[inline(always)]
fn seal(words: &mut [u64; 8], stamp: u32) {
    let check = checksum(stamp, &words[1..]);
    words[0] = u64::from(stamp) | u64::from(check) << 32;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_order_wraps_modulo_2_30() {
        let s = stamp(5, SlotState::Head);
        assert_eq!(seq_order(s, 5), SeqOrder::Same);
        assert_eq!(seq_order(s, 5 + (1 << 30)), SeqOrder::Same);
        assert_eq!(seq_order(s, 4), SeqOrder::Newer);
        assert_eq!(seq_order(s, 6), SeqOrder::Older);
        let top = stamp((1 << 30) - 1, SlotState::Head);
        assert_eq!(seq_order(top, 1 << 30), SeqOrder::Older);
        assert_eq!(
            seq_order(stamp(1 << 30, SlotState::Head), (1 << 30) - 1),
            SeqOrder::Newer
        );
    }

    #[test]
    fn checksum_depends_on_stamp_position_and_value() {
        let words = [1u64, 2, 3, 4, 5, 6, 7];
        let base = checksum(8, &words);
        assert_ne!(base, checksum(12, &words));
        let mut swapped = words;
        swapped.swap(0, 1);
        assert_ne!(base, checksum(8, &swapped));
        let mut flipped = words;
        flipped[6] ^= 1 << 40;
        assert_ne!(base, checksum(8, &flipped));
    }

    #[test]
    fn continuation_count_covers_payload() {
        assert_eq!(continuations_for(0), 0);
        assert_eq!(continuations_for(HEAD_PAYLOAD), 0);
        assert_eq!(continuations_for(HEAD_PAYLOAD + 1), 1);
        assert_eq!(continuations_for(HEAD_PAYLOAD + CONT_PAYLOAD), 1);
        assert_eq!(continuations_for(crate::layout::MAX_PAYLOAD), MAX_CONT);
    }
}

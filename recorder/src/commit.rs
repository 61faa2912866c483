//! The slot protocol's writer side (SPEC.md §6): claim a record's slots
//! with one atomic add on the lane's head, stamp them *writing*, fill
//! them, then commit the continuations and last the head slot. A reader
//! that finds a committed head finds the whole record, or a checksum that
//! tells it the record was overtaken by a later lap while it read. The
//! identity table (SPEC.md §10) is claimed and committed the same way.
//!
//! It depends on nothing but the format and [`crate::sync`]'s atomics, so
//! that `loom/` model-checks this very file with loom's.

use caro_format::identity::{self, entry_words};
use caro_format::layout::{IdentityEntry, IDENTITY_SIZE};
use caro_format::slot::{
    cont_slot, continuations_for, head_slot, writing_word, PaddedPayload, RecordHead,
};

use crate::sync::{fence, AtomicU64, Ordering};

/// Where a lane's words are: its head counter and its slots.
#[derive(Clone, Copy, Debug)]
pub struct LaneWords {
    /// Word index of the lane header's `head`.
    pub head: usize,
    /// Word index of slot 0.
    pub slots: usize,
    /// Slots in the lane, minus one (a power of two).
    pub mask: u64,
}

/// Writes one record, whose payload holds `len` bytes, into `lane` of the
/// ring whose words are `words`; returns the sequence of its head slot
/// and the slots it took. Never blocks, never fails.
#[inline(always)]
pub fn write_record(
    words: &[AtomicU64],
    lane: LaneWords,
    head: &RecordHead,
    payload: &PaddedPayload,
    len: usize,
) -> (u64, u32) {
    let cont = continuations_for(len);
    let seq = words[lane.head].fetch_add(1 + cont as u64, Ordering::Relaxed);
    let at = |i: usize| lane.slots + (((seq + i as u64) & lane.mask) as usize) * 8;
    for i in 0..=cont {
        words[at(i)].store(
            writing_word(seq + i as u64, head.time_ns),
            Ordering::Relaxed,
        );
    }
    // Readers that see any of the words below also see the stamps above.
    fence(Ordering::Release);
    let store = |base: usize, image: &[u64; 8]| {
        for (w, &v) in image.iter().enumerate().skip(1) {
            words[base + w].store(v, Ordering::Relaxed);
        }
    };
    let head_image = head_slot(head, payload, len, seq);
    store(at(0), &head_image);
    // Continuations are committed before the head: a committed head
    // means a complete record.
    for c in 0..cont {
        let image = cont_slot(payload, c, seq);
        store(at(1 + c), &image);
        words[at(1 + c)].store(image[0], Ordering::Release);
    }
    words[at(0)].store(head_image[0], Ordering::Release);
    (seq, 1 + cont as u32)
}

/// Where the identity table's words are.
#[derive(Clone, Copy, Debug)]
pub struct IdentityWords {
    /// Word index of the table's claim counter, `tail`.
    pub tail: usize,
    /// Word index of entry 0.
    pub entries: usize,
    /// Entries in the table (at least 1).
    pub capacity: u64,
}

/// Writes `entry` (its stamp ignored) as the next identity of `table`;
/// returns its number. Never blocks, never fails.
pub fn write_identity(words: &[AtomicU64], table: IdentityWords, entry: &IdentityEntry) -> u64 {
    let seq = words[table.tail].fetch_add(1, Ordering::Relaxed);
    let base = table.entries + ((seq % table.capacity) * IDENTITY_SIZE) as usize / 8;
    let image = entry_words(seq, entry);
    words[base].store(identity::writing_word(seq), Ordering::Relaxed);
    // Readers that see any of the words below also see the stamp above.
    fence(Ordering::Release);
    for (i, &w) in image.iter().enumerate().skip(1) {
        words[base + i].store(w, Ordering::Relaxed);
    }
    words[base].store(image[0], Ordering::Release);
    seq
}

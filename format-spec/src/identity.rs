//! The identity table (SPEC.md section 10, since v1.3): which process each
//! thread id belonged to, kept apart from the lanes so that it outlives
//! their laps. Writers build entries with [`entry_words`]; readers parse
//! the table with [`Identities::parse`] and resolve records with
//! [`Identities::resolver`].

use std::collections::HashMap;

use bytemuck::pod_read_unaligned;

use crate::layout::{IdentityEntry, IdsHeader, IDENTITY_SIZE, IDS_HEADER_SIZE};
use crate::slot::{checksum, seq_order, stamp, stamp_state, SeqOrder, SlotState};

/// One held identity: a thread of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Its number in the table (the claim counter's value).
    pub seq: u64,
    pub pid: u32,
    pub tid: u32,
    /// When the process started.
    pub started_ns: u64,
    /// When the identity was written.
    pub since_ns: u64,
    /// Dictionary id of the host's version string; 0 for none.
    pub version: u64,
}

/// What a reader found in the identity table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identities {
    /// Whether the file has a table at all (v1.3 and later).
    pub present: bool,
    /// Entries the table holds.
    pub capacity: u64,
    /// Identities claimed so far.
    pub claimed: u64,
    /// Held identities, by number.
    pub held: Vec<Identity>,
    pub lost_to_laps: u64,
    pub unfinished: u64,
    pub corrupt: u64,
    /// Thread id → indexes into `held`, by `since_ns` then number.
    by_tid: HashMap<u32, Vec<usize>>,
}

/// Entries a table of `size` bytes holds.
pub fn capacity(size: u64) -> u64 {
    size.saturating_sub(IDS_HEADER_SIZE) / IDENTITY_SIZE
}

/// The six words of a committed identity entry numbered `seq`.
pub fn entry_words(seq: u64, e: &IdentityEntry) -> [u64; 6] {
    let mut entry = *e;
    entry.stamp.stamp = stamp(seq, SlotState::Head);
    let mut words: [u64; 6] = bytemuck::cast(entry);
    entry.stamp.check = checksum(entry.stamp.stamp, &words[1..]);
    words[0] = bytemuck::cast(entry.stamp);
    words
}

/// The first word of identity `seq` while it is being written.
pub fn writing_word(seq: u64) -> u64 {
    u64::from(stamp(seq, SlotState::Writing))
}

impl Identities {
    /// Parses the table region `bytes` (the whole `ids_size` bytes).
    pub fn parse(bytes: &[u8]) -> Identities {
        let mut ids = Identities {
            present: true,
            capacity: capacity(bytes.len() as u64),
            ..Identities::default()
        };
        let Some(head) = bytes.get(..IDS_HEADER_SIZE as usize) else {
            return ids;
        };
        let header: IdsHeader = pod_read_unaligned(head);
        ids.claimed = header.tail;
        if ids.capacity == 0 {
            ids.lost_to_laps = header.tail;
            return ids;
        }
        let oldest = header.tail.saturating_sub(ids.capacity);
        ids.lost_to_laps = oldest;
        for q in oldest..header.tail {
            let at = (IDS_HEADER_SIZE + (q % ids.capacity) * IDENTITY_SIZE) as usize;
            let e: IdentityEntry = pod_read_unaligned(&bytes[at..at + IDENTITY_SIZE as usize]);
            let words: [u64; 6] = bytemuck::cast(e);
            match (seq_order(e.stamp.stamp, q), stamp_state(e.stamp.stamp)) {
                (SeqOrder::Newer, _) => ids.lost_to_laps += 1,
                (SeqOrder::Older, _) | (SeqOrder::Same, SlotState::Empty | SlotState::Writing) => {
                    ids.unfinished += 1
                }
                (SeqOrder::Same, SlotState::Head)
                    if checksum(e.stamp.stamp, &words[1..]) == e.stamp.check =>
                {
                    ids.held.push(Identity {
                        seq: q,
                        pid: e.pid,
                        tid: e.tid,
                        started_ns: e.started_ns,
                        since_ns: e.since_ns,
                        version: e.version,
                    })
                }
                _ => ids.corrupt += 1,
            }
        }
        for (i, id) in ids.held.iter().enumerate() {
            ids.by_tid.entry(id.tid).or_default().push(i);
        }
        let held = &ids.held;
        for list in ids.by_tid.values_mut() {
            list.sort_by_key(|&i| (held[i].since_ns, held[i].seq));
        }
        ids
    }

    /// A resolver of records to identities: called with a record's thread
    /// id and time, it returns the index in `held` of the identity the
    /// record resolves to (the latest written not after it, else the
    /// earliest). It remembers the last thread's identities: records in
    /// time order come in runs of one thread, and a hash lookup per record
    /// cost about 4 % of decoding.
    pub fn resolver(&self) -> impl FnMut(u32, u64) -> Option<usize> + '_ {
        let mut last: Option<(u32, Option<&[usize]>)> = None;
        move |tid, time_ns| {
            let list = match last {
                Some((t, list)) if t == tid => list,
                _ => {
                    let list = self.by_tid.get(&tid).map(Vec::as_slice);
                    last = Some((tid, list));
                    list
                }
            }?;
            Some(self.pick(list, time_ns))
        }
    }

    /// Of `list` (one thread's identities, by `since_ns` then number), the
    /// one a record made at `time_ns` resolves to.
    fn pick(&self, list: &[usize], time_ns: u64) -> usize {
        // Identities not after the record come first in `list`.
        let not_after = list.partition_point(|&i| self.held[i].since_ns <= time_ns);
        match not_after {
            0 => {
                // Every one is after the record: the earliest, ties to the
                // larger number.
                let first = self.held[list[0]].since_ns;
                let ties = list.partition_point(|&i| self.held[i].since_ns == first);
                list[ties - 1]
            }
            n => list[n - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::SlotStamp;

    fn entry(pid: u32, tid: u32, since_ns: u64) -> IdentityEntry {
        IdentityEntry {
            stamp: SlotStamp { stamp: 0, check: 0 },
            pid,
            tid,
            started_ns: 1,
            since_ns,
            version: 0,
            reserved: 0,
        }
    }

    fn table(capacity: u64, tail: u64, entries: &[(u64, IdentityEntry)]) -> Vec<u8> {
        let mut bytes = vec![0u8; (IDS_HEADER_SIZE + capacity * IDENTITY_SIZE) as usize];
        bytes[..8].copy_from_slice(&tail.to_le_bytes());
        for (q, e) in entries {
            let at = (IDS_HEADER_SIZE + (q % capacity) * IDENTITY_SIZE) as usize;
            let words = entry_words(*q, e);
            bytes[at..at + 48].copy_from_slice(bytemuck::bytes_of(&words));
        }
        bytes
    }

    #[test]
    fn a_reused_thread_id_resolves_by_time() {
        let bytes = table(
            8,
            3,
            &[
                (0, entry(10, 7, 100)),
                (1, entry(20, 7, 200)),
                (2, entry(30, 8, 150)),
            ],
        );
        let ids = Identities::parse(&bytes);
        assert_eq!(ids.held.len(), 3);
        let mut resolve = ids.resolver();
        let mut pid = |tid, t| resolve(tid, t).map(|i| ids.held[i].pid);
        assert_eq!(pid(7, 150), Some(10));
        assert_eq!(pid(7, 200), Some(20));
        assert_eq!(pid(7, 50), Some(10), "before every identity: the earliest");
        assert_eq!(pid(8, 10), Some(30));
        assert_eq!(pid(9, 150), None);
    }

    #[test]
    fn laps_and_damage_are_counted_not_guessed() {
        let mut bytes = table(2, 5, &[(3, entry(1, 1, 1)), (4, entry(2, 2, 2))]);
        assert_eq!(Identities::parse(&bytes).held.len(), 2);
        // A bit flipped in entry 4's pid.
        bytes[16 + 48 + 8] ^= 1;
        let ids = Identities::parse(&bytes);
        assert_eq!((ids.held.len(), ids.corrupt, ids.lost_to_laps), (1, 1, 3));
        // Claimed, never written.
        let ids = Identities::parse(&table(4, 2, &[(0, entry(1, 1, 1))]));
        assert_eq!((ids.held.len(), ids.unfinished), (1, 1));
    }
}

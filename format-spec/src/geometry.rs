//! The shape of a new ring: where its regions go and what its first bytes
//! are. Writers call [`Geometry::initial_bytes`] once, when they create a file.

use crate::layout::*;

/// The shape of a ring file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Bytes of the whole file: at least the end of its last lane.
    pub file_size: u64,
    /// Bytes of the dictionary region (a multiple of 4096).
    pub dict_size: u64,
    /// Slots of the writers' dedup index (a power of two).
    pub index_len: u32,
    /// Bytes of the identity table (a multiple of 4096; 0 for none).
    pub ids_size: u64,
    /// Each lane's slots as a power of two, main lanes first.
    pub lane_log2: [u8; MAX_LANES as usize],
    pub main_lanes: u32,
    pub lane_count: u32,
}

/// Turns at the lane that a writer takes before it has lapped it, and so
/// the share of a class (1/32) the newest records may leave unused.
pub const TURNS_PER_LAP: u64 = 32;

/// Smallest bytes a ring is made with.
pub const MIN_RING_SIZE: u64 = 256 << 10;

impl Geometry {
    /// The geometry of a file of exactly `bytes` (rounded down to 4096, at
    /// least [`MIN_RING_SIZE`]): a dictionary of 1/16 (64 KiB to 1 MiB), an
    /// identity table of one entry per 16 slots, and slots, three quarters
    /// of them for `main` (SPEC.md section 11).
    pub fn for_size(bytes: u64) -> Geometry {
        let file_size = (bytes.max(MIN_RING_SIZE) & !4095).min(1 << 40);
        let dict_size = (file_size / 16).clamp(64 << 10, 1 << 20) & !4095;
        // Header page, dictionary, lane headers' page.
        let fixed = u64::from(HEADER_SIZE) + dict_size + 4096;
        // Each 16 slots cost 1024 bytes and one identity entry.
        let groups = (file_size - fixed) / (16 * u64::from(SLOT_SIZE) + IDENTITY_SIZE);
        let ids_size = (IDS_HEADER_SIZE + groups * IDENTITY_SIZE).div_ceil(4096) * 4096;
        let slots = (file_size - fixed - ids_size) / u64::from(SLOT_SIZE);
        let mut g = Geometry {
            file_size,
            dict_size,
            index_len: (dict_size / 128).next_power_of_two().min(8192) as u32,
            ids_size,
            lane_log2: [0; MAX_LANES as usize],
            main_lanes: 0,
            lane_count: 0,
        };
        let main = slots * 3 / 4;
        g.main_lanes = g.split(main);
        g.split(slots - main);
        g
    }

    /// `lanes_per_class` lanes of each class, of `2^main_slots_log2` and
    /// `2^alert_slots_log2` slots, and no identity table: the geometry of
    /// older writers, and of tests that want a small, regular ring.
    pub fn uniform(
        lanes_per_class: u32,
        main_slots_log2: u32,
        alert_slots_log2: u32,
        dict_size: u64,
        index_len: u32,
    ) -> Geometry {
        let mut g = Geometry {
            file_size: 0,
            dict_size,
            index_len,
            ids_size: 0,
            lane_log2: [0; MAX_LANES as usize],
            main_lanes: lanes_per_class,
            lane_count: 2 * lanes_per_class,
        };
        for i in 0..lanes_per_class as usize {
            g.lane_log2[i] = main_slots_log2 as u8;
            g.lane_log2[lanes_per_class as usize + i] = alert_slots_log2 as u8;
        }
        g.file_size = g.lane_slots_offset(g.lane_count);
        g
    }

    /// The same geometry with an identity table of about `bytes` (rounded
    /// up to 64), for tests that want a small one.
    pub fn with_identities(mut self, bytes: u64) -> Geometry {
        self.ids_size = bytes.max(64).div_ceil(64) * 64;
        self.file_size = self.lane_slots_offset(self.lane_count);
        self
    }

    /// Appends lanes for `slots` slots of one class: four to seven of the
    /// largest power of two, then one of each smaller power the rest
    /// holds, down to 1/512 of the largest (and 128 slots); returns how
    /// many: at least one, as [`MIN_RING_SIZE`] leaves every class more
    /// than 128 slots. At most 16 lanes a class.
    fn split(&mut self, slots: u64) -> u32 {
        let largest = (slots / 4)
            .max(1 << MIN_LANE_SLOTS_LOG2)
            .ilog2()
            .min(MAX_LANE_SLOTS_LOG2);
        // A turn at the smallest lane is four slots: a whole record.
        let smallest = largest.saturating_sub(9).max(7).min(largest);
        let before = self.lane_count;
        let mut left = slots;
        for log2 in (smallest..=largest).rev() {
            while left >= 1 << log2 {
                self.lane_log2[self.lane_count as usize] = log2 as u8;
                self.lane_count += 1;
                left = left.saturating_sub(1 << log2);
            }
        }
        self.lane_count - before
    }

    pub fn lane_count(&self) -> u32 {
        self.lane_count
    }

    /// Lane `i`'s class and size: main lanes first, then alert lanes.
    pub fn lane(&self, i: u32) -> (LaneClass, u32) {
        let class = if i < self.main_lanes {
            LaneClass::Main
        } else {
            LaneClass::Alert
        };
        (class, u32::from(self.lane_log2[i as usize]))
    }

    pub fn dict_offset(&self) -> u64 {
        u64::from(HEADER_SIZE)
    }

    /// Offset of the identity table (0 when there is none).
    pub fn ids_offset(&self) -> u64 {
        if self.ids_size == 0 {
            0
        } else {
            self.dict_offset() + self.dict_size
        }
    }

    pub fn lanes_offset(&self) -> u64 {
        self.dict_offset() + self.dict_size + self.ids_size
    }

    /// Offset of the first slot: the lane headers, rounded up to a page.
    pub fn slots_offset(&self) -> u64 {
        (self.lanes_offset() + u64::from(self.lane_count()) * u64::from(LANE_HEADER_SIZE))
            .div_ceil(4096)
            * 4096
    }

    /// Offset of lane `i`'s slot 0.
    pub fn lane_slots_offset(&self, i: u32) -> u64 {
        (0..i).fold(self.slots_offset(), |off, j| {
            off + (u64::from(SLOT_SIZE) << self.lane(j).1)
        })
    }

    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Slots of every lane of `class`.
    pub fn class_slots(&self, class: LaneClass) -> u64 {
        (0..self.lane_count)
            .map(|i| self.lane(i))
            .filter(|(c, _)| *c == class)
            .map(|(_, log2)| 1u64 << log2)
            .sum()
    }

    /// The bytes of everything before the first slot, for a ring created
    /// at `created_ns`; the slots themselves start as zeros.
    pub fn initial_bytes(&self, created_ns: u64) -> Vec<u8> {
        let mut out = vec![0u8; self.slots_offset() as usize];
        let header = FileHeader {
            magic: MAGIC,
            version_major: VERSION_MAJOR,
            version_minor: VERSION_MINOR,
            header_size: HEADER_SIZE,
            slot_size: SLOT_SIZE,
            lane_count: self.lane_count,
            clock: CLOCK_UNIX_NANOS,
            flags: 0,
            file_size: self.file_size(),
            dict_offset: self.dict_offset(),
            dict_size: self.dict_size,
            lanes_offset: self.lanes_offset(),
            created_ns,
            next_span_id: 1,
            next_lane: 0,
            processes: 0,
            dropped: [0; DROP_REASONS],
            writer_private: [0; 4],
            values_left_out: 0,
            ids_offset: self.ids_offset(),
            ids_size: self.ids_size,
            reserved: 0,
        };
        out[..core::mem::size_of::<FileHeader>()].copy_from_slice(bytemuck::bytes_of(&header));
        let dict = DictHeader {
            tail: 0,
            index_len: self.index_len,
            reserved: 0,
        };
        let d = self.dict_offset() as usize;
        out[d..d + 16].copy_from_slice(bytemuck::bytes_of(&dict));
        for i in 0..self.lane_count() {
            let (class, log2) = self.lane(i);
            let lane = LaneHeader {
                head: 0,
                class: class.as_u32(),
                slots_log2: log2,
                slots_offset: self.lane_slots_offset(i),
                reserved: [0; 5],
            };
            let o = self.lanes_offset() as usize + (i * LANE_HEADER_SIZE) as usize;
            out[o..o + LANE_HEADER_SIZE as usize].copy_from_slice(bytemuck::bytes_of(&lane));
        }
        out
    }

    /// Byte offset, inside the dictionary region, where the entry log starts.
    pub fn dict_log_offset(&self) -> u64 {
        16 + 8 * u64::from(self.index_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_is_the_size_asked_a_quarter_for_alerts() {
        for size in [
            256 << 10,
            1 << 20,
            16 << 20,
            64 << 20,
            (64 << 20) + 12345,
            1 << 30,
        ] {
            let g = Geometry::for_size(size);
            assert_eq!(g.file_size(), size & !4095, "{size}");
            assert!(g.lane_slots_offset(g.lane_count()) <= g.file_size());
            let (main, alert) = (
                g.class_slots(LaneClass::Main),
                g.class_slots(LaneClass::Alert),
            );
            let slots_bytes = g.file_size() - g.slots_offset();
            // All but 1/512 of each class, or 128 slots of each.
            let unused = slots_bytes - (main + alert) * u64::from(SLOT_SIZE);
            assert!(
                unused <= (slots_bytes / 256).max(2 * 128 * 64),
                "{size}: {unused} unused"
            );
            assert!(
                (main as f64 / (main + alert) as f64 - 0.75).abs() < 0.02,
                "{size}"
            );
            assert!(g.ids_size / IDENTITY_SIZE >= (main + alert) / 16, "{size}");
            let mut file = g.initial_bytes(5);
            file.resize(g.file_size() as usize, 0);
            let d = crate::decode(&file).unwrap();
            assert_eq!(d.lanes.len() as u32, g.lane_count());
            assert_eq!(d.header.created_ns, 5);
            assert!(d.identities.present && d.identities.held.is_empty());
            assert!(d.records.is_empty());
        }
    }
}

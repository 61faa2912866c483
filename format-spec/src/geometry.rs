//! The shape of a new ring: where its regions go and what its first bytes
//! are. Writers call [`Geometry::initial_bytes`] once, when they create a file.

use crate::layout::*;

/// The shape of a ring file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Lanes in each class; a thread keeps one lane per class.
    pub lanes_per_class: u32,
    /// Slots per main lane, as a power of two.
    pub main_slots_log2: u32,
    /// Slots per alert lane, as a power of two.
    pub alert_slots_log2: u32,
    /// Bytes of the dictionary region (a multiple of 4096).
    pub dict_size: u64,
    /// Slots of the writers' dedup index (a power of two).
    pub index_len: u32,
}

impl Geometry {
    /// The geometry that fits in about `bytes`: a quarter of the slots for
    /// alerts, four lanes a class, a dictionary of 1/16 (64 KiB to 1 MiB).
    pub fn for_size(bytes: u64) -> Geometry {
        let lanes_per_class = 4u32;
        let dict_size = (bytes / 16).clamp(64 << 10, 1 << 20) & !4095;
        let slot_bytes = bytes.saturating_sub(dict_size + 8192);
        let per_main_lane =
            (slot_bytes * 3 / 4) / u64::from(lanes_per_class) / u64::from(SLOT_SIZE);
        let main_slots_log2 = per_main_lane.max(64).ilog2().min(MAX_LANE_SLOTS_LOG2);
        let alert_slots_log2 = main_slots_log2.saturating_sub(2).max(4);
        Geometry {
            lanes_per_class,
            main_slots_log2,
            alert_slots_log2,
            dict_size,
            index_len: (dict_size / 128).next_power_of_two().min(8192) as u32,
        }
    }

    pub fn lane_count(&self) -> u32 {
        self.lanes_per_class * 2
    }

    /// Lane `i`'s class and size: main lanes first, then alert lanes.
    pub fn lane(&self, i: u32) -> (LaneClass, u32) {
        if i < self.lanes_per_class {
            (LaneClass::Main, self.main_slots_log2)
        } else {
            (LaneClass::Alert, self.alert_slots_log2)
        }
    }

    pub fn dict_offset(&self) -> u64 {
        u64::from(HEADER_SIZE)
    }

    pub fn lanes_offset(&self) -> u64 {
        self.dict_offset() + self.dict_size
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
        self.lane_slots_offset(self.lane_count())
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
            lane_count: self.lane_count(),
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
            reserved: [0; 3],
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
    fn default_size_gives_a_quarter_to_alerts() {
        let g = Geometry::for_size(16 << 20);
        assert_eq!(g.main_slots_log2 - g.alert_slots_log2, 2);
        assert!(g.file_size() <= 16 << 20, "{}", g.file_size());
        assert!(g.file_size() >= 8 << 20, "{}", g.file_size());
        let bytes = g.initial_bytes(5);
        let mut file = bytes.clone();
        file.resize(g.file_size() as usize, 0);
        let d = crate::decode(&file).unwrap();
        assert_eq!(d.lanes.len(), 8);
        assert_eq!(d.header.created_ns, 5);
        assert!(d.records.is_empty());
    }
}

//! A cheap look at a ring: the few hundred bytes that change whenever a
//! record is claimed, so that a follower re-reads the file only then.

use std::mem::size_of;
use std::os::unix::fs::FileExt;
use std::path::Path;

use caro_format::decode::{parse_lanes, Header};
use caro_format::layout::{FileHeader, LANE_HEADER_SIZE};

use super::Ring;
use crate::files;

/// The parts of a ring that change whenever a record is claimed: reading
/// them costs a few hundred bytes, so a follower re-reads the whole file
/// only when they differ from the last read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The file's size.
    pub file_size: u64,
    /// The header's `created_ns`: it changes when the ring is recreated.
    pub created_ns: u64,
    /// Every lane's head, in lane order.
    pub heads: Vec<u64>,
}

impl Probe {
    /// The probe of a ring already read.
    pub fn of(ring: &Ring) -> Probe {
        Probe {
            file_size: ring.file_size,
            created_ns: ring.decoded.header.created_ns,
            heads: ring.decoded.lanes.iter().map(|(l, _)| l.head).collect(),
        }
    }

    /// Reads the probe of the file at `path`: its header and lane headers
    /// only, checked as the decoder checks them. `None` when they cannot
    /// be read; a full read says why.
    pub fn read(path: &Path) -> Option<Probe> {
        let file = files::open_read(path).ok()?;
        let file_size = file.metadata().ok()?.len();
        let mut prefix = [0u8; size_of::<FileHeader>()];
        file.read_exact_at(&mut prefix, 0).ok()?;
        let header = Header::parse_prefix(&prefix, file_size).ok()?;
        let h = header.raw;
        let mut region = vec![0u8; h.lane_count as usize * LANE_HEADER_SIZE as usize];
        file.read_exact_at(&mut region, h.lanes_offset).ok()?;
        let heads = parse_lanes(&header, &region)
            .ok()?
            .iter()
            .map(|l| l.head)
            .collect();
        Some(Probe {
            file_size,
            created_ns: h.created_ns,
            heads,
        })
    }
}

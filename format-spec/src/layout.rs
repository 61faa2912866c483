//! The fixed layouts of the ring file: header, lane headers, slots.
//!
//! Every type here is `#[repr(C)]`, [`bytemuck::Pod`] and little-endian on
//! disk; the sizes are asserted at compile time so that a field added by
//! mistake breaks the build rather than the files of every user.

use bytemuck::{Pod, Zeroable};

/// The eight bytes every ring file starts with.
pub const MAGIC: [u8; 8] = *b"CARORING";
/// Major version: a reader refuses a file with a larger one.
pub const VERSION_MAJOR: u16 = 1;
/// Minor version: a reader of an older minor skips what it does not know.
pub const VERSION_MINOR: u16 = 3;
/// Size of the header page.
pub const HEADER_SIZE: u32 = 4096;
/// Size of one record slot: a cache line.
pub const SLOT_SIZE: u32 = 64;
/// Size of one lane header: a cache line, so that lanes never share one.
pub const LANE_HEADER_SIZE: u32 = 64;
/// `clock` value: timestamps are nanoseconds since 1970-01-01T00:00:00Z.
pub const CLOCK_UNIX_NANOS: u32 = 1;
/// Number of `dropped` counters in the header.
pub const DROP_REASONS: usize = 8;
/// The largest number of lanes a file may declare.
pub const MAX_LANES: u32 = 64;
/// The largest lane a file may declare, as a power of two of slots: stamps
/// keep sequences modulo 2^30, and laps must be told apart.
pub const MAX_LANE_SLOTS_LOG2: u32 = 28;
/// The smallest lane, as a power of two of slots: a record of four slots
/// must fit without overlapping itself.
pub const MIN_LANE_SLOTS_LOG2: u32 = 4;

/// Why a recorder dropped a record without writing it (index into
/// [`FileHeader::dropped`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum DropReason {
    /// The dictionary was full, so the record's callsite could not be named.
    DictionaryFull = 0,
    /// The writer's own table of callsites was full.
    CallsiteTableFull = 1,
}

impl DropReason {
    /// Every reason, in index order.
    pub const ALL: [DropReason; 2] = [DropReason::DictionaryFull, DropReason::CallsiteTableFull];

    /// The reason's name as reports show it.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::DictionaryFull => "dictionary_full",
            DropReason::CallsiteTableFull => "callsite_table_full",
        }
    }
}

/// The file header, at offset 0. The rest of the header page is zero.
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
pub struct FileHeader {
    pub magic: [u8; 8],
    pub version_major: u16,
    pub version_minor: u16,
    pub header_size: u32,
    pub slot_size: u32,
    pub lane_count: u32,
    pub clock: u32,
    pub flags: u32,
    pub file_size: u64,
    pub dict_offset: u64,
    pub dict_size: u64,
    pub lanes_offset: u64,
    pub created_ns: u64,
    /// Writers reserve span ids from this counter in blocks.
    pub next_span_id: u64,
    /// Writers pick their lane from this counter, round robin.
    pub next_lane: u64,
    /// How many writer processes have opened the ring.
    pub processes: u64,
    /// Records dropped before being written, by [`DropReason`].
    pub dropped: [u64; DROP_REASONS],
    /// Reserved for writers (clock calibration); readers ignore it.
    pub writer_private: [u64; 4],
    /// Values writers left out of records that had no room for them
    /// (since v1.2).
    pub values_left_out: u64,
    /// Offset of the identity table (since v1.3; 0 with `ids_size` 0 when
    /// there is none).
    pub ids_offset: u64,
    /// Its size in bytes; 0 in older files.
    pub ids_size: u64,
    pub reserved: u64,
}

/// Offsets of the header fields that writers update atomically.
pub mod header_offset {
    pub const NEXT_SPAN_ID: usize = 72;
    pub const NEXT_LANE: usize = 80;
    pub const PROCESSES: usize = 88;
    pub const DROPPED: usize = 96;
    pub const WRITER_PRIVATE: usize = 160;
    pub const VALUES_LEFT_OUT: usize = 192;
    pub const IDS_OFFSET: usize = 200;
}

/// Lane classes: a flood of chatty records never evicts the alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LaneClass {
    /// TRACE, DEBUG and INFO records and their spans.
    Main,
    /// WARN and ERROR records, process start and exit, panics.
    Alert,
}

impl LaneClass {
    pub fn from_u32(v: u32) -> Option<LaneClass> {
        match v {
            0 => Some(LaneClass::Main),
            1 => Some(LaneClass::Alert),
            _ => None,
        }
    }
    pub fn as_u32(self) -> u32 {
        match self {
            LaneClass::Main => 0,
            LaneClass::Alert => 1,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            LaneClass::Main => "main",
            LaneClass::Alert => "alert",
        }
    }
}

/// One lane header, at `lanes_offset + 64 * lane`.
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
pub struct LaneHeader {
    /// The next sequence number to claim; every claim adds the slots taken.
    pub head: u64,
    pub class: u32,
    pub slots_log2: u32,
    /// File offset of the lane's slot 0.
    pub slots_offset: u64,
    pub reserved: [u64; 5],
}

/// The 8 bytes that open every slot.
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq, Eq)]
#[repr(C)]
pub struct SlotStamp {
    /// `(sequence mod 2^30) << 2 | state`.
    pub stamp: u32,
    /// [`crate::slot::checksum`] of the stamp and the slot's other 7 words.
    pub check: u32,
}

/// A head slot: the first slot of every record.
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
pub struct HeadSlot {
    pub stamp: SlotStamp,
    pub time_ns: u64,
    pub callsite: u64,
    pub span: u32,
    pub thread: u32,
    pub kind: u8,
    pub flags: u8,
    /// Continuation slots that follow this one (0 to 3).
    pub cont: u8,
    /// Payload bytes of the whole record (head and continuations).
    pub len: u8,
    pub payload: [u8; HEAD_PAYLOAD],
}

/// A continuation slot: more payload of the record before it.
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
pub struct ContSlot {
    pub stamp: SlotStamp,
    pub payload: [u8; CONT_PAYLOAD],
}

/// Payload bytes in a head slot.
pub const HEAD_PAYLOAD: usize = 28;
/// Payload bytes in a continuation slot.
pub const CONT_PAYLOAD: usize = 56;
/// Most continuation slots one record may take.
pub const MAX_CONT: usize = 3;
/// Most payload bytes one record may carry.
pub const MAX_PAYLOAD: usize = HEAD_PAYLOAD + MAX_CONT * CONT_PAYLOAD;

/// Header of the identity table, at `ids_offset` (since v1.3).
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
pub struct IdsHeader {
    /// Identities claimed so far.
    pub tail: u64,
    pub reserved: u64,
}

/// Size of the identity table's header.
pub const IDS_HEADER_SIZE: u64 = 16;
/// Size of one identity entry.
pub const IDENTITY_SIZE: u64 = 48;

/// One identity: a thread of a process, written once and never changed
/// until the table laps (SPEC.md section 10).
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq, Eq)]
#[repr(C)]
pub struct IdentityEntry {
    pub stamp: SlotStamp,
    pub pid: u32,
    pub tid: u32,
    /// When the process started.
    pub started_ns: u64,
    /// When this identity was written: no record resolving to it is older.
    pub since_ns: u64,
    /// Dictionary id of the host's version string; 0 for none.
    pub version: u64,
    pub reserved: u64,
}

/// Header of the dictionary region, at `dict_offset`.
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
pub struct DictHeader {
    /// Bytes of the entry log claimed so far.
    pub tail: u64,
    /// Number of u64 slots in the writers' dedup index.
    pub index_len: u32,
    pub reserved: u32,
}

const _: () = assert!(core::mem::size_of::<FileHeader>() == 224);
const _: () = assert!(core::mem::size_of::<LaneHeader>() == LANE_HEADER_SIZE as usize);
const _: () = assert!(core::mem::size_of::<HeadSlot>() == SLOT_SIZE as usize);
const _: () = assert!(core::mem::size_of::<ContSlot>() == SLOT_SIZE as usize);
const _: () = assert!(core::mem::size_of::<DictHeader>() == 16);
const _: () = assert!(core::mem::size_of::<IdsHeader>() == IDS_HEADER_SIZE as usize);
const _: () = assert!(core::mem::size_of::<IdentityEntry>() == IDENTITY_SIZE as usize);
const _: () =
    assert!(core::mem::offset_of!(FileHeader, next_span_id) == header_offset::NEXT_SPAN_ID);
const _: () = assert!(core::mem::offset_of!(FileHeader, next_lane) == header_offset::NEXT_LANE);
const _: () = assert!(core::mem::offset_of!(FileHeader, processes) == header_offset::PROCESSES);
const _: () = assert!(core::mem::offset_of!(FileHeader, dropped) == header_offset::DROPPED);
const _: () =
    assert!(core::mem::offset_of!(FileHeader, values_left_out) == header_offset::VALUES_LEFT_OUT);
const _: () =
    assert!(core::mem::offset_of!(FileHeader, writer_private) == header_offset::WRITER_PRIVATE);
const _: () = assert!(core::mem::offset_of!(HeadSlot, payload) == 36);
const _: () = assert!(core::mem::offset_of!(FileHeader, ids_offset) == header_offset::IDS_OFFSET);

#[cfg(target_endian = "big")]
compile_error!(
    "caro-format v1 reads its little-endian layouts in place: big-endian hosts are not supported"
);

//! The reader: turns the bytes of a ring file into records and counts.
//!
//! It trusts nothing: every offset is checked against the bytes given,
//! every slot against its stamp and checksum, and what cannot be decoded
//! is counted, never guessed at. Allocation is bounded by the input's size.

use std::fmt;

use bytemuck::pod_read_unaligned;

use crate::dictionary::Dictionary;
use crate::identity::Identities;
use crate::layout::*;
use crate::slot::{
    checksum, seq_order, stamp, stamp_state, writing_is_recent, RecordKind, SeqOrder, SlotState,
    WRITING_TIME_SHIFT,
};
use crate::value::{decode_values, FieldValue};

/// A claimed slot this close to its lane's head, whose writing stamp is
/// about a second from the newest record, may still be being written.
pub const PENDING_WINDOW: u64 = 16;

/// Why a file could not be read as a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The file does not start with the ring magic.
    NotARing,
    /// The file is shorter than its header says it is.
    Truncated { needed: u64, len: u64 },
    /// Written by a newer, incompatible format version.
    NewerMajor { major: u16, minor: u16 },
    /// A major version this reader never knew.
    UnknownMajor { major: u16 },
    /// A clock this reader cannot map to wall-clock time.
    UnknownClock(u32),
    /// Header fields that contradict each other or the file.
    BadGeometry(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::NotARing => write!(f, "not a caro ring file (bad magic)"),
            DecodeError::Truncated { needed, len } => write!(
                f,
                "ring file is truncated: {len} bytes, its header needs {needed}"
            ),
            DecodeError::NewerMajor { major, minor } => write!(
                f,
                "ring format v{major}.{minor} is newer than this reader (v{VERSION_MAJOR}.{VERSION_MINOR}); upgrade caro-analyze"
            ),
            DecodeError::UnknownMajor { major } => {
                write!(f, "ring format major version {major} is not supported")
            }
            DecodeError::UnknownClock(c) => write!(f, "ring uses unknown clock {c}"),
            DecodeError::BadGeometry(why) => write!(f, "corrupt ring header: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The header, checked.
#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub raw: FileHeader,
}

impl Header {
    /// Parses and checks the header of a whole file.
    pub fn parse(bytes: &[u8]) -> Result<Header, DecodeError> {
        Header::parse_prefix(bytes, bytes.len() as u64)
    }

    /// Parses and checks the header at the start of `bytes`, the first
    /// bytes of a file `file_len` bytes long.
    pub fn parse_prefix(bytes: &[u8], file_len: u64) -> Result<Header, DecodeError> {
        let size = core::mem::size_of::<FileHeader>();
        if bytes.len() < 8 || bytes[..8] != MAGIC {
            return Err(DecodeError::NotARing);
        }
        if bytes.len() < size {
            return Err(DecodeError::Truncated {
                needed: size as u64,
                len: bytes.len() as u64,
            });
        }
        let raw: FileHeader = pod_read_unaligned(&bytes[..size]);
        if raw.version_major > VERSION_MAJOR {
            return Err(DecodeError::NewerMajor {
                major: raw.version_major,
                minor: raw.version_minor,
            });
        }
        if raw.version_major != VERSION_MAJOR {
            return Err(DecodeError::UnknownMajor {
                major: raw.version_major,
            });
        }
        if raw.clock != CLOCK_UNIX_NANOS {
            return Err(DecodeError::UnknownClock(raw.clock));
        }
        if raw.header_size != HEADER_SIZE || raw.slot_size != SLOT_SIZE {
            return Err(DecodeError::BadGeometry("header or slot size"));
        }
        if raw.file_size > file_len {
            return Err(DecodeError::Truncated {
                needed: raw.file_size,
                len: file_len,
            });
        }
        if raw.lane_count == 0 || raw.lane_count > MAX_LANES {
            return Err(DecodeError::BadGeometry("lane count"));
        }
        let within =
            |off: u64, len: u64| off.checked_add(len).is_some_and(|end| end <= raw.file_size);
        if !within(raw.dict_offset, raw.dict_size)
            || raw.dict_size < 16
            || !raw.dict_offset.is_multiple_of(8)
        {
            return Err(DecodeError::BadGeometry("dictionary region"));
        }
        if !within(
            raw.lanes_offset,
            u64::from(raw.lane_count) * u64::from(LANE_HEADER_SIZE),
        ) || !raw.lanes_offset.is_multiple_of(64)
        {
            return Err(DecodeError::BadGeometry("lane headers"));
        }
        if raw.ids_size != 0
            && (raw.ids_size < 64
                || !raw.ids_offset.is_multiple_of(8)
                || !within(raw.ids_offset, raw.ids_size))
        {
            return Err(DecodeError::BadGeometry("identity table"));
        }
        Ok(Header { raw })
    }
}

/// A lane's geometry, checked.
#[derive(Clone, Copy, Debug)]
pub struct Lane {
    pub index: usize,
    pub class: LaneClass,
    pub head: u64,
    pub slots_log2: u32,
    pub slots_offset: u64,
}

impl Lane {
    pub fn slots(&self) -> u64 {
        1 << self.slots_log2
    }
}

/// The lanes of a ring whose header is valid, from the whole file.
pub fn lanes(header: &Header, bytes: &[u8]) -> Result<Vec<Lane>, DecodeError> {
    let start = header.raw.lanes_offset as usize;
    let len = header.raw.lane_count as usize * LANE_HEADER_SIZE as usize;
    let region = bytes
        .get(start..start + len)
        .ok_or(DecodeError::BadGeometry(
            "lane headers past the bytes given",
        ))?;
    parse_lanes(header, region)
}

/// The lanes of a ring whose header is valid, from the bytes of its lane
/// headers alone (`lane_count × 64` bytes from `lanes_offset`).
pub fn parse_lanes(header: &Header, region: &[u8]) -> Result<Vec<Lane>, DecodeError> {
    let h = &header.raw;
    (0..h.lane_count as usize)
        .map(|i| {
            let off = i * LANE_HEADER_SIZE as usize;
            let raw_bytes = region.get(off..off + LANE_HEADER_SIZE as usize).ok_or(
                DecodeError::BadGeometry("lane headers past the bytes given"),
            )?;
            let raw: LaneHeader = pod_read_unaligned(raw_bytes);
            let class =
                LaneClass::from_u32(raw.class).ok_or(DecodeError::BadGeometry("lane class"))?;
            if !(MIN_LANE_SLOTS_LOG2..=MAX_LANE_SLOTS_LOG2).contains(&raw.slots_log2)
                || !raw.slots_offset.is_multiple_of(64)
            {
                return Err(DecodeError::BadGeometry("lane size"));
            }
            let end = (1u64 << raw.slots_log2)
                .checked_mul(u64::from(SLOT_SIZE))
                .and_then(|n| n.checked_add(raw.slots_offset));
            if end.is_none_or(|end| end > h.file_size) {
                return Err(DecodeError::BadGeometry("lane past end of file"));
            }
            Ok(Lane {
                index: i,
                class,
                head: raw.head,
                slots_log2: raw.slots_log2,
                slots_offset: raw.slots_offset,
            })
        })
        .collect()
}

/// Refuses a file whose regions overlap: the header page, the dictionary,
/// the lane headers and every lane's slots must each stand alone, so no
/// slot is read twice and no writer writes one region over another.
pub fn check_regions(header: &Header, lanes: &[Lane]) -> Result<(), DecodeError> {
    let h = &header.raw;
    let mut regions = vec![
        (0, u64::from(HEADER_SIZE)),
        (h.dict_offset, h.dict_offset + h.dict_size),
        (
            h.lanes_offset,
            h.lanes_offset + u64::from(h.lane_count) * u64::from(LANE_HEADER_SIZE),
        ),
    ];
    regions.extend(lanes.iter().map(|l| {
        (
            l.slots_offset,
            l.slots_offset + l.slots() * u64::from(SLOT_SIZE),
        )
    }));
    if h.ids_size != 0 {
        regions.push((h.ids_offset, h.ids_offset + h.ids_size));
    }
    regions.sort_unstable();
    if regions.windows(2).any(|w| w[0].1 > w[1].0) {
        return Err(DecodeError::BadGeometry("regions overlap"));
    }
    Ok(())
}

/// A decoded record.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub lane: usize,
    pub seq: u64,
    pub time_ns: u64,
    pub thread: u32,
    pub kind: RecordKind,
    pub callsite: u64,
    pub span: u32,
    /// The parent span of a SPAN_NEW record (0 for a root).
    pub parent: u32,
    /// Some values did not fit and are missing.
    pub truncated: bool,
    /// How many values are missing, when the writer said (since v1.2; 0
    /// otherwise).
    pub left_out: u8,
    pub values: Vec<FieldValue>,
    /// The index in [`Decoded::identities`]' `held` of the identity the
    /// record's thread resolves to (v1.3 and later).
    pub identity: Option<usize>,
}

impl Record {
    /// The pid a PROCESS_START, PROCESS_EXIT or THREAD_START record names
    /// (its value 0): how rings older than the identity table (v1.3) tie a
    /// thread to its process, and these records' own pid in any ring
    /// (SPEC.md section 10).
    pub fn named_pid(&self) -> Option<u32> {
        if !matches!(
            self.kind,
            RecordKind::ProcessStart | RecordKind::ProcessExit | RecordKind::ThreadStart
        ) {
            return None;
        }
        self.values
            .iter()
            .find(|v| v.field == 0)
            .and_then(|v| match v.value {
                crate::value::Value::U64(pid) => u32::try_from(pid).ok(),
                _ => None,
            })
    }
}

/// What a reader found in one lane.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaneStats {
    pub records: u64,
    /// Slots overwritten by later laps before this read.
    pub lost_to_laps: u64,
    /// Slots claimed by writers that never finished them (killed).
    pub abandoned: u64,
    /// Slots claimed moments ago, still being written.
    pub pending: u64,
    /// Slots whose checksum or structure is wrong.
    pub corrupt: u64,
    /// Records of kinds this reader does not know (a newer minor version).
    pub unknown_kinds: u64,
    /// The oldest pending sequence, where a live reader resumes.
    pub first_pending: Option<u64>,
    /// The oldest claimed, unfinished slot a writer may still be on —
    /// among the newest of its lane, or stamped recently — whatever the
    /// writers' clocks say: where an incremental reader stops, so that it
    /// never passes a record still being written.
    pub first_open: Option<u64>,
}

impl LaneStats {
    /// Counts saturate: a hostile head near 2^64 must not wrap them.
    fn add(&mut self, o: &LaneStats) {
        self.records = self.records.saturating_add(o.records);
        self.lost_to_laps = self.lost_to_laps.saturating_add(o.lost_to_laps);
        self.abandoned = self.abandoned.saturating_add(o.abandoned);
        self.pending = self.pending.saturating_add(o.pending);
        self.corrupt = self.corrupt.saturating_add(o.corrupt);
        self.unknown_kinds = self.unknown_kinds.saturating_add(o.unknown_kinds);
    }
}

/// Everything a reader got out of a ring.
#[derive(Clone, Debug)]
pub struct Decoded {
    pub header: FileHeader,
    pub dictionary: Dictionary,
    /// The identity table; `present` is false in files older than v1.3.
    pub identities: Identities,
    pub lanes: Vec<(Lane, LaneStats)>,
    /// Records oldest first (by time, then lane, then sequence).
    pub records: Vec<Record>,
}

impl Decoded {
    /// The lanes' counts added up.
    pub fn totals(&self) -> LaneStats {
        let mut t = LaneStats::default();
        for (_, s) in &self.lanes {
            t.add(s);
        }
        t
    }

    /// Slots claimed since the ring was created.
    pub fn slots_written(&self) -> u64 {
        self.lanes
            .iter()
            .fold(0u64, |n, (l, _)| n.saturating_add(l.head))
    }

    /// Slots the ring holds.
    pub fn capacity(&self) -> u64 {
        self.lanes.iter().map(|(l, _)| l.slots()).sum()
    }

    /// The process and thread `r` was written by, when the file knows it.
    pub fn identity(&self, r: &Record) -> Option<&crate::identity::Identity> {
        r.identity.map(|i| &self.identities.held[i])
    }

    /// The pid of record `r`'s process: the one it names, else that of its
    /// identity (SPEC.md section 10).
    pub fn pid(&self, r: &Record) -> Option<u32> {
        r.named_pid().or_else(|| self.identity(r).map(|id| id.pid))
    }
}

/// Decodes a whole ring file, judging unfinished writes against the
/// newest record: the deterministic reading, as the canonical text has it.
pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    decode_at(bytes, None)
}

/// Decodes a whole ring file. A claimed slot not yet committed is pending
/// (a writer may still be on it) when it is among the newest of its lane
/// and its writer's time is within about a second of `now_ns` — a live
/// reader's clock — or, when `now_ns` is `None`, of the newest record.
pub fn decode_at(bytes: &[u8], now_ns: Option<u64>) -> Result<Decoded, DecodeError> {
    decode_range(bytes, now_ns, &[], &[])
}

/// Like [`decode_at`], but reads lane `i` only from sequence `from[i]` up
/// to, not including, `until[i]` (a lane past the end of a slice is read
/// from its start, or up to its head): how an incremental reader takes only
/// what is new since its last read. Slots outside the range are neither
/// returned nor counted; slots inside it that were overwritten before this
/// read are counted as lost.
pub fn decode_range(
    bytes: &[u8],
    now_ns: Option<u64>,
    from: &[u64],
    until: &[u64],
) -> Result<Decoded, DecodeError> {
    let header = Header::parse(bytes)?;
    let lanes = lanes(&header, bytes)?;
    check_regions(&header, &lanes)?;
    let dictionary = dictionary_log(&header, bytes)
        .map(Dictionary::parse)
        .unwrap_or_default();
    let identities = identity_table(&header, bytes)
        .map(Identities::parse)
        .unwrap_or_default();
    // At most one record a slot in range: reserved once, not regrown.
    let in_range: u64 = lanes
        .iter()
        .map(|lane| {
            let oldest = lane.head.saturating_sub(lane.slots());
            let from = from.get(lane.index).copied().unwrap_or(0).max(oldest);
            let until = until.get(lane.index).copied().unwrap_or(u64::MAX);
            lane.head.min(until).saturating_sub(from)
        })
        .fold(0, u64::saturating_add);
    let slots_in_file = bytes.len() / SLOT_SIZE as usize;
    let mut records = Vec::with_capacity(
        usize::try_from(in_range).map_or(slots_in_file, |n| n.min(slots_in_file)),
    );
    let mut stats = Vec::new();
    let mut unstamped = Vec::new();
    for lane in &lanes {
        let from = from.get(lane.index).copied().unwrap_or(0);
        let until = until.get(lane.index).copied().unwrap_or(u64::MAX);
        stats.push(scan_lane(
            lane,
            from,
            until,
            bytes,
            &mut records,
            &mut unstamped,
        ));
    }
    // Claimed-but-unwritten slots: pending if recent, abandoned otherwise.
    // A slot claimed but not even stamped has no time of its own: its
    // lane's newest record stands in for it.
    let reference = now_ns.unwrap_or_else(|| records.iter().map(|r| r.time_ns).max().unwrap_or(0));
    let mut lane_newest = vec![None; lanes.len()];
    for r in &records {
        let t = (r.time_ns >> WRITING_TIME_SHIFT) as u32;
        let newest: &mut Option<(u64, u32)> = &mut lane_newest[r.lane];
        if newest.is_none_or(|(ns, _)| r.time_ns > ns) {
            *newest = Some((r.time_ns, t));
        }
    }
    for u in unstamped {
        let lane = &lanes[u.lane];
        let s = &mut stats[u.lane];
        let recent_seq = u.seq.saturating_add(PENDING_WINDOW) >= lane.head;
        let time = u.time.or(lane_newest[u.lane].map(|(_, t)| t));
        let recent_time = time.is_some_and(|t| writing_is_recent(t, reference));
        if recent_seq && recent_time {
            s.pending += 1;
            s.first_pending = Some(s.first_pending.map_or(u.seq, |p| p.min(u.seq)));
        } else {
            s.abandoned += 1;
        }
        if recent_seq || recent_time {
            s.first_open = Some(s.first_open.map_or(u.seq, |p| p.min(u.seq)));
        }
    }
    // (time, lane, seq) is unique, so any sort gives the one order; a
    // stable one is fastest here, each lane's records being mostly in time
    // order already (runs it merges).
    records.sort_by_key(|r| (r.time_ns, r.lane, r.seq));
    if identities.present {
        let mut resolve = identities.resolver();
        for r in &mut records {
            r.identity = resolve(r.thread, r.time_ns);
        }
    }
    Ok(Decoded {
        header: header.raw,
        dictionary,
        identities,
        lanes: lanes.into_iter().zip(stats).collect(),
        records,
    })
}

/// Reads one lane on its own — its slots at `lane.slots_offset` in
/// `bytes`, sequences 0 up to `lane.head` — for models and tools that hold
/// a single lane (the loom model of the slot protocol). Claimed slots not
/// yet committed are counted as `pending`: without a clock, a slot being
/// written and one a killed writer left are not told apart here.
pub fn decode_lane(lane: &Lane, bytes: &[u8]) -> (Vec<Record>, LaneStats) {
    let (mut records, mut unstamped) = (Vec::new(), Vec::new());
    let mut stats = scan_lane(lane, 0, u64::MAX, bytes, &mut records, &mut unstamped);
    stats.pending = unstamped.len() as u64;
    (records, stats)
}

/// The bytes of the dictionary's entry log, cut at its claimed tail.
pub fn dictionary_log<'a>(header: &Header, bytes: &'a [u8]) -> Option<&'a [u8]> {
    let start = header.raw.dict_offset as usize;
    let region = &bytes[start..start + header.raw.dict_size as usize];
    let dh: DictHeader = pod_read_unaligned(&region[..16]);
    let log_start = 16usize.checked_add((dh.index_len as usize).checked_mul(8)?)?;
    if log_start > region.len() {
        return None;
    }
    let log = &region[log_start..];
    Some(
        &log[..log
            .len()
            .min(usize::try_from(dh.tail).unwrap_or(usize::MAX))],
    )
}

/// The bytes of the identity table, when the file has one.
pub fn identity_table<'a>(header: &Header, bytes: &'a [u8]) -> Option<&'a [u8]> {
    let h = &header.raw;
    if h.ids_size == 0 {
        return None;
    }
    bytes.get(h.ids_offset as usize..(h.ids_offset + h.ids_size) as usize)
}

struct Unstamped {
    lane: usize,
    seq: u64,
    /// A writing stamp's coarse time (see [`WRITING_TIME_SHIFT`]).
    time: Option<u32>,
}

/// Where slot `seq` of `lane` starts in the file (the lane's slots are a
/// ring: `seq` modulo its size).
pub fn slot_offset(lane: &Lane, seq: u64) -> usize {
    lane.slots_offset as usize + ((seq & (lane.slots() - 1)) as usize) * SLOT_SIZE as usize
}

fn slot_words(bytes: &[u8], lane: &Lane, seq: u64) -> [u64; 8] {
    let off = slot_offset(lane, seq);
    let mut w = [0u64; 8];
    for (i, word) in w.iter_mut().enumerate() {
        *word = u64::from_le_bytes(bytes[off + i * 8..off + i * 8 + 8].try_into().unwrap());
    }
    w
}

/// Whether the sequence in `stamp`, newer than `seq`, is one a later lap
/// of `lane` writes into `seq`'s slot.
fn lapped_into(stamp: u32, seq: u64, lane: &Lane) -> bool {
    let d = u64::from(stamp >> 2).wrapping_sub(seq) & crate::slot::SEQ_MASK;
    d & (lane.slots() - 1) == 0
}

fn sealed(w: &[u64; 8]) -> bool {
    checksum(w[0] as u32, &w[1..]) == (w[0] >> 32) as u32
}

fn scan_lane(
    lane: &Lane,
    from: u64,
    until: u64,
    bytes: &[u8],
    records: &mut Vec<Record>,
    unstamped: &mut Vec<Unstamped>,
) -> LaneStats {
    let mut st = LaneStats::default();
    let oldest = lane.head.saturating_sub(lane.slots());
    let start = oldest.max(from);
    st.lost_to_laps = oldest.saturating_sub(from);
    let mut seen_head = false;
    // The time (if any) of the unfinished slot just walked: a committed
    // continuation right after one is the rest of a record whose writer
    // did not finish (continuations are committed before their head).
    let mut unfinished: Option<Option<u32>> = None;
    let mut s = start;
    let end = lane.head.min(until);
    while s < end {
        let w = slot_words(bytes, lane, s);
        let st_word = w[0] as u32;
        // A claimed slot not committed: a writer is on it, or died on it.
        let seq = s;
        let mut claimed = |time: Option<u32>| {
            unstamped.push(Unstamped {
                lane: lane.index,
                seq,
                time,
            });
            Some(time)
        };
        unfinished = match (seq_order(st_word, s), stamp_state(st_word)) {
            // A lap only ever writes `s + k × slots` here; an empty stamp
            // holds nothing to be corrupt.
            (SeqOrder::Newer, state)
                if state == SlotState::Empty || lapped_into(st_word, s, lane) =>
            {
                st.lost_to_laps = st.lost_to_laps.saturating_add(1);
                s += 1;
                None
            }
            (SeqOrder::Newer, _) => {
                st.corrupt += 1;
                s += 1;
                None
            }
            (SeqOrder::Older, _) | (SeqOrder::Same, SlotState::Empty) => {
                s += 1;
                claimed(None)
            }
            (SeqOrder::Same, SlotState::Writing) => {
                s += 1;
                claimed(Some((w[0] >> 32) as u32))
            }
            (SeqOrder::Same, SlotState::Cont) => {
                s += 1;
                match unfinished {
                    Some(time) => claimed(time),
                    // A continuation whose head was lapped, or a damaged
                    // record.
                    None if seen_head => {
                        st.corrupt += 1;
                        None
                    }
                    None => {
                        st.lost_to_laps = st.lost_to_laps.saturating_add(1);
                        None
                    }
                }
            }
            (SeqOrder::Same, SlotState::Head) => {
                seen_head = true;
                match read_record(lane.index, lane.head, s, &w, |q| slot_words(bytes, lane, q)) {
                    Ok((taken, Some(r))) => {
                        st.records += 1;
                        records.push(r);
                        s += taken;
                    }
                    Ok((taken, None)) => {
                        st.unknown_kinds += 1;
                        s += taken;
                    }
                    Err(()) => {
                        st.corrupt += 1;
                        s += 1;
                    }
                }
                None
            }
        };
    }
    st
}

/// Reads the record whose head is slot `seq` of lane `lane`, through
/// `slot`, which gives the words of a sequence's slot: for a reader that
/// holds no copy of the file (the recorder's live output reads the
/// records it wrote back from its mapping). `None` when that slot no
/// longer holds the committed head of `seq` (a later lap took it), or the
/// record is unsound or of a kind this reader does not know.
pub fn read_record_at(lane: usize, seq: u64, slot: impl Fn(u64) -> [u64; 8]) -> Option<Record> {
    let w = slot(seq);
    let st = w[0] as u32;
    if seq_order(st, seq) != SeqOrder::Same || stamp_state(st) != SlotState::Head {
        return None;
    }
    read_record(lane, u64::MAX, seq, &w, slot).ok()?.1
}

/// Reads the record whose head slot (words `w`) is at `seq`, in a lane
/// whose head is `lane_head`; returns the slots it takes and the record,
/// or `None` for an unknown kind.
fn read_record(
    lane: usize,
    lane_head: u64,
    seq: u64,
    w: &[u64; 8],
    slot: impl Fn(u64) -> [u64; 8],
) -> Result<(u64, Option<Record>), ()> {
    if !sealed(w) {
        return Err(());
    }
    let head_bytes: [u8; 64] = bytemuck::cast(*w);
    let head: HeadSlot = pod_read_unaligned(&head_bytes);
    let cont = u64::from(head.cont);
    let len = usize::from(head.len);
    if cont as usize > MAX_CONT || crate::slot::continuations_for(len) != cont as usize {
        return Err(());
    }
    if seq.saturating_add(cont) >= lane_head {
        return Err(());
    }
    // On the stack: the most a record carries.
    let mut buf = [0u8; HEAD_PAYLOAD + MAX_CONT * CONT_PAYLOAD];
    buf[..HEAD_PAYLOAD].copy_from_slice(&head.payload);
    for c in 1..=cont {
        let cw = slot(seq + c);
        if cw[0] as u32 != stamp(seq + c, SlotState::Cont) || !sealed(&cw) {
            return Err(());
        }
        let cb: [u8; 64] = bytemuck::cast(cw);
        let at = HEAD_PAYLOAD + (c as usize - 1) * CONT_PAYLOAD;
        buf[at..at + CONT_PAYLOAD].copy_from_slice(&cb[8..]);
    }
    // `len` fits: its continuations were checked against `cont` above.
    let payload = &buf[..len];
    let taken = 1 + cont;
    let Some(kind) = RecordKind::from_code(head.kind) else {
        return Ok((taken, None));
    };
    let (parent, values_bytes) = if kind == RecordKind::SpanNew {
        if payload.len() < 4 {
            return Err(());
        }
        (
            u32::from_le_bytes(payload[..4].try_into().unwrap()),
            &payload[4..],
        )
    } else {
        (0, payload)
    };
    let values = decode_values(values_bytes).map_err(|_| ())?;
    Ok((
        taken,
        Some(Record {
            lane,
            seq,
            time_ns: head.time_ns,
            thread: head.thread,
            kind,
            callsite: head.callsite,
            span: head.span,
            parent,
            truncated: head.flags & crate::slot::FLAG_VALUES_TRUNCATED != 0,
            left_out: head.flags >> 1,
            values,
            identity: None,
        }),
    ))
}

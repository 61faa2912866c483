//! The file header: `Header::parse` and `Header::parse_prefix` on any
//! bytes. Never panics; a header it accepts satisfies every check of
//! SPEC.md section 2 (steps 1 to 9), and reading it from the file's first
//! page alone gives the same answer as reading it from the whole file.
#![no_main]

use caro_format::decode::{check_regions, dictionary_log, lanes, Header};
use caro_format::layout::{HEADER_SIZE, LANE_HEADER_SIZE, MAGIC, MAX_LANES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let whole = Header::parse(data);
    // A reader that maps only the header page first (the analyzer's
    // `status` does) must decide alike.
    let page = &data[..data.len().min(HEADER_SIZE as usize)];
    let prefix = Header::parse_prefix(page, len);
    assert_eq!(
        whole.as_ref().map(|h| h.raw.file_size).map_err(|e| *e),
        prefix.as_ref().map(|h| h.raw.file_size).map_err(|e| *e),
        "parse and parse_prefix disagree"
    );
    // A file claimed longer than the bytes given: never a panic.
    let _ = Header::parse_prefix(data, u64::MAX);
    let _ = Header::parse_prefix(data, len / 2);

    let Ok(header) = whole else { return };
    let h = &header.raw;
    assert_eq!(h.magic, MAGIC);
    assert!(h.file_size <= len);
    assert!((1..=MAX_LANES).contains(&h.lane_count));
    assert!(h.dict_size >= 16 && h.dict_offset.is_multiple_of(8));
    assert!(h
        .dict_offset
        .checked_add(h.dict_size)
        .is_some_and(|e| e <= h.file_size));
    let lane_bytes = u64::from(h.lane_count) * u64::from(LANE_HEADER_SIZE);
    assert!(h.lanes_offset.is_multiple_of(64));
    assert!(h
        .lanes_offset
        .checked_add(lane_bytes)
        .is_some_and(|e| e <= h.file_size));

    // What a reader does next with an accepted header: never a panic.
    let _ = dictionary_log(&header, data);
    if let Ok(lanes) = lanes(&header, data) {
        assert_eq!(lanes.len(), h.lane_count as usize);
        for lane in &lanes {
            let end = lane.slots_offset + lane.slots() * 64;
            assert!(end <= h.file_size, "lane {} past the file", lane.index);
        }
        let _ = check_regions(&header, &lanes);
    }
});

//! A whole ring file: `decode`, `decode_at` and `decode_range` on any
//! bytes, and `canonical_text` on what decodes. Never panics; a decoded
//! ring has one lane entry per lane header, its records ordered oldest
//! first and inside their lanes' ranges, and `decode_range` returns only
//! records inside the range it was given.
//!
//! The clocks and ranges come from the input's last bytes, so that they
//! move with it: a range near each lane's head, and one of raw values.
//!
//! A scrubbed copy (`rewrite_strings`, what crash snapshots are made
//! with, every string replaced) decodes too, with no more records.
#![no_main]

use caro_format::decode::{lanes, Header};
use caro_format::rewrite::rewrite_strings;
use caro_format::{decode, decode_at, decode_range, text::canonical_text, Decoded, Record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(decoded) = decode(data) else {
        // A file refused by `decode` is refused by every reading.
        assert!(decode_at(data, Some(0)).is_err());
        return;
    };
    check(&decoded, &[], &[]);
    let _ = canonical_text(&decoded);

    let tail = &data[data.len().saturating_sub(64)..];
    let byte = |i: usize| u64::from(tail.get(i % tail.len().max(1)).copied().unwrap_or(0));
    let word = |i: usize| (0..8).fold(0u64, |w, k| w << 8 | byte(i * 8 + k));
    // A live reader's clock: the newest record's, shifted either way.
    let newest = decoded.records.iter().map(|r| r.time_ns).max().unwrap_or(0);
    for now in [
        word(0),
        newest.wrapping_add(word(1) >> 32),
        newest.saturating_sub(byte(2) << 20),
    ] {
        let at = decode_at(data, Some(now)).expect("decoded once, decodes again");
        check(&at, &[], &[]);
        // (Not `==` on records: a NaN value is not equal to itself.)
        assert!(
            at.records
                .iter()
                .map(key)
                .eq(decoded.records.iter().map(key)),
            "the clock changes counts, not records"
        );
    }

    let header = Header::parse(data).expect("decoded, so its header is valid");
    let lanes = lanes(&header, data).expect("decoded, so its lanes are valid");
    // Near each head: up to a lane back, up to a lane long.
    let (mut from, mut until) = (Vec::new(), Vec::new());
    for (i, lane) in lanes.iter().enumerate() {
        let back = byte(2 * i) * lane.slots() / 128;
        let long = byte(2 * i + 1) * lane.slots() / 64;
        from.push(lane.head.saturating_sub(back));
        until.push(lane.head.saturating_sub(back).saturating_add(long));
    }
    // Slices shorter than the lanes: the rest read whole.
    let cut = (byte(63) as usize) % (lanes.len() + 1);
    for (f, u) in [
        (&from[..], &until[..]),
        (&from[..cut], &until[..lanes.len() - cut]),
        (&[word(3), word(4)][..], &[word(5)][..]),
    ] {
        let ranged = decode_range(data, None, f, u).expect("decoded once, decodes again");
        check(&ranged, f, u);
        let _ = canonical_text(&ranged);
    }

    let mut copy = data.to_vec();
    rewrite_strings(&mut copy, |s| Some(s.to_uppercase())).expect("decoded, so it copies");
    let scrubbed = decode(&copy).expect("a scrubbed copy decodes");
    check(&scrubbed, &[], &[]);
    assert!(scrubbed.records.len() <= decoded.records.len());
});

/// A record's place: time, lane and sequence.
fn key(r: &Record) -> (u64, usize, u64) {
    (r.time_ns, r.lane, r.seq)
}

/// What holds of any decoded ring read from `from` until `until`.
fn check(d: &Decoded, from: &[u64], until: &[u64]) {
    assert_eq!(d.lanes.len(), d.header.lane_count as usize);
    for r in &d.records {
        let (lane, _) = &d.lanes[r.lane];
        let oldest = lane.head.saturating_sub(lane.slots());
        let from = from.get(r.lane).copied().unwrap_or(0).max(oldest);
        let until = until
            .get(r.lane)
            .copied()
            .unwrap_or(u64::MAX)
            .min(lane.head);
        assert!(
            r.seq >= from && r.seq < until,
            "record at {} of lane {} outside [{from}, {until})",
            r.seq,
            r.lane
        );
    }
    assert!(d.records.windows(2).all(|w| key(&w[0]) < key(&w[1])));
    let totals = d.totals();
    assert_eq!(totals.records, d.records.len() as u64);
}

//! The callsite dictionary: `Dictionary::parse` on any entry log, as given
//! and with every plausible entry's checksum made right (so that the
//! fuzzer reaches the entry bodies without guessing checksums). Never
//! panics, and its counts add up: what it read fits in the log.
#![no_main]

use caro_format::dictionary::{ENTRY_COMMITTED, ENTRY_MAGIC};
use caro_format::slot::checksum;
use caro_format::Dictionary;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check(data, Dictionary::parse(data));
    let sealed = seal_entries(data);
    check(&sealed, Dictionary::parse(&sealed));
});

/// The counts of a parse of `log` against its length.
fn check(log: &[u8], d: Dictionary) {
    // Every entry read or unfinished takes at least 3 words.
    let least = (d.entries + d.unfinished)
        .checked_mul(24)
        .and_then(|n| n.checked_add(d.skipped_bytes));
    assert!(
        least.is_some_and(|n| n <= log.len()),
        "{} entries, {} unfinished, {} skipped bytes in a log of {}",
        d.entries,
        d.unfinished,
        d.skipped_bytes,
        log.len()
    );
    assert!(d.skipped_bytes.is_multiple_of(8) || !log.len().is_multiple_of(8));
    assert!(d.callsites.len() + d.strings.len() <= d.entries);
    for (id, message) in &d.messages {
        let callsite = d.callsites.get(id).expect("a message without its callsite");
        assert!(!message.is_empty());
        assert_eq!(&callsite.message, message);
    }
    for callsite in d.callsites.values() {
        assert!(callsite.fields.len() <= caro_format::value::MAX_FIELDS);
    }
}

/// `log` with the check of every word that looks like a committed entry's
/// stamp (and whose entry fits) set right.
fn seal_entries(log: &[u8]) -> Vec<u8> {
    let mut out = log.to_vec();
    let mut pos = 0;
    while pos + 16 <= out.len() {
        let stamp = u32::from_le_bytes(out[pos..pos + 4].try_into().unwrap());
        let words = ((stamp >> 2) & 0x3FFF) as usize;
        if stamp >> 16 == ENTRY_MAGIC
            && stamp & 3 == ENTRY_COMMITTED
            && words >= 3
            && pos + words * 8 <= out.len()
        {
            let body: Vec<u64> = out[pos + 8..pos + words * 8]
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                .collect();
            out[pos + 4..pos + 8].copy_from_slice(&checksum(stamp, &body).to_le_bytes());
        }
        pos += 8;
    }
    out
}

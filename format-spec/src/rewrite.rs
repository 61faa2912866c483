//! Rewriting the string values of a ring image in place: how a tool keeps
//! a copy of a ring with some text replaced (the analyzer's scrubbed crash
//! snapshots) that every reader still decodes, lane by lane, sequence by
//! sequence, with its loss counts unchanged.
//!
//! A record keeps its length and its slots: a replacement is fitted to
//! the bytes of the string it replaces (padded with spaces, or cut and
//! flagged as cut). The dictionary — program text — is not touched.

use crate::decode::{slot_offset, Lane};
use crate::layout::{HeadSlot, SLOT_SIZE};
use crate::slot::{RecordHead, SlotImages};
use crate::value::{Value, ValueWriter};
use crate::{decode, DecodeError, RecordKind};

/// What [`rewrite_strings`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rewritten {
    /// Records whose strings were replaced.
    pub records: u64,
    /// Records that could not be written back at their length (values of
    /// a newer minor version): their slots are zeroed, and readers count
    /// them as abandoned.
    pub blanked: u64,
}

/// Replaces, in the ring image `bytes`, every string value for which
/// `replace` returns a new text, and reseals the slots it changes.
pub fn rewrite_strings(
    bytes: &mut [u8],
    mut replace: impl FnMut(&str) -> Option<String>,
) -> Result<Rewritten, DecodeError> {
    let decoded = decode(bytes)?;
    let mut done = Rewritten::default();
    for r in &decoded.records {
        let mut values = if r.kind == RecordKind::SpanNew {
            ValueWriter::with_parent(r.parent)
        } else {
            ValueWriter::new()
        };
        let (mut changed, mut whole) = (false, true);
        for fv in &r.values {
            let field = usize::from(fv.field);
            whole &= match &fv.value {
                Value::Str { text, truncated } => match replace(text) {
                    Some(new) => {
                        changed = true;
                        let (text, cut) = fit(&new, text.len());
                        values.value(
                            field,
                            &Value::Str {
                                text,
                                truncated: *truncated || cut,
                            },
                        )
                    }
                    None => values.value(field, &fv.value),
                },
                other => values.value(field, other),
            };
        }
        if !changed {
            continue;
        }
        let lane = &decoded.lanes[r.lane].0;
        let at = slot_offset(lane, r.seq);
        let head: HeadSlot = bytemuck::pod_read_unaligned(&bytes[at..at + SLOT_SIZE as usize]);
        if whole && !values.truncated() && values.bytes().len() == usize::from(head.len) {
            let images = SlotImages::new(
                &RecordHead {
                    time_ns: head.time_ns,
                    callsite: head.callsite,
                    span: head.span,
                    thread: head.thread,
                    kind: head.kind,
                    flags: head.flags,
                },
                values.bytes(),
                r.seq,
            );
            for (i, words) in images.as_slice().iter().enumerate() {
                put_slot(bytes, lane, r.seq + i as u64, bytemuck::cast(*words));
            }
            done.records += 1;
        } else {
            for i in 0..=u64::from(head.cont) {
                put_slot(bytes, lane, r.seq + i, [0; SLOT_SIZE as usize]);
            }
            done.blanked += 1;
        }
    }
    Ok(done)
}

fn put_slot(bytes: &mut [u8], lane: &Lane, seq: u64, slot: [u8; SLOT_SIZE as usize]) {
    let at = slot_offset(lane, seq);
    bytes[at..at + slot.len()].copy_from_slice(&slot);
}

/// `text` made exactly `len` bytes long: padded with spaces, or cut at a
/// character boundary (then padded) and reported as cut.
fn fit(text: &str, len: usize) -> (String, bool) {
    let mut n = text.len().min(len);
    while !text.is_char_boundary(n) {
        n -= 1;
    }
    let mut out = String::with_capacity(len);
    out.push_str(&text[..n]);
    out.extend(std::iter::repeat_n(' ', len - n));
    (out, n < text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacements_fit_the_replaced_bytes() {
        assert_eq!(fit("<path>", 9), ("<path>   ".to_owned(), false));
        assert_eq!(fit("<email>", 5), ("<emai".to_owned(), true));
        assert_eq!(fit("é<x>", 1), (" ".to_owned(), true));
    }
}

//! Scrubbed copies of a ring image: how a tool keeps a copy of a ring that
//! holds only what decoded, with its text replaced (the analyzer's
//! scrubbed crash snapshots), and that every reader still decodes.
//!
//! [`rewrite_strings`] builds the copy from zeros and puts back only:
//!
//! - the header and the lane headers (their reserved words, and the
//!   header's `writer_private`, stay zero);
//! - every dictionary entry the reader accepts (SPEC.md section 7) — a
//!   STRING or CALLSITE entry, every one of its strings (name, target,
//!   file, field names, message literal) passed through `replace` and
//!   fitted to the bytes it replaces, its id recomputed from what it now
//!   holds and its check resealed — and the stamp word of an unfinished
//!   entry, so that the reader walks the entry log exactly as before.
//!   The writers' dedup index (which readers ignore), damaged bytes,
//!   entries of unknown kinds and everything past the log stay zero;
//! - the identity table's claim counter and every identity held (section
//!   10), its version moved to the version string's new id;
//! - every record the decoder read (section 8), its string values and the
//!   text parts of its templates passed through `replace`, fitted, and
//!   its callsite and dictionary-string ids moved to the entries' new ids
//!   (an id whose entry is missing becomes 0: none).
//!
//! Every other slot is zero: continuations orphaned by a lap, the
//! `writing` and unstamped slots of a killed writer, pending slots,
//! corrupt slots, records of unknown kinds, and slots never written. A
//! reader counts the zeroed slots as abandoned, pending or lost to laps
//! (a zero stamp is an unstamped slot, or one from a later lap), and a
//! zeroed entry as skipped bytes; every record kept reads as it did, its
//! text replaced.
//!
//! A replacement keeps the length of what it replaces: padded with spaces,
//! or cut at a character boundary (a string value is then flagged as cut).
//! A new id is the entry's content hash, as writers compute it, so that it
//! no longer tells what the entry held before; two entries made identical
//! by their replacements share it, as the format allows.

use std::collections::HashMap;

use bytemuck::{pod_read_unaligned, Zeroable};

use crate::decode::{slot_offset, Lane};
use crate::dictionary::{fnv1a64, walk_log, LogStep};
use crate::identity::{entry_words, Identities};
use crate::layout::{
    DictHeader, FileHeader, HeadSlot, IdentityEntry, LaneHeader, SlotStamp, IDENTITY_SIZE,
    IDS_HEADER_SIZE, LANE_HEADER_SIZE, SLOT_SIZE,
};
use crate::slot::{checksum, continuations_for, RecordHead, SlotImages};
use crate::value::{Part, Value, ValueWriter, MAX_FIELDS};
use crate::{decode, DecodeError, RecordKind};

/// What [`rewrite_strings`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rewritten {
    /// Records kept, their text passed through the replacement.
    pub records: u64,
    /// Records read that could not be written back (values of a newer
    /// minor version): zeroed with the rest.
    pub blanked: u64,
    /// Slots that held something and were zeroed: every slot not holding
    /// a record kept.
    pub zeroed_slots: u64,
    /// Dictionary entries kept, their strings passed through the
    /// replacement.
    pub entries: u64,
    /// Dictionary bytes that held something and were zeroed: the dedup
    /// index, the contents of unfinished entries, damaged bytes, entries
    /// of unknown kinds, and what lies past the entry log.
    pub zeroed_dictionary_bytes: u64,
}

/// Rewrites the ring image `bytes` in place into its scrubbed copy (see
/// the module's documentation): `replace` returns the new text of a
/// string, or `None` to keep it.
pub fn rewrite_strings(
    bytes: &mut [u8],
    mut replace: impl FnMut(&str) -> Option<String>,
) -> Result<Rewritten, DecodeError> {
    let decoded = decode(bytes)?;
    let mut done = Rewritten::default();
    let mut out = vec![0u8; bytes.len()];

    // The header, without what only writers read.
    let mut h: FileHeader = decoded.header;
    h.writer_private = Zeroable::zeroed();
    h.reserved = Zeroable::zeroed();
    put(&mut out, 0, bytemuck::bytes_of(&h));
    for (lane, _) in &decoded.lanes {
        let at = h.lanes_offset as usize + lane.index * LANE_HEADER_SIZE as usize;
        let mut lh: LaneHeader = pod_read_unaligned(&bytes[at..at + LANE_HEADER_SIZE as usize]);
        lh.reserved = Zeroable::zeroed();
        put(&mut out, at, bytemuck::bytes_of(&lh));
    }

    let ids = rewrite_dictionary(&h, bytes, &mut out, &mut replace, &mut done);
    rewrite_identities(&h, &decoded.identities, &ids, &mut out);

    let mut kept_slots = 0u64;
    for r in &decoded.records {
        let lane = &decoded.lanes[r.lane].0;
        let at = slot_offset(lane, r.seq);
        let head: HeadSlot = pod_read_unaligned(&bytes[at..at + SLOT_SIZE as usize]);
        let Some(payload) = rewrite_values(r, &ids, &mut replace) else {
            done.blanked += 1;
            continue;
        };
        // Never more slots than the record had: the next one follows.
        if continuations_for(payload.bytes().len()) > usize::from(head.cont) {
            done.blanked += 1;
            continue;
        }
        let callsite = match r.callsite {
            0 => 0,
            id => ids.callsites.get(&id).copied().unwrap_or(0),
        };
        let images = SlotImages::new(
            &RecordHead {
                time_ns: head.time_ns,
                callsite,
                span: head.span,
                thread: head.thread,
                kind: head.kind,
                flags: head.flags,
            },
            payload.bytes(),
            r.seq,
        );
        for (i, words) in images.as_slice().iter().enumerate() {
            let slot: [u8; SLOT_SIZE as usize] = bytemuck::cast(*words);
            put(&mut out, slot_offset(lane, r.seq + i as u64), &slot);
            kept_slots += 1;
        }
        done.records += 1;
    }
    let held: u64 = decoded
        .lanes
        .iter()
        .map(|(lane, _)| held_slots(bytes, lane))
        .sum();
    done.zeroed_slots = held.saturating_sub(kept_slots);

    bytes.copy_from_slice(&out);
    Ok(done)
}

/// Puts back the identity table's counter and its held identities, their
/// version string ids moved.
fn rewrite_identities(h: &FileHeader, identities: &Identities, ids: &NewIds, out: &mut [u8]) {
    if !identities.present {
        return;
    }
    let base = h.ids_offset as usize;
    put(out, base, &identities.claimed.to_le_bytes());
    if identities.capacity == 0 {
        return;
    }
    for id in &identities.held {
        let entry = IdentityEntry {
            stamp: SlotStamp::zeroed(),
            pid: id.pid,
            tid: id.tid,
            started_ns: id.started_ns,
            since_ns: id.since_ns,
            version: ids.string(id.version),
            reserved: 0,
        };
        let words = entry_words(id.seq, &entry);
        let at = base + (IDS_HEADER_SIZE + (id.seq % identities.capacity) * IDENTITY_SIZE) as usize;
        put(out, at, bytemuck::bytes_of(&words));
    }
}

/// The new ids of the dictionary entries kept, by their old ids.
#[derive(Debug, Default)]
struct NewIds {
    callsites: HashMap<u64, u64>,
    strings: HashMap<u64, u64>,
    /// The text of each STRING entry kept, by its new id.
    texts: HashMap<u64, String>,
}

impl NewIds {
    /// The new id of dictionary string `id`, or 0 (none) when it is not
    /// in the dictionary.
    fn string(&self, id: u64) -> u64 {
        self.strings.get(&id).copied().unwrap_or(0)
    }
}

/// The values of `r` written again with their text replaced and their
/// dictionary ids moved; `None` when a value cannot be written back (an
/// EXT value of a newer minor version keeps only its length).
fn rewrite_values(
    r: &crate::Record,
    ids: &NewIds,
    replace: &mut impl FnMut(&str) -> Option<String>,
) -> Option<ValueWriter> {
    let mut values = if r.kind == RecordKind::SpanNew {
        ValueWriter::with_parent(r.parent)
    } else {
        ValueWriter::new()
    };
    for fv in &r.values {
        let field = usize::from(fv.field);
        let value = match &fv.value {
            Value::Str { text, truncated } => {
                let (text, cut) = replaced(text, replace);
                Value::Str {
                    text,
                    truncated: *truncated || cut,
                }
            }
            Value::StaticStr(id) => Value::StaticStr(ids.string(*id)),
            Value::Template(parts) => Value::Template(template(parts, ids, replace)),
            v @ (Value::U64(_)
            | Value::I64(_)
            | Value::F64(_)
            | Value::Bool(_)
            | Value::Redacted(_)
            | Value::Message
            | Value::U128(_)
            | Value::I128(_)) => v.clone(),
            // EXT values of a newer minor version, and any value type this
            // module does not know to hold no text.
            _ => return None,
        };
        if !values.value(field, &value) {
            return None;
        }
    }
    // Every value decoded was written back.
    (!values.truncated()).then_some(values)
}

/// The parts of a template, each text part replaced (fitted to its
/// length) and each dictionary string moved to its new id. A datum may
/// span parts (`ana@exa` and `mple.org`, or a text part and a dictionary
/// string): the whole, as a reader joins it, is looked at again, and if
/// a replacement is still found in it no text part is kept (each becomes
/// spaces of its length).
fn template(
    parts: &[Part],
    ids: &NewIds,
    replace: &mut impl FnMut(&str) -> Option<String>,
) -> Vec<Part> {
    let mut parts: Vec<Part> = parts
        .iter()
        .map(|p| match p {
            Part::Text(t) => Part::Text(replaced(t, replace).0),
            Part::Static(id) => Part::Static(ids.string(*id)),
            Part::Hole(n) => Part::Hole(*n),
            Part::Cut(n) => Part::Cut(*n),
        })
        .collect();
    let whole: String = parts
        .iter()
        .map(|p| match p {
            Part::Text(t) => t.as_str(),
            Part::Static(id) => ids.texts.get(id).map_or(" ", String::as_str),
            Part::Hole(_) | Part::Cut(_) => " ",
        })
        .collect();
    if replace(&whole).is_some_and(|new| new != whole) {
        for p in &mut parts {
            if let Part::Text(t) = p {
                *t = " ".repeat(t.len());
            }
        }
    }
    parts
}

/// `text`'s replacement fitted to its length, and whether it was cut; the
/// text itself when nothing replaces it.
fn replaced(text: &str, replace: &mut impl FnMut(&str) -> Option<String>) -> (String, bool) {
    match replace(text) {
        Some(new) => fit(&new, text.len()),
        None => (text.to_owned(), false),
    }
}

/// Rewrites the dictionary region of `bytes` into `out` (see the module's
/// documentation), walking its entry log exactly as a reader does
/// ([`crate::Dictionary::parse`]); returns the kept entries' new ids.
fn rewrite_dictionary(
    h: &FileHeader,
    bytes: &[u8],
    out: &mut [u8],
    replace: &mut impl FnMut(&str) -> Option<String>,
    done: &mut Rewritten,
) -> NewIds {
    let mut ids = NewIds::default();
    let start = h.dict_offset as usize;
    let region = &bytes[start..start + h.dict_size as usize];
    let dh: DictHeader = pod_read_unaligned(&region[..16]);
    let mut kept = DictHeader::zeroed();
    kept.tail = dh.tail;
    kept.index_len = dh.index_len;
    put(out, start, bytemuck::bytes_of(&kept));
    let log_start = (dh.index_len as usize)
        .checked_mul(8)
        .and_then(|n| n.checked_add(16))
        .filter(|&n| n <= region.len());
    let Some(log_start) = log_start else {
        done.zeroed_dictionary_bytes += nonzero(&region[16..]);
        return ids;
    };
    let log_len = (region.len() - log_start).min(usize::try_from(dh.tail).unwrap_or(usize::MAX));
    let log = &region[log_start..log_start + log_len];
    let log_at = start + log_start;
    done.zeroed_dictionary_bytes += nonzero(&region[16..log_start]);
    done.zeroed_dictionary_bytes += nonzero(&region[log_start + log_len..]);

    let end = walk_log(log, |pos, step| match step {
        LogStep::Skipped => {
            done.zeroed_dictionary_bytes += nonzero(&log[pos..pos + 8]);
            true
        }
        // Unfinished: the reader skips it whole by its stamp alone.
        LogStep::Unfinished(entry) => {
            put(out, log_at + pos, &entry[..4]);
            done.zeroed_dictionary_bytes += nonzero(&entry[4..]);
            true
        }
        LogStep::Committed(entry) => match entry_strings(entry) {
            // Damaged: skipped a word at a time, as the reader does.
            Err(()) => false,
            // A kind of a newer minor version: read as well-formed and
            // skipped, but what it holds is unknown. Zeroed, the reader
            // skips its bytes one word at a time to the same place.
            Ok(None) => {
                done.zeroed_dictionary_bytes += nonzero(entry);
                true
            }
            Ok(Some(strings)) => {
                let new = scrubbed_entry(entry, &strings, &mut ids, replace);
                put(out, log_at + pos, &new);
                done.entries += 1;
                true
            }
        },
    });
    done.zeroed_dictionary_bytes += nonzero(&log[end..]);
    ids
}

/// The committed entry `entry`, its `strings` (offset, length) passed
/// through `replace`, its id recomputed from what it now holds (the move
/// noted in `ids`) and its check resealed.
fn scrubbed_entry(
    entry: &[u8],
    strings: &[(usize, usize)],
    ids: &mut NewIds,
    replace: &mut impl FnMut(&str) -> Option<String>,
) -> Vec<u8> {
    let mut new = vec![0u8; entry.len()];
    // Kind-specific bytes: a STRING's are zero.
    let specific = if entry[16] == 1 { 24 } else { 17 };
    new[16..specific].copy_from_slice(&entry[16..specific]);
    let mut end = 24;
    let mut last = String::new();
    for &(at, len) in strings {
        let text = std::str::from_utf8(&entry[at..at + len]).unwrap_or_default();
        let (text, _) = replaced(text, replace);
        new[at - 2..at].copy_from_slice(&entry[at - 2..at]);
        new[at..at + len].copy_from_slice(text.as_bytes());
        end = at + len;
        last = text;
    }
    let id = fnv1a64(&new[16..end]);
    let old = u64::from_le_bytes(entry[8..16].try_into().unwrap());
    new[8..16].copy_from_slice(&id.to_le_bytes());
    match entry[16] {
        1 => ids.callsites.insert(old, id),
        _ => {
            ids.texts.insert(id, last);
            ids.strings.insert(old, id)
        }
    };
    let stamp = u32::from_le_bytes(entry[..4].try_into().unwrap());
    let body: Vec<u64> = new[8..]
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let sealed = u64::from(stamp) | u64::from(checksum(stamp, &body)) << 32;
    new[..8].copy_from_slice(&sealed.to_le_bytes());
    new
}

/// Where the strings of the committed entry `entry` lie (offset, length),
/// for the two kinds a reader parses; `Ok(None)` for another kind (read,
/// not parsed); `Err` when a reader would refuse the entry. The same
/// checks as [`crate::Dictionary::parse`] makes.
#[allow(clippy::type_complexity)]
fn entry_strings(entry: &[u8]) -> Result<Option<Vec<(usize, usize)>>, ()> {
    let mut at = 24;
    let mut string = || -> Result<(usize, usize), ()> {
        let n = entry.get(at..at + 2).ok_or(())?;
        let n = usize::from(u16::from_le_bytes([n[0], n[1]]));
        let s = entry.get(at + 2..at + 2 + n).ok_or(())?;
        std::str::from_utf8(s).map_err(|_| ())?;
        at += 2 + n;
        Ok((at - n, n))
    };
    let count = match entry[16] {
        1 => {
            let level_ok = (1..=5).contains(&entry[17]);
            let kind_ok = entry[18] <= 1;
            let fields = usize::from(entry[19]);
            if !level_ok || !kind_ok || fields > MAX_FIELDS {
                return Err(());
            }
            3 + fields + 1
        }
        2 => 1,
        _ => return Ok(None),
    };
    (0..count)
        .map(|_| string())
        .collect::<Result<_, _>>()
        .map(Some)
}

/// The slots of `lane` that hold any byte.
fn held_slots(bytes: &[u8], lane: &Lane) -> u64 {
    let start = lane.slots_offset as usize;
    let len = lane.slots() as usize * SLOT_SIZE as usize;
    bytes[start..start + len]
        .chunks_exact(SLOT_SIZE as usize)
        .filter(|slot| slot.iter().any(|&b| b != 0))
        .count() as u64
}

/// The bytes of `b` that are not zero.
fn nonzero(b: &[u8]) -> u64 {
    b.iter().filter(|&&x| x != 0).count() as u64
}

fn put(out: &mut [u8], at: usize, what: &[u8]) {
    out[at..at + what.len()].copy_from_slice(what);
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
    use crate::decode::Header;
    use crate::dictionary::{encode_callsite, encode_string, CallsiteKind, CallsiteRef, Level};
    use crate::layout::{DictHeader, HEADER_SIZE};
    use crate::slot::{stamp, writing_word, SlotState};
    use crate::Geometry;

    #[test]
    fn replacements_fit_the_replaced_bytes() {
        assert_eq!(fit("<path>", 9), ("<path>   ".to_owned(), false));
        assert_eq!(fit("<email>", 5), ("<emai".to_owned(), true));
        assert_eq!(fit("é<x>", 1), (" ".to_owned(), true));
    }

    const T0: u64 = 1_768_487_535_000_000_000;

    /// A small ring, as a writer leaves it, and a way to write into it.
    struct Ring {
        bytes: Vec<u8>,
        dict_at: usize,
        dict_len: usize,
        lanes: Vec<Lane>,
    }

    impl Ring {
        fn new() -> Ring {
            let g = Geometry::for_size(1 << 20);
            let mut bytes = g.initial_bytes(T0);
            bytes.resize(g.file_size() as usize, 0);
            let header = Header::parse(&bytes).unwrap();
            let lanes = crate::decode::lanes(&header, &bytes).unwrap();
            let dh: DictHeader =
                pod_read_unaligned(&bytes[header.raw.dict_offset as usize..][..16]);
            let dict_at = header.raw.dict_offset as usize + 16 + 8 * dh.index_len as usize;
            Ring {
                bytes,
                dict_at,
                dict_len: 0,
                lanes,
            }
        }

        /// Appends entry words (the first as given) to the log.
        fn append_words(&mut self, words: &[u64]) {
            for w in words {
                let at = self.dict_at + self.dict_len;
                self.bytes[at..at + 8].copy_from_slice(&w.to_le_bytes());
                self.dict_len += 8;
            }
            let header = Header::parse(&self.bytes).unwrap();
            let at = header.raw.dict_offset as usize;
            self.bytes[at..at + 8].copy_from_slice(&(self.dict_len as u64).to_le_bytes());
        }

        fn commit_entry(&mut self, e: &crate::dictionary::EncodedEntry) {
            let mut words = e.words.clone();
            words[0] = e.committed_word();
            self.append_words(&words);
        }

        /// Claims `n` slots of lane `lane`; returns the first sequence.
        fn claim(&mut self, lane: usize, n: u64) -> u64 {
            let l = &mut self.lanes[lane];
            let s = l.head;
            l.head += n;
            let header = Header::parse(&self.bytes).unwrap();
            let at = header.raw.lanes_offset as usize + lane * LANE_HEADER_SIZE as usize;
            self.bytes[at..at + 8].copy_from_slice(&l.head.to_le_bytes());
            s
        }

        fn put_words(&mut self, lane: usize, seq: u64, words: [u64; 8]) {
            let at = slot_offset(&self.lanes[lane], seq);
            let slot: [u8; 64] = bytemuck::cast(words);
            self.bytes[at..at + 64].copy_from_slice(&slot);
        }

        /// Writes a committed record into lane `lane`.
        fn record(&mut self, lane: usize, kind: RecordKind, callsite: u64, v: &ValueWriter) {
            let n = 1 + continuations_for(v.bytes().len()) as u64;
            let s = self.claim(lane, n);
            let images = SlotImages::new(
                &RecordHead {
                    time_ns: T0 + 1000,
                    callsite,
                    span: 0,
                    thread: 7,
                    kind: kind.code(),
                    flags: 0,
                },
                v.bytes(),
                s,
            );
            for (i, w) in images.as_slice().iter().enumerate() {
                self.put_words(lane, s + i as u64, *w);
            }
        }
    }

    fn secret_scrub(s: &str) -> Option<String> {
        s.contains("ana")
            .then(|| s.replace("ana@example.org", "<email>"))
    }

    /// `s` with the 8 spaces that fit `<email>` to `ana@example.org`.
    fn padded(s: &str) -> String {
        format!("{s}        ")
    }

    #[test]
    fn a_scrubbed_copy_keeps_what_decoded_and_zeroes_the_rest() {
        let mut ring = Ring::new();
        let fields = ["message", "backend", "detail"];
        let callsite = encode_callsite(&CallsiteRef {
            level: Level::Info,
            kind: CallsiteKind::Event,
            name: "event src/ana@example.org.rs:3",
            target: "ana@example.org",
            file: "src/ana@example.org.rs",
            line: 3,
            fields: &fields,
            message: "hello ana@example.org",
        });
        let string = encode_string("owner ana@example.org");
        ring.commit_entry(&callsite);
        ring.commit_entry(&string);
        // An unfinished entry of a killed writer, then damaged bytes.
        let unfinished = encode_string("unfinished ana@example.org");
        let mut words = unfinished.words.clone();
        words[0] = unfinished.writing_word();
        ring.append_words(&words);
        ring.append_words(&[u64::from_le_bytes(*b"ana@exam"); 3]);

        // A record kept, with a run-time string and a template.
        let mut v = ValueWriter::new();
        v.message(0);
        v.static_str(1, string.id);
        v.value(
            2,
            &Value::Template(vec![
                Part::Text("to ana@example.org: ".into()),
                Part::Static(string.id),
                Part::Hole(4),
            ]),
        );
        ring.record(0, RecordKind::Event, callsite.id, &v);
        let mut v = ValueWriter::new();
        v.str(2, "mail ana@example.org now");
        ring.record(0, RecordKind::Event, callsite.id, &v);
        // A killed writer's slots: one writing, one claimed and never
        // stamped, and a committed continuation behind them.
        let s = ring.claim(0, 3);
        let mut w = [u64::from_le_bytes(*b"ana@exam"); 8];
        w[0] = writing_word(s, T0);
        ring.put_words(0, s, w);
        w[0] = u64::from(stamp(s + 2, SlotState::Cont));
        ring.put_words(0, s + 2, w);
        // A corrupt head, and a record of an unknown kind.
        let s = ring.claim(1, 1);
        w[0] = u64::from(stamp(s, SlotState::Head));
        ring.put_words(1, s, w);
        let mut v = ValueWriter::new();
        v.str(0, "ana@example.org");
        let unknown_kind = 99;
        let images = SlotImages::new(
            &RecordHead {
                time_ns: T0,
                callsite: callsite.id,
                span: 0,
                thread: 7,
                kind: unknown_kind,
                flags: 0,
            },
            v.bytes(),
            ring.lanes[1].head,
        );
        let s = ring.claim(1, images.as_slice().len() as u64);
        for (i, w) in images.as_slice().iter().enumerate() {
            ring.put_words(1, s + i as u64, *w);
        }
        // Bytes in the header page past the header, and in the index.
        ring.bytes[HEADER_SIZE as usize - 8..HEADER_SIZE as usize].copy_from_slice(b"ana@exam");

        let before = decode(&ring.bytes).unwrap();
        assert_eq!(before.records.len(), 2);
        let mut bytes = ring.bytes.clone();
        let done = rewrite_strings(&mut bytes, secret_scrub).unwrap();
        assert_eq!((done.records, done.blanked, done.entries), (2, 0, 2));
        // 2 writer slots + corrupt head + unknown record's slot(s).
        assert!(done.zeroed_slots >= 4, "{done:?}");
        assert!(done.zeroed_dictionary_bytes > 0, "{done:?}");
        let needle = b"ana@exam";
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "the copy still holds the address"
        );

        // It decodes: the same records, their text scrubbed.
        let after = decode(&bytes).unwrap();
        assert_eq!(after.records.len(), 2);
        let d = &after.dictionary;
        assert_eq!((d.entries, d.unfinished), (2, 1));
        let c = d.callsites.values().next().unwrap();
        assert_eq!(c.target, padded("<email>"));
        assert_eq!(c.name, padded("event src/<email>.rs:3"));
        assert_eq!(c.file, padded("src/<email>.rs"));
        assert_eq!(c.message, padded("hello <email>"));
        assert_eq!(c.fields, fields);
        let new_callsite = *d.callsites.keys().next().unwrap();
        assert_ne!(
            new_callsite, callsite.id,
            "the id no longer tells the old text"
        );
        let (new_string, text) = d.strings.iter().next().unwrap();
        assert_eq!(*text, padded("owner <email>"));
        let r = &after.records[0];
        assert_eq!(r.callsite, new_callsite);
        assert_eq!(r.values[1].value, Value::StaticStr(*new_string));
        assert_eq!(
            r.values[2].value,
            Value::Template(vec![
                Part::Text(padded("to <email>: ")),
                Part::Static(*new_string),
                Part::Hole(4),
            ])
        );
        assert_eq!(
            after.records[1].values[0].value,
            Value::Str {
                text: padded("mail <email> now"),
                truncated: false
            }
        );
        // What did not decode is gone: counted as unstamped, not corrupt
        // and not of an unknown kind.
        let (b, a) = (before.totals(), after.totals());
        assert_eq!((b.corrupt, b.unknown_kinds), (1, 1));
        assert_eq!((a.corrupt, a.unknown_kinds), (0, 0));
        assert_eq!(a.records, b.records);
        assert!(a.abandoned + a.pending > b.abandoned + b.pending);
        // Scrubbing the copy again changes nothing.
        let again = bytes.clone();
        rewrite_strings(&mut bytes, secret_scrub).unwrap();
        assert_eq!(bytes, again);
    }

    #[test]
    fn damaged_rings_are_copied_without_panic_into_rings_that_read() {
        let golden: &[u8] = include_bytes!("../golden/v1.2.ring");
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..300 {
            let mut bytes = golden.to_vec();
            for _ in 0..1 + next() % 16 {
                // Past the header page, where a reader never refuses.
                let at = 4096 + (next() as usize) % (bytes.len() - 4096);
                bytes[at] = next() as u8;
            }
            let Ok(done) = rewrite_strings(&mut bytes, secret_scrub) else {
                continue;
            };
            let after = decode(&bytes).unwrap();
            assert_eq!(after.records.len() as u64, done.records);
            let t = after.totals();
            assert_eq!((t.corrupt, t.unknown_kinds), (0, 0));
            let again = bytes.clone();
            rewrite_strings(&mut bytes, secret_scrub).unwrap();
            assert!(bytes == again, "a second copy changed");
        }
    }

    #[test]
    fn a_datum_across_template_parts_keeps_no_text_part() {
        let mut ids = NewIds::default();
        ids.strings.insert(5, 6);
        ids.texts.insert(6, "mple.org".to_owned());
        let split = [
            Part::Text("mail ana@exa".into()),
            Part::Static(5),
            Part::Hole(3),
        ];
        assert_eq!(
            template(&split, &ids, &mut secret_scrub),
            [Part::Text(" ".repeat(12)), Part::Static(6), Part::Hole(3)]
        );
        // Parts that hold the datum whole keep their other text.
        let whole = [Part::Text("to ana@example.org".into()), Part::Static(5)];
        assert_eq!(
            template(&whole, &ids, &mut secret_scrub),
            [Part::Text(padded("to <email>")), Part::Static(6)]
        );
    }

    #[test]
    fn orphaned_continuations_after_a_lap_are_zeroed() {
        let mut ring = Ring::new();
        let lane = 0;
        let slots = ring.lanes[lane].slots();
        // A record of two slots whose head the lap overwrote: its
        // continuation sits in the oldest slot still held.
        let mut v = ValueWriter::new();
        v.str(0, &"x".repeat(40));
        ring.claim(lane, slots - 1);
        let s = ring.lanes[lane].head;
        let images = SlotImages::new(
            &RecordHead {
                time_ns: T0,
                callsite: 0,
                span: 0,
                thread: 1,
                kind: RecordKind::Event.code(),
                flags: 0,
            },
            v.bytes(),
            s,
        );
        assert_eq!(images.as_slice().len(), 2);
        ring.claim(lane, 2);
        for (i, w) in images.as_slice().iter().enumerate() {
            ring.put_words(lane, s + i as u64, *w);
        }
        // One more lap's worth: the head is lost, the continuation left.
        let mut one = ValueWriter::new();
        one.u64(0, 1);
        for _ in 0..slots - 1 {
            ring.record(lane, RecordKind::Event, 0, &one);
        }
        let before = decode(&ring.bytes).unwrap();
        assert!(before.lanes[lane].1.lost_to_laps > 0);
        let orphan = slot_offset(&ring.lanes[lane], s + 1);
        assert!(ring.bytes[orphan..orphan + 64].iter().any(|&b| b != 0));
        let mut bytes = ring.bytes.clone();
        let done = rewrite_strings(&mut bytes, |_| None).unwrap();
        assert_eq!(done.zeroed_slots, 1);
        assert!(bytes[orphan..orphan + 64].iter().all(|&b| b == 0));
        let after = decode(&bytes).unwrap();
        assert_eq!(after.records, before.records);
    }
}

//! The dictionary: callsites, strings and message literals, written once
//! and referred to by content-addressed ids, so records stay decodable
//! after any number of laps, across processes and across builds.

use std::collections::HashMap;

use crate::slot::checksum;

/// High 16 bits of every entry's stamp; lets a reader resynchronise after
/// an entry a killed writer left unfinished.
pub const ENTRY_MAGIC: u32 = 0xCA70;
/// Entry state: a writer has claimed it and is writing it.
pub const ENTRY_WRITING: u32 = 1;
/// Entry state: committed, immutable from now on.
pub const ENTRY_COMMITTED: u32 = 2;
/// Longest entry, in 8-byte words.
pub const MAX_ENTRY_WORDS: usize = 0x3FFF;
/// Longest string an entry keeps (cut at a character boundary).
pub const MAX_ENTRY_STR: usize = 1024;

/// Entry kinds, byte 16 of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    Callsite = 1,
    String = 2,
}

/// Levels as the format stores them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Trace = 1,
    Debug = 2,
    Info = 3,
    Warn = 4,
    Error = 5,
}

impl Level {
    pub fn from_u8(v: u8) -> Option<Level> {
        Some(match v {
            1 => Level::Trace,
            2 => Level::Debug,
            3 => Level::Info,
            4 => Level::Warn,
            5 => Level::Error,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// Whether a callsite is an event or a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallsiteKind {
    Event = 0,
    Span = 1,
}

/// A callsite as the dictionary keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Callsite {
    pub level: Level,
    pub kind: CallsiteKind,
    pub name: String,
    pub target: String,
    pub file: String,
    pub line: u32,
    pub fields: Vec<String>,
    /// The message literal of an event callsite; empty when it has none.
    pub message: String,
}

/// A callsite borrowed from the writer, to be encoded.
#[derive(Clone, Copy, Debug)]
pub struct CallsiteRef<'a> {
    pub level: Level,
    pub kind: CallsiteKind,
    pub name: &'a str,
    pub target: &'a str,
    pub file: &'a str,
    pub line: u32,
    pub fields: &'a [&'a str],
    /// The message literal its events carry, or "". Part of the id: two
    /// callsites on one line with different literals are different.
    pub message: &'a str,
}

/// FNV-1a, 64 bits; 0 is reserved for "no id" and maps to 1.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    if h == 0 {
        1
    } else {
        h
    }
}

/// An entry ready to store: its id and its words, the first of which
/// (the stamp word) is written last, by [`EncodedEntry::committed_word`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedEntry {
    pub kind: EntryKind,
    pub id: u64,
    pub words: Vec<u64>,
}

impl EncodedEntry {
    /// The stamp word announcing the entry while it is written.
    pub fn writing_word(&self) -> u64 {
        u64::from(entry_stamp(self.words.len(), ENTRY_WRITING))
    }

    /// The stamp word that commits the entry.
    pub fn committed_word(&self) -> u64 {
        let stamp = entry_stamp(self.words.len(), ENTRY_COMMITTED);
        u64::from(stamp) | u64::from(checksum(stamp, &self.words[1..])) << 32
    }

    /// The key writers store in the dedup index: never 0.
    pub fn index_key(&self) -> u64 {
        index_key(self.kind, self.id)
    }
}

/// The dedup-index key of an entry.
pub fn index_key(kind: EntryKind, id: u64) -> u64 {
    let key = id ^ (kind as u64) << 56;
    if key == 0 {
        1
    } else {
        key
    }
}

fn entry_stamp(words: usize, state: u32) -> u32 {
    ENTRY_MAGIC << 16 | (words as u32 & 0x3FFF) << 2 | state
}

fn cut(s: &str, max: usize) -> &str {
    let mut n = s.len().min(max);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

fn push_str(body: &mut Vec<u8>, s: &str) {
    let s = cut(s, MAX_ENTRY_STR);
    body.extend_from_slice(&(s.len() as u16).to_le_bytes());
    body.extend_from_slice(s.as_bytes());
}

/// `body` starts at entry byte 16; the id is its hash.
fn finish(kind: EntryKind, body: Vec<u8>) -> EncodedEntry {
    let id = fnv1a64(&body);
    let mut bytes = vec![0u8; 16];
    bytes[8..16].copy_from_slice(&id.to_le_bytes());
    bytes.extend_from_slice(&body);
    bytes.resize(bytes.len().div_ceil(8) * 8, 0);
    let words = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    EncodedEntry { kind, id, words }
}

/// Encodes a callsite entry; its id is the hash of its content.
pub fn encode_callsite(c: &CallsiteRef<'_>) -> EncodedEntry {
    let mut body = vec![
        EntryKind::Callsite as u8,
        c.level as u8,
        c.kind as u8,
        c.fields.len().min(crate::value::MAX_FIELDS) as u8,
    ];
    body.extend_from_slice(&c.line.to_le_bytes());
    for s in [c.name, c.target, c.file] {
        push_str(&mut body, s);
    }
    for f in c.fields.iter().take(crate::value::MAX_FIELDS) {
        push_str(&mut body, f);
    }
    push_str(&mut body, c.message);
    finish(EntryKind::Callsite, body)
}

/// Encodes a string entry; its id is the hash of its content.
pub fn encode_string(s: &str) -> EncodedEntry {
    let mut body = vec![EntryKind::String as u8, 0, 0, 0, 0, 0, 0, 0];
    push_str(&mut body, s);
    finish(EntryKind::String, body)
}

/// The id a string entry for `s` has: what a STATIC_STR value refers to.
pub fn string_id(s: &str) -> u64 {
    encode_string(s).id
}

/// What a reader found in the dictionary region.
#[derive(Clone, Debug, Default)]
pub struct Dictionary {
    pub callsites: HashMap<u64, Callsite>,
    pub strings: HashMap<u64, String>,
    /// Message literals of the callsites that have one, by callsite id.
    pub messages: HashMap<u64, String>,
    /// Entries committed and decoded.
    pub entries: usize,
    /// Entries claimed but unfinished (being written, or a killed writer's).
    pub unfinished: usize,
    /// Bytes that held no valid entry and were skipped.
    pub skipped_bytes: usize,
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn string(&mut self) -> Option<String> {
        let n = u16::from_le_bytes(self.take(2)?.try_into().ok()?);
        let s = std::str::from_utf8(self.take(usize::from(n))?).ok()?;
        Some(s.to_owned())
    }
}

/// What a reader's walk over an entry log meets at a position
/// (SPEC.md section 7).
#[derive(Debug)]
pub enum LogStep<'a> {
    /// 8 bytes that start no entry, or a damaged one: skipped.
    Skipped,
    /// An entry a writer did not finish: skipped whole, by its stamp.
    Unfinished(&'a [u8]),
    /// A committed entry whose check holds, all its bytes.
    Committed(&'a [u8]),
}

/// Walks the entry log `log` as every reader does, calling
/// `visit(position, step)` at each step: for [`LogStep::Committed`],
/// `visit` says whether the entry reads (else it is damaged, and `visit`
/// is called again with [`LogStep::Skipped`] at the same position).
/// Returns where the walk stopped, fewer than 16 bytes from the end.
pub fn walk_log(log: &[u8], mut visit: impl FnMut(usize, LogStep<'_>) -> bool) -> usize {
    let mut pos = 0usize;
    while pos + 16 <= log.len() {
        let word = u64::from_le_bytes(log[pos..pos + 8].try_into().unwrap());
        let stamp = word as u32;
        let words = ((stamp >> 2) & 0x3FFF) as usize;
        let plausible = stamp >> 16 == ENTRY_MAGIC && words >= 3 && pos + words * 8 <= log.len();
        if !plausible {
            visit(pos, LogStep::Skipped);
            pos += 8;
            continue;
        }
        let bytes = &log[pos..pos + words * 8];
        if stamp & 3 != ENTRY_COMMITTED {
            visit(pos, LogStep::Unfinished(bytes));
            pos += words * 8;
            continue;
        }
        let body: Vec<u64> = bytes[8..]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        if checksum(stamp, &body) == (word >> 32) as u32 && visit(pos, LogStep::Committed(bytes)) {
            pos += words * 8;
        } else {
            // A damaged entry: resynchronise on the next word.
            visit(pos, LogStep::Skipped);
            pos += 8;
        }
    }
    pos
}

impl Dictionary {
    /// Reads the entry log `log` (the region after the index, cut at the
    /// claimed tail). Never fails: what cannot be read is counted.
    pub fn parse(log: &[u8]) -> Dictionary {
        let mut dict = Dictionary::default();
        let end = walk_log(log, |_, step| match step {
            LogStep::Skipped => {
                dict.skipped_bytes += 8;
                true
            }
            LogStep::Unfinished(_) => {
                dict.unfinished += 1;
                true
            }
            LogStep::Committed(bytes) => {
                let read = dict.add(bytes);
                dict.entries += usize::from(read);
                read
            }
        });
        dict.skipped_bytes += log.len() - end;
        dict
    }

    fn add(&mut self, bytes: &[u8]) -> bool {
        let id = u64::from_le_bytes(bytes[8..16].try_into().unwrap());
        let mut c = Cursor(&bytes[16..]);
        let Some(head) = c.take(8) else { return false };
        match head[0] {
            1 => {
                let (Some(level), Some(kind)) = (Level::from_u8(head[1]), callsite_kind(head[2]))
                else {
                    return false;
                };
                if usize::from(head[3]) > crate::value::MAX_FIELDS {
                    return false;
                }
                let line = u32::from_le_bytes(head[4..8].try_into().unwrap());
                let (Some(name), Some(target), Some(file)) = (c.string(), c.string(), c.string())
                else {
                    return false;
                };
                let mut fields = Vec::with_capacity(usize::from(head[3]));
                for _ in 0..head[3] {
                    match c.string() {
                        Some(f) => fields.push(f),
                        None => return false,
                    }
                }
                let Some(message) = c.string() else {
                    return false;
                };
                if message.is_empty() {
                    self.messages.remove(&id);
                } else {
                    self.messages.insert(id, message.clone());
                }
                self.callsites.insert(
                    id,
                    Callsite {
                        level,
                        kind,
                        name,
                        target,
                        file,
                        line,
                        fields,
                        message,
                    },
                );
            }
            2 => match c.string() {
                Some(s) => {
                    self.strings.insert(id, s);
                }
                None => return false,
            },
            // An entry kind of a newer minor version: well-formed, skipped.
            _ => {}
        }
        true
    }
}

fn callsite_kind(v: u8) -> Option<CallsiteKind> {
    match v {
        0 => Some(CallsiteKind::Event),
        1 => Some(CallsiteKind::Span),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(entries: &[EncodedEntry]) -> Vec<u8> {
        let mut log = Vec::new();
        for e in entries {
            let mut words = e.words.clone();
            words[0] = e.committed_word();
            for w in words {
                log.extend_from_slice(&w.to_le_bytes());
            }
        }
        log
    }

    #[test]
    fn ids_are_content_addressed() {
        let fields = ["backend", "message"];
        let c = CallsiteRef {
            level: Level::Info,
            kind: CallsiteKind::Event,
            name: "event src/agent.rs:10",
            target: "caro::agent",
            file: "src/agent.rs",
            line: 10,
            fields: &fields,
            message: "generating command",
        };
        assert_eq!(encode_callsite(&c).id, encode_callsite(&c).id);
        let moved = CallsiteRef { line: 11, ..c };
        assert_ne!(encode_callsite(&c).id, encode_callsite(&moved).id);
        // Same line, another literal: another callsite.
        let other = CallsiteRef {
            message: "FAILED",
            ..c
        };
        assert_ne!(encode_callsite(&c).id, encode_callsite(&other).id);
    }

    #[test]
    fn parse_skips_unfinished_and_damaged_entries() {
        let a = encode_string("embedded");
        let b = encode_string("static");
        let mut log = log_of(std::slice::from_ref(&a));
        let mut unfinished = b.words.clone();
        unfinished[0] = b.writing_word();
        for w in unfinished {
            log.extend_from_slice(&w.to_le_bytes());
        }
        log.extend_from_slice(&[0xAB; 24]);
        let mut damaged = log_of(std::slice::from_ref(&b));
        damaged[20] ^= 1;
        log.extend_from_slice(&damaged);
        log.extend_from_slice(&log_of(std::slice::from_ref(&b)));
        let d = Dictionary::parse(&log);
        assert_eq!(d.strings.get(&a.id).map(String::as_str), Some("embedded"));
        assert_eq!(d.strings.get(&b.id).map(String::as_str), Some("static"));
        assert_eq!((d.entries, d.unfinished), (2, 1));
        assert!(d.skipped_bytes >= 24);
    }
}

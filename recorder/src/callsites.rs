//! The writer's own tables: which dictionary id each callsite and each
//! static string has in the ring. Fixed-size, open-addressed, filled on a
//! callsite's first use and read lock-free on every record after that.
//!
//! A callsite goes to the dictionary with its first record, not when
//! `tracing` registers it: only then is its message literal known, and the
//! literal is part of its id (two callsites on one line differ by it).

use std::borrow::Cow;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use bytemuck::Zeroable;
use caro_format::dictionary::{
    encode_callsite, encode_string, CallsiteKind, CallsiteRef, EncodedEntry, Level,
};
use caro_format::layout::LaneClass;
use caro_format::DropReason;
use tracing_core::Metadata;
use tracing_subscriber::filter::Targets;

use crate::privacy::FieldRules;

/// What a record needs to know about its callsite.
#[derive(Clone, Copy, Debug)]
pub struct CallsiteInfo {
    /// Dictionary id; 0 until the callsite's first record registers it.
    pub id: u64,
    /// Bit `i` set: field `i`'s values are withheld.
    pub redact: u32,
    /// Bit `i` set: field `i` keeps the text of its `Debug` values, errors
    /// and free text.
    pub keep_text: u32,
    pub class: LaneClass,
    /// Whether the recorder's filter records this callsite: a layer sees
    /// every callsite the host's stack enables and skips the others.
    pub recorded: bool,
    /// Position in the table.
    pub slot: usize,
}

/// Slot flags: the callsite goes to the alert lanes (WARN and above).
const ALERT: u32 = 1;
/// Slot flags: the filter records the callsite.
const RECORDED: u32 = 2;

/// Slot states.
const PREPARED: u32 = 1;
const REGISTERING: u32 = 2;
const READY: u32 = 3;
const FAILED: u32 = 4;

#[derive(Debug, Default, Zeroable)]
struct CallsiteSlot {
    key: AtomicUsize,
    state: AtomicU32,
    id: AtomicU64,
    redact: AtomicU32,
    keep_text: AtomicU32,
    /// [`ALERT`] and [`RECORDED`].
    flags: AtomicU32,
    /// Address and length of the message literal in the callsite's entry.
    message_ptr: AtomicUsize,
    message_len: AtomicUsize,
}

#[derive(Debug, Default, Zeroable)]
struct StringSlot {
    ptr: AtomicUsize,
    len: AtomicUsize,
    id: AtomicU64,
}

const CALLSITES: usize = 4096;
const STRINGS: usize = 4096;
const PROBES: usize = 64;

/// Ids of callsites and static strings this process has put in the ring.
#[derive(Debug)]
pub struct Tables {
    callsites: Box<[CallsiteSlot]>,
    strings: Box<[StringSlot]>,
    rules: FieldRules,
    filter: Targets,
}

#[inline(always)]
fn hash(p: usize) -> usize {
    (p as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(20) as usize
}

impl Tables {
    /// Empty tables whose callsites follow `rules` and are recorded when
    /// `filter` enables them.
    pub fn new(rules: FieldRules, filter: Targets) -> Tables {
        Tables {
            // Zeroed by the allocator: the pages of slots never used are
            // never touched (a short-lived host would pay a page fault
            // for each).
            callsites: bytemuck::zeroed_slice_box(CALLSITES),
            strings: bytemuck::zeroed_slice_box(STRINGS),
            rules,
            filter,
        }
    }

    /// Whether the filter records `meta`.
    #[inline]
    pub fn wants(&self, meta: &Metadata<'_>) -> bool {
        self.filter.would_enable(meta.target(), meta.level())
    }

    /// The callsite of `meta`, prepared (deny-list mask, lane class) on
    /// first sight. Its `id` is 0 until [`Tables::register`] has run.
    #[inline]
    pub fn callsite(&self, meta: &'static Metadata<'static>) -> Result<CallsiteInfo, DropReason> {
        let key = meta as *const Metadata<'static> as usize;
        let start = hash(key);
        for i in 0..PROBES {
            let slot_index = start.wrapping_add(i) % CALLSITES;
            let slot = &self.callsites[slot_index];
            let mut k = slot.key.load(Ordering::Acquire);
            if k == 0 {
                k = match slot
                    .key
                    .compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => {
                        self.prepare(slot, meta);
                        key
                    }
                    Err(k) => k,
                };
            }
            if k != key {
                continue;
            }
            return match slot.state.load(Ordering::Acquire) {
                FAILED => Err(DropReason::DictionaryFull),
                // Another thread is between claiming and preparing it.
                0 => {
                    self.prepare(slot, meta);
                    Ok(self.info(slot_index))
                }
                _ => Ok(self.info(slot_index)),
            };
        }
        Err(DropReason::CallsiteTableFull)
    }

    #[inline(always)]
    fn info(&self, slot_index: usize) -> CallsiteInfo {
        let slot = &self.callsites[slot_index];
        let ready = slot.state.load(Ordering::Acquire) == READY;
        let flags = slot.flags.load(Ordering::Relaxed);
        CallsiteInfo {
            id: if ready {
                slot.id.load(Ordering::Relaxed)
            } else {
                0
            },
            redact: slot.redact.load(Ordering::Relaxed),
            keep_text: slot.keep_text.load(Ordering::Relaxed),
            class: if flags & ALERT != 0 {
                LaneClass::Alert
            } else {
                LaneClass::Main
            },
            recorded: flags & RECORDED != 0,
            slot: slot_index,
        }
    }

    /// Fills a claimed slot's mask, class and filter decision.
    /// Idempotent, so a thread that finds a slot claimed but not yet
    /// prepared may do it too.
    #[cold]
    fn prepare(&self, slot: &CallsiteSlot, meta: &'static Metadata<'static>) {
        let (mut redact, mut keep_text) = (0u32, 0u32);
        for (i, f) in meta.fields().iter().take(32).enumerate() {
            redact |= u32::from(self.rules.withholds(f.name())) << i;
            keep_text |= u32::from(self.rules.keeps_text(f.name())) << i;
        }
        slot.redact.store(redact, Ordering::Relaxed);
        slot.keep_text.store(keep_text, Ordering::Relaxed);
        let alert = level_of(meta.level()) >= Level::Warn;
        let flags = if alert { ALERT } else { 0 } | if self.wants(meta) { RECORDED } else { 0 };
        slot.flags.store(flags, Ordering::Relaxed);
        let _ = slot
            .state
            .compare_exchange(0, PREPARED, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Whether `text` is the message literal registered with `info`.
    #[inline(always)]
    pub fn is_message(&self, info: &CallsiteInfo, text: &str) -> bool {
        let slot = &self.callsites[info.slot];
        slot.message_ptr.load(Ordering::Relaxed) == text.as_ptr() as usize
            && slot.message_len.load(Ordering::Relaxed) == text.len()
    }

    /// Slow path: puts the callsite, with the message literal its first
    /// record carried, in the dictionary. Returns the id to record with;
    /// racing threads register the same entry (or, for a literal that
    /// varies, each their own), and one of them fills the table.
    #[cold]
    pub fn register(
        &self,
        info: &CallsiteInfo,
        meta: &'static Metadata<'static>,
        literal: Option<&str>,
        register: impl FnOnce(&EncodedEntry) -> bool,
    ) -> Result<u64, DropReason> {
        let mut names = [""; caro_format::value::MAX_FIELDS];
        let mut n = 0;
        for (i, f) in meta.fields().iter().take(names.len()).enumerate() {
            names[i] = f.name();
            n = i + 1;
        }
        let message = literal.unwrap_or("");
        let name = source_name(meta.name());
        let entry = encode_callsite(&CallsiteRef {
            level: level_of(meta.level()),
            kind: if meta.is_span() {
                CallsiteKind::Span
            } else {
                CallsiteKind::Event
            },
            name: &name,
            target: meta.target(),
            file: meta.file().map(source_file).unwrap_or(""),
            line: meta.line().unwrap_or(0),
            fields: &names[..n],
            message,
        });
        let slot = &self.callsites[info.slot];
        if !register(&entry) {
            // The dictionary only grows: do not try again on every record.
            let _ =
                slot.state
                    .compare_exchange(PREPARED, FAILED, Ordering::AcqRel, Ordering::Acquire);
            return Err(DropReason::DictionaryFull);
        }
        if slot
            .state
            .compare_exchange(PREPARED, REGISTERING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            slot.message_ptr
                .store(message.as_ptr() as usize, Ordering::Relaxed);
            slot.message_len.store(message.len(), Ordering::Relaxed);
            slot.id.store(entry.id, Ordering::Relaxed);
            slot.state.store(READY, Ordering::Release);
        }
        Ok(entry.id)
    }

    /// The dictionary id of static string `s`, registering it on first use.
    #[inline]
    pub fn string(
        &self,
        s: &str,
        register: impl FnOnce(&EncodedEntry) -> bool,
    ) -> Result<u64, DropReason> {
        let (ptr, len) = (s.as_ptr() as usize, s.len());
        let start = hash(ptr ^ len.rotate_left(48));
        for i in 0..PROBES {
            let slot = &self.strings[start.wrapping_add(i) % STRINGS];
            let p = slot.ptr.load(Ordering::Acquire);
            if p == ptr && slot.len.load(Ordering::Acquire) == len {
                let id = slot.id.load(Ordering::Acquire);
                if id != 0 {
                    return Ok(id);
                }
            }
            if p == 0
                && slot
                    .ptr
                    .compare_exchange(0, ptr, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                slot.len.store(len, Ordering::Release);
                return fill_string(slot, s, register);
            }
        }
        // Table full: still correct, just not cached.
        let entry = encode_string(s);
        if register(&entry) {
            Ok(entry.id)
        } else {
            Err(DropReason::DictionaryFull)
        }
    }
}

#[cold]
fn fill_string(
    slot: &StringSlot,
    s: &str,
    register: impl FnOnce(&EncodedEntry) -> bool,
) -> Result<u64, DropReason> {
    let entry = encode_string(s);
    if !register(&entry) {
        return Err(DropReason::DictionaryFull);
    }
    slot.id.store(entry.id, Ordering::Release);
    Ok(entry.id)
}

pub fn level_of(level: &tracing_core::Level) -> Level {
    match *level {
        tracing_core::Level::TRACE => Level::Trace,
        tracing_core::Level::DEBUG => Level::Debug,
        tracing_core::Level::INFO => Level::Info,
        tracing_core::Level::WARN => Level::Warn,
        _ => Level::Error,
    }
}

/// A source path as the dictionary keeps it: relative paths as they are;
/// absolute ones (dependencies built from a home folder) from their last
/// `src/` on, so no user or folder name reaches the ring.
pub fn source_file(path: &str) -> &str {
    let absolute = path.starts_with('/') || path.starts_with('\\') || path.get(1..3) == Some(":\\");
    if !absolute {
        return path;
    }
    match path.rfind("/src/").or_else(|| path.rfind("\\src\\")) {
        Some(i) => &path[i + 1..],
        None => path.rsplit(['/', '\\']).next().unwrap_or(""),
    }
}

/// A callsite name as the dictionary keeps it: `tracing` names events
/// `event {file}:{line}`, and the file goes through [`source_file`].
pub fn source_name(name: &str) -> Cow<'_, str> {
    match name
        .strip_prefix("event ")
        .and_then(|rest| rest.rsplit_once(':'))
    {
        Some((file, line)) if source_file(file) != file => {
            Cow::Owned(format!("event {}:{line}", source_file(file)))
        }
        _ => Cow::Borrowed(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_lose_their_home_too() {
        assert_eq!(source_name("event src/main.rs:7"), "event src/main.rs:7");
        assert_eq!(
            source_name("event /home/alice/.cargo/registry/src/x-1.0/src/lib.rs:12"),
            "event src/lib.rs:12"
        );
        assert_eq!(source_name("process_query"), "process_query");
    }

    #[test]
    fn absolute_source_paths_lose_their_home() {
        assert_eq!(source_file("src/main.rs"), "src/main.rs");
        assert_eq!(
            source_file("/home/alice/.cargo/registry/src/index/tokio-1.0/src/runtime/mod.rs"),
            "src/runtime/mod.rs"
        );
        assert_eq!(source_file("/home/alice/x.rs"), "x.rs");
        assert_eq!(
            source_file("C:\\Users\\bob\\proj\\src\\lib.rs"),
            "src\\lib.rs"
        );
    }
}

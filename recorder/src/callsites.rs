//! The writer's own tables: which dictionary id each callsite and each
//! static string has in the ring. Fixed-size, open-addressed, filled on a
//! callsite's first use and read lock-free on every record after that.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use caro_format::dictionary::{
    encode_callsite, encode_message, encode_string, CallsiteKind, CallsiteRef, Level,
};
use caro_format::layout::LaneClass;
use tracing_core::Metadata;

/// Field names whose values are never written, only their length: the
/// last dotted segment is compared, ignoring case.
pub const DENY_LIST: &[&str] = &[
    "query", "prompt", "input", "command", "cmd", "path", "file", "filename", "dir", "cwd", "home",
    "user", "username", "host", "hostname", "email", "ip", "addr", "url", "env", "token", "key",
    "secret", "password",
];

/// Whether the value of a field named `name` must be withheld.
pub fn denied(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    DENY_LIST.iter().any(|d| d.eq_ignore_ascii_case(last))
}

/// What a record needs to know about its callsite.
#[derive(Clone, Copy, Debug)]
pub struct CallsiteInfo {
    pub id: u64,
    /// Bit `i` set: field `i`'s values are withheld.
    pub redact: u32,
    pub class: LaneClass,
    /// Position in the table, for the message-literal cache.
    pub slot: usize,
}

#[derive(Debug, Default)]
struct CallsiteSlot {
    key: AtomicUsize,
    id: AtomicU64,
    redact: AtomicU32,
    alert: AtomicU32,
    /// Address of the message literal registered for this callsite.
    message: AtomicUsize,
}

#[derive(Debug, Default)]
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
}

#[inline(always)]
fn hash(p: usize) -> usize {
    (p as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(20) as usize
}

/// The result of registering something in the dictionary.
pub type Registered<T> = Result<T, caro_format::DropReason>;

impl Default for Tables {
    fn default() -> Self {
        Tables {
            callsites: (0..CALLSITES).map(|_| CallsiteSlot::default()).collect(),
            strings: (0..STRINGS).map(|_| StringSlot::default()).collect(),
        }
    }
}

impl Tables {
    /// The callsite of `meta`, registering it with `register` on first use.
    #[inline]
    pub fn callsite(
        &self,
        meta: &'static Metadata<'static>,
        register: impl FnOnce(&caro_format::dictionary::EncodedEntry) -> bool,
    ) -> Registered<CallsiteInfo> {
        let key = meta as *const Metadata<'static> as usize;
        let start = hash(key);
        for i in 0..PROBES {
            let slot_index = (start + i) % CALLSITES;
            let slot = &self.callsites[slot_index];
            let k = slot.key.load(Ordering::Acquire);
            if k == key {
                let id = slot.id.load(Ordering::Acquire);
                if id != 0 {
                    return Ok(CallsiteInfo {
                        id,
                        redact: slot.redact.load(Ordering::Relaxed),
                        class: if slot.alert.load(Ordering::Relaxed) != 0 {
                            LaneClass::Alert
                        } else {
                            LaneClass::Main
                        },
                        slot: slot_index,
                    });
                }
                return self.fill(slot_index, meta, register);
            }
            if k == 0 {
                match slot
                    .key
                    .compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => return self.fill(slot_index, meta, register),
                    Err(k) if k == key => return self.fill(slot_index, meta, register),
                    Err(_) => continue,
                }
            }
        }
        Err(caro_format::DropReason::CallsiteTableFull)
    }

    /// Slow path: encode the callsite, put it in the dictionary, remember
    /// its id. Racing threads do the same work and store the same values.
    #[cold]
    fn fill(
        &self,
        slot_index: usize,
        meta: &'static Metadata<'static>,
        register: impl FnOnce(&caro_format::dictionary::EncodedEntry) -> bool,
    ) -> Registered<CallsiteInfo> {
        let mut names = [""; caro_format::value::MAX_FIELDS];
        let mut redact = 0u32;
        let mut n = 0;
        for (i, f) in meta.fields().iter().take(names.len()).enumerate() {
            names[i] = f.name();
            if denied(f.name()) {
                redact |= 1 << i;
            }
            n = i + 1;
        }
        let level = level_of(meta.level());
        let file = meta.file().map(source_file).unwrap_or("");
        let entry = encode_callsite(&CallsiteRef {
            level,
            kind: if meta.is_span() {
                CallsiteKind::Span
            } else {
                CallsiteKind::Event
            },
            name: meta.name(),
            target: meta.target(),
            file,
            line: meta.line().unwrap_or(0),
            fields: &names[..n],
        });
        if !register(&entry) {
            return Err(caro_format::DropReason::DictionaryFull);
        }
        let slot = &self.callsites[slot_index];
        let alert = level >= Level::Warn;
        slot.redact.store(redact, Ordering::Relaxed);
        slot.alert.store(alert as u32, Ordering::Relaxed);
        slot.id.store(entry.id, Ordering::Release);
        Ok(CallsiteInfo {
            id: entry.id,
            redact,
            class: if alert {
                LaneClass::Alert
            } else {
                LaneClass::Main
            },
            slot: slot_index,
        })
    }

    /// Whether `text` (a static literal) is the message literal already
    /// registered for callsite `info`; registers it if the callsite has
    /// none yet. False means: record it as a plain static string.
    #[inline]
    pub fn message(
        &self,
        info: &CallsiteInfo,
        text: &str,
        register: impl FnOnce(&caro_format::dictionary::EncodedEntry) -> bool,
    ) -> bool {
        let slot = &self.callsites[info.slot];
        let ptr = text.as_ptr() as usize;
        match slot.message.load(Ordering::Acquire) {
            p if p == ptr => true,
            0 => {
                if !register(&encode_message(info.id, text)) {
                    return false;
                }
                slot.message
                    .compare_exchange(0, ptr, Ordering::AcqRel, Ordering::Acquire)
                    .map_or_else(|p| p == ptr, |_| true)
            }
            _ => false,
        }
    }

    /// The dictionary id of static string `s`, registering it on first use.
    #[inline]
    pub fn string(
        &self,
        s: &str,
        register: impl FnOnce(&caro_format::dictionary::EncodedEntry) -> bool,
    ) -> Registered<u64> {
        let (ptr, len) = (s.as_ptr() as usize, s.len());
        let start = hash(ptr ^ len.rotate_left(48));
        for i in 0..PROBES {
            let slot = &self.strings[(start + i) % STRINGS];
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
                return self.fill_string(slot, s, register);
            }
        }
        // Table full: still correct, just not cached.
        let entry = encode_string(s);
        if register(&entry) {
            Ok(entry.id)
        } else {
            Err(caro_format::DropReason::DictionaryFull)
        }
    }

    #[cold]
    fn fill_string(
        &self,
        slot: &StringSlot,
        s: &str,
        register: impl FnOnce(&caro_format::dictionary::EncodedEntry) -> bool,
    ) -> Registered<u64> {
        let entry = encode_string(s);
        if !register(&entry) {
            return Err(caro_format::DropReason::DictionaryFull);
        }
        slot.id.store(entry.id, Ordering::Release);
        Ok(entry.id)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_list_matches_the_last_segment_ignoring_case() {
        assert!(denied("query"));
        assert!(denied("request.Query"));
        assert!(!denied("API_KEY"));
        assert!(denied("auth.key"));
        assert!(!denied("query_length"));
        assert!(!denied("backend"));
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

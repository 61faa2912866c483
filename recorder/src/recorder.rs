//! The recorder's shared core: one open ring, the writer's tables, the
//! filter; what both the subscriber and the layer call to write records.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use bytemuck::Zeroable;
use caro_format::dictionary::EncodedEntry;
use caro_format::layout::LaneClass;
use caro_format::slot::{record_flags, RecordHead, RecordKind};
use caro_format::ValueWriter;
use tracing_core::field::Visit;
use tracing_core::{Event, Metadata};
use tracing_subscriber::filter::{LevelFilter, Targets};

use crate::callsites::{CallsiteInfo, Tables};
use crate::clock::Clock;
use crate::fields::FieldEncoder;
use crate::output::Output;
use crate::privacy::FieldRules;
use crate::ring::Ring;
use crate::sys::{MetadataCell, StaticMemory};
use crate::thread::THREAD;

/// The recorder: everything a record needs, shared by every thread.
#[derive(Debug)]
pub struct Recorder {
    pub(crate) ring: Ring,
    pub(crate) tables: Tables,
    pub(crate) statics: StaticMemory,
    /// The most verbose level the filter records anywhere.
    pub(crate) max_level: LevelFilter,
    pub(crate) clock: Clock,
    pub(crate) spans: SpanTable,
    /// Whether span entries and exits are recorded.
    pub(crate) enter_exit: bool,
    /// When the process started recording, and the dictionary id of the
    /// host's version: what its identities say (set once, at start).
    pub(crate) started_ns: AtomicU64,
    pub(crate) version_id: AtomicU64,
    /// Live output, when asked for: the places of records to show.
    pub(crate) output: Option<Output>,
}

impl Recorder {
    pub(crate) fn new(
        ring: Ring,
        filter: Targets,
        rules: FieldRules,
        clock: Option<fn() -> u64>,
        enter_exit: bool,
        output: Option<Output>,
    ) -> Recorder {
        crate::thread::watch_forks();
        let max_level = filter
            .iter()
            .map(|(_, l)| l)
            .chain(filter.default_level())
            .max()
            .unwrap_or(LevelFilter::OFF);
        Recorder {
            clock: clock.map_or_else(|| Clock::new(&ring), Clock::Host),
            ring,
            tables: Tables::new(rules, filter),
            statics: StaticMemory::of_this_process(),
            max_level,
            spans: SpanTable::default(),
            enter_exit,
            started_ns: AtomicU64::new(0),
            version_id: AtomicU64::new(0),
            output,
        }
    }

    /// Whether the filter records `meta`.
    #[inline]
    pub(crate) fn wants(&self, meta: &Metadata<'_>) -> bool {
        self.tables.wants(meta)
    }

    fn register(&self, entry: &EncodedEntry) -> bool {
        self.ring.register(entry).is_ok()
    }

    /// The callsite of `meta`, prepared on first sight, if the filter
    /// records it; `None` (and the drop counted) when the table has no
    /// room or it could not be registered.
    #[inline]
    pub(crate) fn callsite(&self, meta: &'static Metadata<'static>) -> Option<CallsiteInfo> {
        self.tables
            .callsite(meta)
            .map_err(|why| self.ring.count_drop(why))
            .ok()
            .filter(|info| info.recorded)
    }

    /// Visits `record`'s fields into `enc` and writes them as a record of
    /// `kind`, registering the callsite on its first record. The encoder
    /// stays where the caller made it: its buffer is never copied.
    #[inline]
    fn encode_and_write(
        &self,
        kind: RecordKind,
        span: u32,
        meta: &'static Metadata<'static>,
        enc: &mut FieldEncoder<'_>,
        record: impl FnOnce(&mut dyn Visit),
    ) -> Option<u64> {
        record(enc);
        let info = enc.callsite;
        let id = match info.id {
            0 => self
                .tables
                .register(info, meta, enc.literal, |e| self.register(e))
                .map_err(|why| self.ring.count_drop(why))
                .ok()?,
            id => id,
        };
        self.write(info.class, kind, id, span, &enc.out);
        Some(id)
    }

    /// The dictionary id of a read-only string.
    #[inline]
    pub(crate) fn string_id(&self, s: &str) -> Option<u64> {
        self.tables.string(s, |e| self.register(e)).ok()
    }

    /// Writes a record stamped now by this thread.
    #[inline]
    pub(crate) fn write(
        &self,
        class: LaneClass,
        kind: RecordKind,
        callsite: u64,
        span: u32,
        values: &ValueWriter,
    ) {
        let _ = THREAD.try_with(|t| {
            t.renew(self as *const Recorder as usize);
            // Before the thread's first record: which process it is in
            // (THREAD_START, written through here, puts the identity first).
            let thread = t.tid(|_| crate::process::thread_start(self));
            let turn = t.turn(class);
            // Between turns (1/32 of a lane), not at every record.
            if turn.get().is_over() {
                t.keep_identity(
                    |seq| self.ring.identity_aging(seq),
                    || self.write_identity(thread),
                );
            }
            let head = RecordHead {
                time_ns: self.clock.now_ns(),
                callsite,
                span,
                thread,
                kind: kind.code(),
                flags: record_flags(values.left_out()),
            };
            if values.truncated() {
                self.ring.count_left_out(values.left_out());
            }
            let place = self.ring.write_values(class, turn, &head, values);
            if let Some(output) = &self.output {
                output.feed.push(place);
            }
        });
    }

    /// Writes the identity of thread `tid` of this process into the
    /// ring's table; its number, or `None` when the file has no table
    /// (files older than v1.3).
    #[cold]
    fn write_identity(&self, tid: u32) -> Option<u64> {
        let entry = caro_format::layout::IdentityEntry {
            pid: std::process::id(),
            tid,
            started_ns: self.started_ns.load(Ordering::Relaxed),
            since_ns: self.clock.now_ns(),
            version: self.version_id.load(Ordering::Relaxed),
            ..Zeroable::zeroed()
        };
        self.ring.write_identity(&entry)
    }

    /// Records an event whose span (0 for none) is `span`.
    #[inline]
    pub(crate) fn event(&self, event: &Event<'_>, span: u32) {
        let meta = event.metadata();
        let Some(info) = self.callsite(meta) else {
            return;
        };
        let mut enc = FieldEncoder::new(self, &info, ValueWriter::new());
        self.encode_and_write(RecordKind::Event, span, meta, &mut enc, |v| event.record(v));
    }

    /// Records a new span with its fields; returns its callsite and id.
    pub(crate) fn span_new(
        &self,
        attrs: &tracing_core::span::Attributes<'_>,
        ring_id: u32,
        parent: u32,
    ) -> Option<(CallsiteInfo, u64)> {
        let meta = attrs.metadata();
        let info = self.callsite(meta)?;
        let mut enc = FieldEncoder::new(self, &info, ValueWriter::with_parent(parent));
        let id = self.encode_and_write(RecordKind::SpanNew, ring_id, meta, &mut enc, |v| {
            attrs.record(v)
        })?;
        Some((info, id))
    }

    /// Records values given to a span after its creation.
    pub(crate) fn span_record(
        &self,
        meta: &'static Metadata<'static>,
        ring_id: u32,
        values: &tracing_core::span::Record<'_>,
    ) {
        let Some(info) = self.callsite(meta) else {
            return;
        };
        let mut enc = FieldEncoder::new(self, &info, ValueWriter::new());
        self.encode_and_write(RecordKind::SpanRecord, ring_id, meta, &mut enc, |v| {
            values.record(v)
        });
    }

    /// Records a span's enter, exit or close.
    #[inline]
    pub(crate) fn span_mark(
        &self,
        kind: RecordKind,
        class: LaneClass,
        callsite: u64,
        ring_id: u32,
    ) {
        // No payload: share one empty writer rather than zero a new one.
        static EMPTY: ValueWriter = ValueWriter::new();
        self.write(class, kind, callsite, ring_id, &EMPTY);
    }

    /// A fresh span id for the ring.
    #[inline]
    pub(crate) fn new_span_id(&self) -> u32 {
        THREAD
            .try_with(|t| {
                t.renew(self as *const Recorder as usize);
                t.span_id(|n| self.ring.reserve_span_ids(n))
            })
            .unwrap_or_else(|_| self.ring.reserve_span_ids(1))
    }

    /// Records a built-in record (process start or exit, panic).
    pub(crate) fn builtin(&self, kind: RecordKind, values: &ValueWriter) {
        self.write(LaneClass::Alert, kind, 0, 0, values);
    }
}

/// The ring id of the thread's current span, 0 for none: from the
/// subscriber's own span stack, or from the registry a layer sits on.
pub(crate) fn current_ring_span() -> u32 {
    THREAD
        .try_with(|t| t.current())
        .ok()
        .flatten()
        .map(|e| e.ring_id)
        .or_else(crate::layer::current_ring_span)
        .unwrap_or(0)
}

/// Reference counts of the spans the subscriber hands out, so it knows
/// when one closes, and their callsites. Fixed-size; a span that finds no
/// room is still recorded, only its close is not.
#[derive(Debug)]
pub struct SpanTable {
    slots: Box<[SpanSlot]>,
}

#[derive(Debug, Default, Zeroable)]
struct SpanSlot {
    refs: AtomicU32,
    callsite: AtomicU64,
    meta: MetadataCell,
}

/// Spans open at once, across all threads, whose closes are recorded.
const SPAN_TABLE: usize = 16384;

impl Default for SpanTable {
    fn default() -> Self {
        SpanTable {
            // Zeroed by the allocator, its unused pages never touched.
            slots: bytemuck::zeroed_slice_box(SPAN_TABLE),
        }
    }
}

impl SpanTable {
    /// Takes a free entry for a span, the first free one from `hint` on;
    /// returns its index + 1, or 0 when the table is full.
    pub fn open(&self, hint: usize, callsite: u64, meta: &'static Metadata<'static>) -> u32 {
        for i in 0..SPAN_TABLE {
            let at = hint.wrapping_add(i) % SPAN_TABLE;
            let slot = &self.slots[at];
            if slot.refs.load(Ordering::Relaxed) == 0
                && slot
                    .refs
                    .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                slot.callsite.store(callsite, Ordering::Relaxed);
                slot.meta.set(meta);
                return at as u32 + 1;
            }
        }
        0
    }

    fn slot(&self, key: u32) -> Option<&SpanSlot> {
        key.checked_sub(1).and_then(|i| self.slots.get(i as usize))
    }

    /// The callsite id and metadata of the span in entry `key`.
    pub fn callsite(&self, key: u32) -> (u64, Option<&'static Metadata<'static>>) {
        self.slot(key).map_or((0, None), |s| {
            (s.callsite.load(Ordering::Relaxed), s.meta.get())
        })
    }

    pub fn clone_ref(&self, key: u32) {
        if let Some(s) = self.slot(key) {
            s.refs.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Drops a reference; true when it was the last.
    pub fn close_ref(&self, key: u32) -> bool {
        self.slot(key)
            .is_some_and(|s| s.refs.fetch_sub(1, Ordering::AcqRel) == 1)
    }
}

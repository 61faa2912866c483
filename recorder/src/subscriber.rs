//! The recorder as a complete `tracing` subscriber: what `init()`
//! installs. Interest is decided once per callsite; span ids carry the
//! ring's span id, so entering or leaving a span needs no lookup.

use std::sync::Arc;

use caro_format::layout::LaneClass;
use caro_format::slot::RecordKind;
use tracing_core::span::{Attributes, Current, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, Metadata, Subscriber};
use tracing_subscriber::filter::LevelFilter;

use crate::thread::{Entered, THREAD};
use crate::Recorder;

/// A `tracing` subscriber that records into the ring.
#[derive(Clone, Debug)]
pub struct RingSubscriber {
    rec: Arc<Recorder>,
}

/// The pieces a span's `Id` packs: table slot + 1 (0: untracked), class,
/// ring span id.
#[derive(Clone, Copy)]
struct SpanKey {
    slot: u32,
    alert: bool,
    ring_id: u32,
}

impl SpanKey {
    fn to_id(self) -> Id {
        let low = u64::from(self.slot) | if self.alert { 1 << 31 } else { 0 };
        // Never 0: ring ids are never 0.
        Id::from_u64(low | u64::from(self.ring_id) << 32)
    }

    fn from_id(id: &Id) -> SpanKey {
        let v = id.into_u64();
        SpanKey {
            slot: (v as u32) & 0x7FFF_FFFF,
            alert: v & (1 << 31) != 0,
            ring_id: (v >> 32) as u32,
        }
    }

    fn class(self) -> LaneClass {
        if self.alert {
            LaneClass::Alert
        } else {
            LaneClass::Main
        }
    }
}

/// The ring id of a new span's or an event's parent: the explicit one,
/// else the thread's current span when the parent is contextual, else none.
#[inline]
fn parent_ring_id(explicit: Option<&Id>, contextual: bool) -> u32 {
    match explicit {
        Some(p) => SpanKey::from_id(p).ring_id,
        None if contextual => THREAD
            .try_with(|t| t.current())
            .ok()
            .flatten()
            .map_or(0, |e| e.ring_id),
        None => 0,
    }
}

impl RingSubscriber {
    pub(crate) fn new(rec: Arc<Recorder>) -> RingSubscriber {
        RingSubscriber { rec }
    }

    fn mark(&self, kind: RecordKind, key: SpanKey) {
        let (callsite, _) = self.rec.spans.callsite(key.slot);
        self.rec.span_mark(kind, key.class(), callsite, key.ring_id);
    }
}

impl Subscriber for RingSubscriber {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.rec.wants(meta) {
            // Prepare its table entry now; it reaches the dictionary with
            // its first record, which is not dropped if this fails.
            let _ = self.rec.tables.callsite(meta);
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        self.rec.wants(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.rec.max_level)
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let parent = parent_ring_id(attrs.parent(), attrs.is_contextual());
        let ring_id = self.rec.new_span_id();
        let (slot, alert) = match self.rec.span_new(attrs, ring_id, parent) {
            Some((info, callsite)) => (
                THREAD
                    .try_with(|t| {
                        t.span_slot(|hint| self.rec.spans.open(hint, callsite, attrs.metadata()))
                    })
                    .unwrap_or(0),
                info.class == LaneClass::Alert,
            ),
            None => (0, false),
        };
        SpanKey {
            slot,
            alert,
            ring_id,
        }
        .to_id()
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let key = SpanKey::from_id(span);
        if let (_, Some(meta)) = self.rec.spans.callsite(key.slot) {
            self.rec.span_record(meta, key.ring_id, values);
        }
    }

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    #[inline]
    fn event(&self, event: &Event<'_>) {
        let span = parent_ring_id(event.parent(), event.is_contextual());
        self.rec.event(event, span);
    }

    fn enter(&self, span: &Id) {
        let key = SpanKey::from_id(span);
        let (_, meta) = self.rec.spans.callsite(key.slot);
        let _ = THREAD.try_with(|t| {
            if let Ok(mut s) = t.stack.try_borrow_mut() {
                s.push(Entered {
                    id: span.into_u64(),
                    ring_id: key.ring_id,
                    meta,
                });
            }
        });
        if self.rec.enter_exit {
            self.mark(RecordKind::SpanEnter, key);
        }
    }

    fn exit(&self, span: &Id) {
        let _ = THREAD.try_with(|t| {
            if let Ok(mut s) = t.stack.try_borrow_mut() {
                s.pop(span.into_u64());
            }
        });
        if self.rec.enter_exit {
            self.mark(RecordKind::SpanExit, SpanKey::from_id(span));
        }
    }

    fn clone_span(&self, id: &Id) -> Id {
        self.rec.spans.clone_ref(SpanKey::from_id(id).slot);
        id.clone()
    }

    fn try_close(&self, id: Id) -> bool {
        let key = SpanKey::from_id(&id);
        if self.rec.spans.close_ref(key.slot) {
            self.mark(RecordKind::SpanClose, key);
            true
        } else {
            false
        }
    }

    fn current_span(&self) -> Current {
        match THREAD.try_with(|t| t.current()).ok().flatten() {
            Some(Entered {
                id,
                meta: Some(meta),
                ..
            }) => Current::new(Id::from_u64(id), meta),
            _ => Current::none(),
        }
    }
}

//! The recorder as a `tracing_subscriber::Layer`, for hosts that compose
//! it with their own `fmt` layer and filters.
//!
//! The layer filters by itself, inside its callbacks, rather than as a
//! per-layer filter (`Filtered`): a per-layer filter needs the registry
//! directly beneath it and panics the host at start-up anywhere else
//! (`fmt().finish().with(layer)`). So the layer never vetoes a callsite
//! (its interest is `always`, its `enabled` the default, no level hint):
//! what the rest of the stack enables it sees, and records what its own
//! filter wants. A global filter in the stack (`fmt().with_env_filter`,
//! an `EnvFilter` layer) still hides from it what that filter disables.

use std::sync::Arc;

use caro_format::layout::LaneClass;
use caro_format::slot::RecordKind;
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::Recorder;

/// A layer that records into the ring. Build it with [`crate::layer`]; it
/// applies the recorder's own filter (`RUST_LOG` above the floor) to
/// itself alone.
#[derive(Clone, Debug)]
pub struct RingLayer {
    rec: Arc<Recorder>,
}

/// The ring's view of a registry span, kept in its extensions.
#[derive(Clone, Copy, Debug)]
struct RingSpan {
    ring_id: u32,
    callsite: u64,
    class: LaneClass,
}

impl RingLayer {
    pub(crate) fn new(rec: Arc<Recorder>) -> RingLayer {
        RingLayer { rec }
    }

    fn ring_span<S>(&self, id: &Id, ctx: &Context<'_, S>) -> Option<RingSpan>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        ctx.span(id)?.extensions().get::<RingSpan>().copied()
    }

    /// Whether `meta` is above every level the recorder records: the
    /// first, cheapest test of each callback, as a host's console may
    /// enable far more than the recorder keeps.
    #[inline(always)]
    fn too_verbose(&self, meta: &Metadata<'_>) -> bool {
        *meta.level() > self.rec.max_level
    }

    fn mark<S>(&self, kind: RecordKind, id: &Id, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if let Some(s) = self.ring_span(id, ctx) {
            self.rec.span_mark(kind, s.class, s.callsite, s.ring_id);
        }
    }
}

impl<S> Layer<S> for RingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.rec.wants(meta) {
            // Prepare its table entry now, off the first record's path.
            let _ = self.rec.tables.callsite(meta);
        }
        Interest::always()
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if self.too_verbose(attrs.metadata()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let parent = span
            .parent()
            .and_then(|p| p.extensions().get::<RingSpan>().map(|r| r.ring_id))
            .unwrap_or(0);
        let ring_id = self.rec.new_span_id();
        if let Some((info, callsite)) = self.rec.span_new(attrs, ring_id, parent) {
            span.extensions_mut().insert(RingSpan {
                ring_id,
                callsite,
                class: info.class,
            });
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let (Some(span), Some(s)) = (ctx.span(id), self.ring_span(id, &ctx)) {
            self.rec.span_record(span.metadata(), s.ring_id, values);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if self.too_verbose(event.metadata()) {
            return;
        }
        let span = ctx
            .event_span(event)
            .and_then(|s| s.extensions().get::<RingSpan>().map(|r| r.ring_id))
            .unwrap_or(0);
        self.rec.event(event, span);
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if self.rec.enter_exit {
            self.mark(RecordKind::SpanEnter, id, &ctx);
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if self.rec.enter_exit {
            self.mark(RecordKind::SpanExit, id, &ctx);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        self.mark(RecordKind::SpanClose, &id, &ctx);
    }
}

/// The ring id of the current span of the registry under the default
/// dispatcher, when the recorder is a layer on one.
pub(crate) fn current_ring_span() -> Option<u32> {
    tracing_core::dispatcher::get_default(|d| {
        let registry = d.downcast_ref::<tracing_subscriber::Registry>()?;
        let current = registry.current_span();
        let span = registry.span(current.id()?)?;
        let ring_id = span.extensions().get::<RingSpan>().map(|r| r.ring_id);
        ring_id
    })
}

//! What each writing thread keeps for itself: its id and identity, its
//! turn at a lane of each class, the stack of spans it is in, and a block
//! of span ids. Thread-local and
//! const-initialised, so reading it costs a few instructions and never
//! allocates.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

use caro_format::LaneClass;

use crate::ring::Turn;

/// Bumped in the child after every `fork`: the forking thread's state was
/// copied, and its thread id and span ids belong to the parent.
static FORKS: AtomicU32 = AtomicU32::new(0);

extern "C" fn forked() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// Arranges for thread state to be renewed in forked children.
pub fn watch_forks() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| crate::sys::on_fork_in_child(forked));
}

/// Deepest span nesting tracked; deeper spans still record, but events
/// inside them are attributed to the deepest tracked one.
pub const MAX_DEPTH: usize = 64;
/// Span ids a thread takes from the ring at a time.
pub const SPAN_ID_BLOCK: u32 = 256;

/// One entered span.
#[derive(Clone, Copy, Debug)]
pub struct Entered {
    /// The id tracing knows the span by.
    pub id: u64,
    /// The span's id in the ring.
    pub ring_id: u32,
    pub meta: Option<&'static tracing_core::Metadata<'static>>,
}

#[derive(Debug)]
pub struct SpanStack {
    entries: [Entered; MAX_DEPTH],
    depth: usize,
}

impl SpanStack {
    const fn new() -> SpanStack {
        SpanStack {
            entries: [Entered {
                id: 0,
                ring_id: 0,
                meta: None,
            }; MAX_DEPTH],
            depth: 0,
        }
    }

    pub fn push(&mut self, e: Entered) {
        if self.depth < MAX_DEPTH {
            self.entries[self.depth] = e;
        }
        self.depth += 1;
    }

    /// Removes `id`: normally the top, but spans may exit out of order.
    pub fn pop(&mut self, id: u64) {
        let tracked = self.depth.min(MAX_DEPTH);
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            return;
        }
        // The usual case: the span exited is the innermost.
        if tracked > 0 && self.entries[tracked - 1].id == id {
            self.depth -= 1;
            return;
        }
        if let Some(pos) = self.entries[..tracked].iter().rposition(|e| e.id == id) {
            self.entries.copy_within(pos + 1..tracked, pos);
            self.depth -= 1;
        }
    }

    pub fn current(&self) -> Option<Entered> {
        let tracked = self.depth.min(MAX_DEPTH);
        tracked.checked_sub(1).map(|i| self.entries[i])
    }
}

#[derive(Debug)]
pub struct ThreadState {
    /// OS thread id; 0 until first asked.
    tid: Cell<u32>,
    /// Its turn at a main lane and at an alert lane.
    pub main: Cell<Turn>,
    pub alert: Cell<Turn>,
    /// The number of its identity in the ring's table, plus one; 0 for
    /// none.
    identity: Cell<u64>,
    next_span: Cell<u32>,
    span_end: Cell<u32>,
    /// Where this thread looks for a free span-table entry next.
    span_cursor: Cell<usize>,
    /// [`FORKS`] when this state was made.
    forks: Cell<u32>,
    /// The recorder this state is for.
    ring: Cell<usize>,
    pub stack: RefCell<SpanStack>,
}

thread_local! {
    pub static THREAD: ThreadState = const {
        ThreadState {
            tid: Cell::new(0),
            main: Cell::new(Turn::NONE),
            alert: Cell::new(Turn::NONE),
            identity: Cell::new(0),
            next_span: Cell::new(0),
            span_end: Cell::new(0),
            span_cursor: Cell::new(usize::MAX),
            forks: Cell::new(0),
            ring: Cell::new(0),
            stack: RefCell::new(SpanStack::new()),
        }
    };
}

impl ThreadState {
    /// Forgets what a fork copied from the parent's thread, and what the
    /// thread knew of another ring than `ring` (a recorder's address: a
    /// test's capture after the process's own recorder, on one thread).
    #[inline(always)]
    pub fn renew(&self, ring: usize) {
        let forks = FORKS.load(Ordering::Relaxed);
        if self.forks.get() != forks || self.ring.get() != ring {
            self.forks.set(forks);
            self.ring.set(ring);
            self.tid.set(0);
            // The child's identity is written with its first record, which
            // starts a turn.
            self.identity.set(0);
            self.main.set(Turn::NONE);
            self.alert.set(Turn::NONE);
            self.next_span.set(0);
            self.span_end.set(0);
        }
    }

    /// The thread's id; the first time (and the first after a fork),
    /// `started` is told it first.
    #[inline(always)]
    pub fn tid(&self, started: impl FnOnce(u32)) -> u32 {
        match self.tid.get() {
            0 => {
                let t = crate::sys::thread_id();
                self.tid.set(t);
                started(t);
                t
            }
            t => t,
        }
    }

    /// The thread's turn at a lane of `class`.
    #[inline(always)]
    pub fn turn(&self, class: LaneClass) -> &Cell<Turn> {
        match class {
            LaneClass::Main => &self.main,
            LaneClass::Alert => &self.alert,
        }
    }

    /// Keeps the thread's identity in the table current: `write` writes it
    /// (returning its number, `None` when the file has no table) the first
    /// time, after a fork, and whenever `aging` says the table has moved on
    /// by half since. Called between turns, not for every record.
    #[inline(always)]
    pub fn keep_identity(
        &self,
        aging: impl FnOnce(u64) -> bool,
        write: impl FnOnce() -> Option<u64>,
    ) {
        let id = self.identity.get();
        if id == 0 || aging(id - 1) {
            // Without a table there is nothing to keep: `aging` never
            // fires, whatever number stands here.
            self.identity.set(write().map_or(u64::MAX, |seq| seq + 1));
        }
    }

    /// A fresh span id, from this thread's block or a new one.
    #[inline]
    pub fn span_id(&self, reserve: impl FnOnce(u32) -> u32) -> u32 {
        let next = self.next_span.get();
        if next != 0 && next < self.span_end.get() {
            self.next_span.set(next + 1);
            return next;
        }
        let first = reserve(SPAN_ID_BLOCK);
        self.next_span.set(first + 1);
        self.span_end.set(first + SPAN_ID_BLOCK);
        first
    }

    /// A span-table entry from `open`, which searches from the hint it is
    /// given; threads start apart and each moves on from its last entry.
    #[inline]
    pub fn span_slot(&self, open: impl FnOnce(usize) -> u32) -> u32 {
        let hint = match self.span_cursor.get() {
            usize::MAX => (crate::sys::thread_id() as usize).wrapping_mul(97),
            c => c,
        };
        let slot = open(hint);
        if slot != 0 {
            self.span_cursor.set(slot as usize);
        }
        slot
    }

    /// The innermost entered span, if any.
    #[inline]
    pub fn current(&self) -> Option<Entered> {
        self.stack.try_borrow().ok().and_then(|s| s.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: u64) -> Entered {
        Entered {
            id,
            ring_id: id as u32,
            meta: None,
        }
    }

    #[test]
    fn stack_handles_out_of_order_exits_and_overflow() {
        let mut s = SpanStack::new();
        s.push(e(1));
        s.push(e(2));
        s.push(e(3));
        s.pop(2);
        assert_eq!(s.current().unwrap().id, 3);
        s.pop(3);
        assert_eq!(s.current().unwrap().id, 1);
        s.pop(1);
        assert!(s.current().is_none());
        for i in 0..MAX_DEPTH as u64 + 5 {
            s.push(e(i + 1));
        }
        assert_eq!(s.current().unwrap().id, MAX_DEPTH as u64);
        for i in (0..MAX_DEPTH as u64 + 5).rev() {
            s.pop(i + 1);
        }
        assert!(s.current().is_none());
    }
}

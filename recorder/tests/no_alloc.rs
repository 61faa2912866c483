//! After a callsite's first use, recording an event allocates nothing:
//! a counting global allocator watches this thread while events are
//! recorded through the installed subscriber.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers every operation to the system allocator unchanged; it only
// counts, in a const thread-local that itself never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[derive(Debug)]
enum Backend {
    Static,
}

/// What a host made at run time, before the loop: the user's command and
/// an error about it.
struct Request {
    command: String,
    error: std::io::Error,
}

fn one_request(i: u64, r: &Request) {
    let span = tracing::info_span!("process_query", intent = "file_search");
    let _entered = span.enter();
    tracing::info!(
        backend = "static",
        latency_ms = i,
        confidence = 0.92,
        "command generated"
    );
    tracing::info!(backend = ?Backend::Static, query_length = 42u64, ok = true, "validated");
    tracing::warn!(error = "timeout", elapsed_us = i as i64, "slow request");
    // Formatted into templates: a message with arguments, an error chain.
    let elapsed = std::time::Duration::from_micros(1_000 + i);
    tracing::info!("Static matcher found match in {:?}: {}", elapsed, r.command);
    tracing::error!(error = &r.error as &dyn std::error::Error, "cannot run");
}

#[test]
fn recording_an_event_allocates_nothing_after_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let guard = caro_recorder::Config::default()
        .ring_path(dir.path().join("events.ring"))
        .ring_size(16 << 20)
        .init();
    assert!(guard.is_recording());

    // First use: callsites, strings and the thread's lane are set up,
    // which allocates (and shows the counter counts).
    let r = Request {
        command: std::hint::black_box("rm -rf ~/old".to_owned()),
        error: std::io::Error::other("no such file: /home/ana/old"),
    };
    let setup = allocations();
    one_request(0, &r);
    assert!(allocations() > setup);

    let before = allocations();
    for i in 1..=1_000 {
        one_request(i, &r);
    }
    let per_request = (allocations() - before) as f64 / 1_000.0;
    assert_eq!(
        per_request, 0.0,
        "heap allocations per request after first use"
    );

    drop(guard);
    let d = caro_format::decode(&std::fs::read(dir.path().join("events.ring")).unwrap()).unwrap();
    let events = d
        .records
        .iter()
        .filter(|r| r.kind == caro_format::RecordKind::Event)
        .count();
    assert_eq!(events, 5 * 1_001, "every event was recorded");
    assert_eq!(d.totals().lost_to_laps, 0);
}

//! A forked child is a new writer: its own thread id, its own span ids.

use caro_format::{decode, RecordKind};

#[test]
fn a_forked_child_records_as_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    let guard = caro_recorder::Config::default()
        .ring_path(&path)
        .ring_size(1 << 20)
        .init();
    let parent_span = tracing::info_span!("parent");
    parent_span.in_scope(|| tracing::info!("before fork"));

    // SAFETY: the child only records (no allocation after first use of
    // these callsites, warmed above) and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let child_span = tracing::info_span!("parent");
        child_span.in_scope(|| tracing::info!("before fork"));
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked; `status` is a valid out-pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    let again = tracing::info_span!("parent");
    again.in_scope(|| tracing::info!("before fork"));
    drop((parent_span, again, guard));

    let d = decode(&std::fs::read(&path).unwrap()).unwrap();
    let spans: Vec<_> = d
        .records
        .iter()
        .filter(|r| r.kind == RecordKind::SpanNew)
        .collect();
    assert_eq!(spans.len(), 3);
    let mut ids: Vec<_> = spans.iter().map(|r| r.span).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "span ids are unique across parent and child");
    let threads: std::collections::BTreeSet<_> = spans.iter().map(|r| r.thread).collect();
    assert!(
        threads.contains(&(pid as u32)),
        "the child writes with its own thread id: {threads:?}"
    );
}

//! Records about the process itself: its start, its exit (with the CPU
//! time, peak memory and open descriptors it used) and its panics.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Once};
use std::time::Instant;

use caro_format::slot::RecordKind;
use caro_format::LaneClass;
use caro_format::ValueWriter;

use crate::callsites::source_file;
use crate::Recorder;

pub(crate) fn start(rec: &Recorder, version: &'static str) {
    rec.ring.count_process();
    rec.started_ns.store(rec.clock.now_ns(), Ordering::Relaxed);
    if !version.is_empty() {
        let id = rec.string_id(version).unwrap_or(0);
        rec.version_id.store(id, Ordering::Relaxed);
    }
    let mut v = ValueWriter::new();
    v.u64(0, u64::from(std::process::id()));
    if !version.is_empty() {
        v.str(1, version);
    }
    rec.builtin(RecordKind::ProcessStart, &v);
}

/// THREAD_START: the process of the calling thread, for readers of rings
/// older than the identity table (v1.3), which says the same.
pub(crate) fn thread_start(rec: &Recorder) {
    let mut v = ValueWriter::new();
    v.u64(0, u64::from(std::process::id()));
    rec.builtin(RecordKind::ThreadStart, &v);
}

/// PROCESS_EXIT, with the exit `status` when the host gave it.
pub(crate) fn exit(rec: &Recorder, started: Instant, status: Option<i32>) {
    let usage = crate::sys::usage();
    let open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count().saturating_sub(1));
    let mut v = ValueWriter::new();
    v.u64(0, u64::from(std::process::id()));
    v.u64(1, usage.user_us);
    v.u64(2, usage.system_us);
    v.u64(3, usage.peak_rss_kib);
    v.u64(4, open_fds as u64);
    v.u64(5, started.elapsed().as_micros() as u64);
    if let Some(status) = status {
        v.i64(6, i64::from(status));
    }
    rec.builtin(RecordKind::ProcessExit, &v);
}

/// Chains a panic hook that records where the panic happened and on which
/// thread — never its message, which may carry user data.
pub(crate) fn install_panic_hook(rec: &Arc<Recorder>) {
    static ONCE: Once = Once::new();
    let rec = Arc::clone(rec);
    ONCE.call_once(move || {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let mut v = ValueWriter::new();
            if let Some(loc) = info.location() {
                v.str(0, source_file(loc.file()));
                v.u64(1, u64::from(loc.line()));
                v.u64(2, u64::from(loc.column()));
            }
            rec.write(
                LaneClass::Alert,
                RecordKind::Panic,
                0,
                crate::recorder::current_ring_span(),
                &v,
            );
            previous(info);
        }));
    });
}

//! A stored trace, read as `traces` and `export` read the `traces` table of
//! `metrics.db`: `caro_analyze::store::read_trace` (a bounded zstd frame,
//! JSON, one tree within the caps). The input is the JSON, compressed
//! here as ingest compresses it, so that the fuzzer shapes what the
//! parser sees; the raw input is also read as a body. Never panics, never
//! hangs; a trace it accepts renders in every form the analyzer has.
#![no_main]

use std::path::Path;

use caro_analyze::export::{write_chrome, write_folded};
use caro_analyze::export::otlp::traces_request;
use caro_analyze::store::read_trace;
use caro_analyze::assemble::trace::SamplingPolicy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("metrics.db");
    let _ = read_trace(path, data);
    let body = zstd::bulk::compress(data, 1).expect("compressing into memory succeeds");
    let Ok(trace) = read_trace(path, &body) else {
        return;
    };
    let mut sink = Vec::new();
    trace
        .write_text(&mut sink, None)
        .expect("writing to memory succeeds");
    let _ = trace.to_json(None).to_string();
    let traces = [trace];
    write_chrome(&traces, &mut sink).expect("writing to memory succeeds");
    write_folded(&traces, &mut sink).expect("writing to memory succeeds");
    let _ = traces_request(&traces, Some("1.1.0")).to_string();
    let _ = SamplingPolicy::default().decide(&traces[0], 0);
});

//! A stored HdrHistogram blob, read exactly as the analyzer reads the
//! `hist` column of `metrics.db`: `caro_analyze::store::read_histogram`
//! (HdrHistogram's V2 deserializer into a `Histogram<u64>` that then
//! grows to fit what is merged into it). Never panics; what it accepts
//! can be merged, queried, written back (V2, as the store writes) and read
//! again to the same counts.
#![no_main]

use std::path::Path;

use caro_analyze::store::read_histogram;
use hdrhistogram::serialization::{Serializer, V2Serializer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(h) = read_histogram(Path::new("metrics.db"), data) else {
        return;
    };
    // What the report does with it: merge, then read quantiles.
    let mut merged = h.clone();
    let _ = merged.add(&h);
    for q in [0.0, 0.5, 0.9, 0.99, 1.0] {
        let _ = h.value_at_quantile(q);
    }
    let _ = (h.min(), h.max(), h.mean(), h.len());

    // What the store does with it: write it back, read it again.
    let mut blob = Vec::new();
    V2Serializer::new()
        .serialize(&h, &mut blob)
        .expect("a histogram read can be written");
    let again = read_histogram(Path::new("metrics.db"), &blob).expect("what was written reads");
    assert_eq!(again.len(), h.len());
    assert_eq!(again.max(), h.max());
});

//! Reading the store back: histograms merged over days, and the traces
//! kept, each checked before it is trusted (the store may be damaged or
//! not ours).

use std::path::Path;

use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use rusqlite::params;

use super::{classify, Store};
use crate::assemble::trace::{Kept, Trace};
use crate::assemble::HistKind;
use crate::error::{Error, Result};

/// Reads a stored histogram, growing to fit what is merged into it.
///
/// The blob is checked before HdrHistogram's deserializer sees it (found
/// by `fuzz/`'s `histogram` target): the store writes only uncompressed
/// V2 blobs of [`SIGNIFICANT_DIGITS`](crate::assemble::SIGNIFICANT_DIGITS),
/// so anything else — a length the deserializer would allocate before
/// reading, a count it would overflow negating — is refused here.
pub fn read_histogram(path: &Path, blob: &[u8]) -> Result<Histogram<u64>> {
    let bad = |why: String| Error::NotAStore {
        path: path.to_owned(),
        why: format!("a stored histogram cannot be read: {why}"),
    };
    check_v2_blob(blob).map_err(|why| bad(why.to_owned()))?;
    let mut h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut &blob[..])
        .map_err(|e| bad(format!("{e:?}")))?;
    h.auto(true);
    Ok(h)
}

/// Bytes before a V2 blob's counts: cookie, payload length, normalizing
/// offset, significant digits, lowest, highest, integer-to-double ratio.
const V2_HEADER: usize = 40;
const V2_COOKIE: u32 = 0x1c84_9313;
/// More values than a store holds in a lifetime (2^48), far below where
/// adding days' counts could overflow.
const MAX_STORED_COUNT: u64 = 1 << 48;

/// Whether `blob` is a V2 blob the store could have written.
fn check_v2_blob(blob: &[u8]) -> std::result::Result<(), &'static str> {
    let be32 = |at: usize| u32::from_be_bytes([blob[at], blob[at + 1], blob[at + 2], blob[at + 3]]);
    if blob.len() < V2_HEADER || be32(0) != V2_COOKIE {
        return Err("not an uncompressed V2 histogram");
    }
    if blob.len() - V2_HEADER != be32(4) as usize {
        return Err("its length disagrees with its header");
    }
    if be32(12) != u32::from(crate::assemble::SIGNIFICANT_DIGITS) {
        return Err("not of the store's precision");
    }
    // Counts are zig-zag LEB128 varints of at most 9 bytes (the ninth
    // whole): a positive value is a count, a negative one a run of empty
    // buckets. Their total must stay far from overflowing when the report
    // adds days together.
    let mut counts = &blob[V2_HEADER..];
    let mut total: u64 = 0;
    while !counts.is_empty() {
        let mut v: u64 = 0;
        let mut used = 0;
        for (i, &b) in counts.iter().take(9).enumerate() {
            used = i + 1;
            if i == 8 {
                v |= u64::from(b) << 56;
                break;
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                break;
            }
        }
        let n = ((v >> 1) as i64) ^ -((v & 1) as i64);
        if n == i64::MIN {
            return Err("a count out of range");
        }
        if n > 0 {
            total = total.saturating_add(n as u64);
            if total > MAX_STORED_COUNT {
                return Err("counts out of range");
            }
        }
        counts = &counts[used..];
    }
    Ok(())
}

/// A histogram's name and backend.
pub type NameAndBackend = (String, String);

/// The histograms of `kind` from `first_day` on, merged by (name, backend).
pub fn merged_histograms(
    store: &Store,
    kind: HistKind,
    first_day: i64,
) -> Result<Vec<(NameAndBackend, Histogram<u64>)>> {
    let err = |e| classify(&store.path, e);
    let mut q = store
        .conn
        .prepare_cached(
            "SELECT name, backend, hist FROM histograms WHERE kind = ?1 AND day >= ?2 ORDER BY name, backend, day",
        )
        .map_err(err)?;
    let mut rows = q.query(params![kind.name(), first_day]).map_err(err)?;
    let mut out: Vec<(NameAndBackend, Histogram<u64>)> = Vec::new();
    while let Some(row) = rows.next().map_err(err)? {
        let key: NameAndBackend = (row.get(0).map_err(err)?, row.get(1).map_err(err)?);
        let blob: Vec<u8> = row.get(2).map_err(err)?;
        let h = read_histogram(&store.path, &blob)?;
        match out.last_mut() {
            Some((k, acc)) if *k == key => acc.add(&h).map_err(|e| Error::NotAStore {
                path: store.path.clone(),
                why: format!("histograms cannot be merged: {e}"),
            })?,
            _ => out.push((key, h)),
        }
    }
    Ok(out)
}

/// Which stored traces to read.
#[derive(Clone, Debug, Default)]
pub struct TraceQuery {
    /// Started at or after this time.
    pub since_ns: Option<u64>,
    /// Took at least this long (unfinished traces never match).
    pub min_ns: Option<u64>,
    /// Only traces with an error.
    pub errors: bool,
    /// Only the newest N.
    pub last: Option<u64>,
    /// Only the N slowest finished ones, slowest first (instead of `last`).
    pub slowest: Option<u64>,
    /// Only the one whose id ([`Trace::id_hex`]) is or starts with this,
    /// in lowercase hex digits.
    pub id: Option<String>,
}

/// The stored traces `q` asks for, oldest first (slowest first with
/// `slowest`), with why each was kept.
pub fn read_traces(store: &Store, q: &TraceQuery) -> Result<Vec<(Trace, Kept)>> {
    let err = |e| classify(&store.path, e);
    // Newest first, to take the newest N; turned oldest first below.
    let order = match q.slowest {
        Some(_) => "latency_ms IS NULL, latency_ms DESC, start_ns, trace_id",
        None => "start_ns DESC, trace_id",
    };
    let mut stmt = store
        .conn
        .prepare(&format!(
            "SELECT body, kept FROM traces
             WHERE start_ns >= ?1 AND (?2 IS NULL OR latency_ms >= ?2) AND (NOT ?3 OR error)
               AND (?5 IS NULL OR latency_ms IS NOT NULL)
               AND (?6 IS NULL OR (trace_id >= ?6 AND trace_id < ?6 || 'g'))
             ORDER BY {order} LIMIT ?4"
        ))
        .map_err(err)?;
    let limit = |n: u64| n.min(i64::MAX as u64) as i64;
    let mut rows = stmt
        .query(params![
            q.since_ns.unwrap_or(0) as i64,
            q.min_ns.map(|ns| ns as f64 / 1e6),
            q.errors,
            q.slowest.or(q.last).map_or(-1, limit),
            q.slowest.map(limit),
            q.id,
        ])
        .map_err(err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(err)? {
        let body: Vec<u8> = row.get(0).map_err(err)?;
        let kept: String = row.get(1).map_err(err)?;
        let corrupt = |why: String| Error::NotAStore {
            path: store.path.clone(),
            why,
        };
        let trace = read_trace(&store.path, &body)?;
        let kept = Kept::from_name(&kept)
            .ok_or_else(|| corrupt(format!("a stored trace was kept for {kept:?}")))?;
        out.push((trace, kept));
    }
    if q.slowest.is_none() {
        out.reverse();
    }
    Ok(out)
}

/// The largest a stored trace's JSON can be: what its caps allow, with
/// room to spare. A body that would grow past it is refused, not unpacked.
pub const MAX_TRACE_JSON: usize = 64 << 20;

/// Reads a stored trace body (zstd-compressed JSON), refusing anything
/// ingest could not have written: too large, not a [`Trace`], or not one
/// tree ([`Trace::check`]).
pub fn read_trace(path: &Path, body: &[u8]) -> Result<Trace> {
    let corrupt = |why: String| Error::NotAStore {
        path: path.to_owned(),
        why: format!("a stored trace cannot be read: {why}"),
    };
    // The frame says how large it unpacks (ingest writes whole frames):
    // room for exactly that, after checking it.
    let size = match zstd::zstd_safe::get_frame_content_size(body) {
        Ok(Some(n)) if n <= MAX_TRACE_JSON as u64 => n as usize,
        Ok(Some(n)) => return Err(corrupt(format!("{n} bytes unpacked, too large"))),
        Ok(None) | Err(_) => return Err(corrupt("not a zstd frame of known size".to_owned())),
    };
    let json = zstd::bulk::decompress(body, size).map_err(|e| corrupt(e.to_string()))?;
    let trace: Trace = serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))?;
    trace.check().map_err(corrupt)?;
    Ok(trace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::{Serializer, V2Serializer};

    /// Blobs `fuzz/`'s `histogram` target found: the deserializer panicked
    /// on the first (negating i64::MIN), allocated 4 GiB for the second,
    /// and the third's counts overflow when a quantile adds them.
    #[test]
    fn hostile_histogram_blobs_are_refused_not_trusted() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let path = Path::new("metrics.db");
        for found in [
            "1c849313000000090000000000000003000000000000000100000000001fffff3ff0000000000000ffffffffffffffffff",
            "1c849313fffffff00000000000000003000000000000000100000000d693a4003ff0000000000000",
            // Counts whose total overflows when quantiles add them up.
            concat!(
                "1c8493130000009e0000000000000003000000000000005b0000010000000002",
                "3ff000000000000000000003000000000000000100000000000000023f1c8493",
                "1300f000a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a65a52a6a6a6a6000003",
                "02130229956102000000000000000000008c000028000000000000001c849313",
                "0000001e0000000000000003000000000000000100000000000000023f1c8493",
                "1300f000a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a65a52a6a6a6a6000000",
                "002e00000000"
            ),
        ] {
            let err = read_histogram(path, &hex(found)).unwrap_err();
            assert!(err.to_string().contains("a stored histogram cannot be read"), "{err}");
        }
        let mut h = crate::assemble::new_histogram();
        h.record(1234).unwrap();
        let mut blob = Vec::new();
        V2Serializer::new().serialize(&h, &mut blob).unwrap();
        assert_eq!(read_histogram(path, &blob).unwrap().len(), 1);
    }

    #[test]
    fn stored_trace_bodies_that_ingest_could_not_have_written_are_refused() {
        let path = Path::new("metrics.db");
        let refused = |body: &[u8]| {
            let e = read_trace(path, body).unwrap_err().to_string();
            assert!(e.contains("a stored trace cannot be read"), "{e}");
            e
        };
        refused(b"not zstd");
        // A frame that says it unpacks to 1 GiB is refused unread.
        let mut big = zstd::bulk::compress(&vec![b' '; 1 << 20], 1).unwrap();
        assert_eq!(big[4] & 0xC0, 0x80, "a 4-byte content size");
        // After the window byte, unless the frame is a single segment.
        let at = if big[4] & 0x20 != 0 { 5 } else { 6 };
        big[at..at + 4].copy_from_slice(&(1u32 << 30).to_le_bytes());
        assert!(refused(&big).contains("1073741824 bytes unpacked, too large"));
        refused(&zstd::bulk::compress(b"{\"id\": 1}", 1).unwrap());
        let cycle = br#"{"id":1,"request_id":null,"error":false,"spans":[
            {"id":1,"parent":2,"name":"a","target":"t","pid":1,"thread":1,"start_ns":0,"end_ns":1,"fields":[],"events":[]},
            {"id":2,"parent":1,"name":"b","target":"t","pid":1,"thread":1,"start_ns":0,"end_ns":1,"fields":[],"events":[]}]}"#;
        refused(&zstd::bulk::compress(cycle, 1).unwrap());
    }
}

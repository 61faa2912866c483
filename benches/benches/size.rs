//! `size`: bytes on disk per event, in the ring against the same events as
//! JSON lines and as zstd-compressed JSON lines. A counted figure, not a
//! timing: it writes `<target>/criterion/size.json` and prints it.
//!
//! Two mixes of [`EVENTS`] events each:
//!
//! - `bench`: every other one the benchmarks' event shape (`request_id`,
//!   `backend`, `confidence`), the others the same with the literal message
//!   `"command generated"`, recorded at INFO;
//! - `caro`: the real caro's shape, recorded at DEBUG as a developer runs
//!   it (`RUST_LOG=debug`): `format!`-style messages and no fields, in the
//!   order one statically matched request writes them: literal messages,
//!   backend names, numbers, `Debug` durations, and the query and the
//!   command (run-time strings) as arguments. Our own callsites, in the
//!   shapes of the crates.io `caro` crate's (as
//!   `recorder/examples/caro_like.rs`).
//!
//! The ring's figure is its own accounting: the slots its lanes claimed
//! (each 64 bytes), divided by the events; the dictionary, written once per
//! callsite, is not counted; the process's own start and exit records are
//! (a few slots among 100,000 events). The JSON lines are
//! `tracing_subscriber::fmt().json()`'s, of the same events at the same
//! level, compressed with zstd (its default level, 3) as one stream. The events differ only in a counter, so the
//! compressed figure is far below what real logs compress to.

use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use caro_format::RecordKind;
use serde_json::json;
use tracing::{Dispatch, Level};

/// Events recorded and formatted.
const EVENTS: u64 = 100_000;
/// Big enough that no lane laps: every slot claimed is still there.
const RING_SIZE: u64 = 256 << 20;
/// Bytes of a ring slot.
const SLOT_BYTES: u64 = 64;
/// zstd's default level.
const ZSTD_LEVEL: i32 = 3;

/// Event `i` of the `bench` mix: the plain shape for even `i`, the one
/// with a message for odd.
fn bench_mix(i: u64) {
    if i.is_multiple_of(2) {
        tracing::info!(request_id = i, backend = "embedded", confidence = 0.92);
    } else {
        tracing::info!(
            request_id = i,
            backend = "embedded",
            confidence = 0.92,
            "command generated"
        );
    }
}

/// A user's request and the command caro answered, as a host holds them:
/// built at run time.
static QUERY: LazyLock<String> =
    LazyLock::new(|| black_box("list all pdf files in my documents").to_owned());
static COMMAND: LazyLock<String> =
    LazyLock::new(|| black_box("find ~/Documents -name '*.pdf'").to_owned());

/// Event `i` of the `caro` mix: one of the ten a statically matched
/// request writes, in their order.
fn caro_mix(i: u64) {
    let elapsed = Duration::from_nanos(1_000_000 + (i % 1000) * 1_111);
    let backend = "embedded";
    match i % 10 {
        0 => tracing::info!("Starting agent loop for: {}", QUERY.as_str()),
        1 => tracing::debug!("Using backend {}", backend),
        2 => tracing::debug!("Trying static pattern matcher"),
        3 => tracing::info!(
            "Static matcher found match in {:?}: {}",
            elapsed,
            COMMAND.as_str()
        ),
        4 => tracing::debug!("Initial command: {}", COMMAND.as_str()),
        5 => tracing::debug!("Found {} similar commands in knowledge index", i % 7),
        6 => tracing::info!(
            "Refinement not needed (confidence: {:.2} [{}], no platform issues)",
            0.92,
            "static"
        ),
        7 => tracing::debug!("Validating command with {} safety patterns", 52),
        8 => tracing::info!("Command generation complete in {:?}", elapsed),
        _ => tracing::debug!("Recorded successful command to knowledge index"),
    }
}

/// A mix of events and the level it is recorded at.
#[derive(Clone, Copy)]
struct Mix {
    name: &'static str,
    event: fn(u64),
    level: Level,
}

const MIXES: [Mix; 2] = [
    Mix {
        name: "bench",
        event: bench_mix,
        level: Level::INFO,
    },
    Mix {
        name: "caro",
        event: caro_mix,
        level: Level::DEBUG,
    },
];

fn record_all(dispatch: &Dispatch, mix: Mix) {
    tracing::dispatcher::with_default(dispatch, || {
        tracing::callsite::rebuild_interest_cache();
        for i in 0..EVENTS {
            (mix.event)(black_box(i));
        }
    });
}

/// Bytes the ring's lanes took for the [`EVENTS`] events of `mix`.
fn ring_bytes(mix: Mix) -> u64 {
    let dir = tempfile::tempdir().expect("a temporary folder for the ring");
    let path = dir.path().join("caro/events.ring");
    let (subscriber, guard) = caro_recorder::Config::default()
        .ring_path(&path)
        .ring_size(RING_SIZE)
        .filter(mix.level.to_string().to_lowercase())
        .panic_hook(false)
        .subscriber();
    let dispatch = Dispatch::new(subscriber.expect("the ring opens"));
    record_all(&dispatch, mix);
    drop(dispatch);
    drop(guard);

    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let d = caro_format::decode(&bytes).expect("the ring decodes");
    let mut slots = 0;
    for (lane, stats) in &d.lanes {
        assert!(lane.head <= lane.slots(), "lane {} lapped", lane.index);
        assert_eq!(stats.lost_to_laps + stats.abandoned + stats.corrupt, 0);
        slots += lane.head;
    }
    let events = d
        .records
        .iter()
        .filter(|r| r.kind == RecordKind::Event)
        .count() as u64;
    assert_eq!(events, EVENTS, "every event is in the ring");
    slots * SLOT_BYTES
}

/// A writer into a shared buffer.
#[derive(Clone)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The events of `mix` as JSON lines.
fn json_lines(mix: Mix) -> Vec<u8> {
    let buffer = Buffer(Arc::new(Mutex::new(Vec::new())));
    let writer = buffer.clone();
    let dispatch = Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .with_max_level(mix.level)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    );
    record_all(&dispatch, mix);
    drop(dispatch);
    let lines = std::mem::take(&mut *buffer.0.lock().unwrap());
    let count = lines.iter().filter(|&&b| b == b'\n').count() as u64;
    assert_eq!(count, EVENTS, "one JSON line an event");
    lines
}

/// `<target>/criterion/size.json`, from this benchmark's own path,
/// `<target>/<profile>/deps/size-…`.
fn output_path() -> PathBuf {
    let exe = std::env::current_exe().expect("the benchmark's path");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("the benchmark runs from <target>/<profile>/deps");
    target.join("criterion/size.json")
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not,
    // and then there is nothing to measure.
    if !std::env::args().any(|a| a == "--bench") {
        println!("size: run with `cargo bench --bench size`");
        return;
    }
    let per_event = |bytes: usize| bytes as f64 / EVENTS as f64;
    let mut report = json!({ "events": EVENTS });
    for mix in MIXES {
        let ring = ring_bytes(mix);
        let json = json_lines(mix);
        let zstd = zstd::encode_all(&json[..], ZSTD_LEVEL).expect("zstd compresses");
        report[mix.name] = json!({
            "ring_bytes_per_event": per_event(ring as usize),
            "json_bytes_per_event": per_event(json.len()),
            "json_zstd_bytes_per_event": per_event(zstd.len()),
        });
    }
    let text = serde_json::to_string_pretty(&report).expect("JSON");
    let path = output_path();
    std::fs::create_dir_all(path.parent().unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    std::fs::write(&path, format!("{text}\n"))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    println!("size ({}):\n{text}", path.display());
}

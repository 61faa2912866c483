//! Criterion benchmarks of the recorder against other ways to record the
//! same events and spans, and of `caro-analyze`'s commands.
//!
//! ## The recorder (`benches/recorder.rs`)
//!
//! Every contender records the same shapes in one `cargo bench` run, each
//! under its own scoped dispatcher, alone (the one before is dropped and
//! tracing's interest cache rebuilt):
//!
//! - `event/*`: `info!(request_id = i, backend = "embedded", confidence =
//!   0.92)`, `i` a changing u64. `caro_subscriber` (the recorder as its own
//!   subscriber), `caro_layer` (as a layer on a `Registry`), `floor` (a
//!   subscriber that only visits the fields into a stack buffer),
//!   `fmt_json_non_blocking` and `fmt_text_non_blocking`
//!   (`tracing_subscriber::fmt()`, JSON and text, into
//!   `tracing_appender::non_blocking` over a file, not lossy), and
//!   `caro_subscriber_message` (the event with the literal message
//!   `"command generated"`).
//! - `span/*`: `info_span!("work", request_id = i, backend = "embedded")`
//!   created, entered, exited and closed. `caro_subscriber`, `caro_layer`,
//!   `noop` (a subscriber that records nothing), `registry`
//!   (`tracing_subscriber::registry()` alone), `registry_fmt_json` (a
//!   registry with a JSON `fmt` layer writing a line at each span's close,
//!   through `non_blocking`), and `fastrace` (a `LocalSpan` with the two
//!   properties under a local parent, the root re-created every 4,096
//!   spans because fastrace keeps at most 10,240 under one parent, a
//!   reporter that counts and discards).
//! - `disabled/*`: `caro_below_level` (the recorder at `info`, a `debug!`
//!   of the event), `caro_log_off` (the event in a host where
//!   `CARO_LOG=off` left tracing with no subscriber), `noop_below_level`
//!   (a subscriber whose max level is INFO, the `debug!`: tracing's own
//!   check).
//! - `threads/*`: events per second into one ring from 1 and 2 threads
//!   (`threads_1`, `threads_2`: 100,000 events a thread an iteration) and
//!   from 1 and 2 processes (`processes_1`, `processes_2`: copies of the
//!   recorder's `flood` example, a million events each an iteration).
//!   Criterion reports their throughput in events.
//!
//! Rings are 256 MiB, in temporary folders. After each contender, outside
//! the timing, a check says it did the work: the ring's lanes claimed
//! exactly the slots of every call criterion made (warm-up included) and
//! hold the records of their last lap; the `fmt` file has one line a
//! call; fastrace's reporter got every span. The run takes about three
//! minutes on two cores.
//!
//! ## Size (`benches/size.rs`)
//!
//! Not a timing: 100,000 events (every other one with the message)
//! recorded into a fresh ring, and the same formatted as JSON lines by
//! `tracing_subscriber::fmt().json()`, raw and zstd-compressed (level 3).
//! Bytes per event — the ring's from its own accounting, slots claimed ×
//! 64 — are written to `target/criterion/size.json` (`events`,
//! `ring_bytes_per_event`, `json_bytes_per_event`,
//! `json_zstd_bytes_per_event`) and printed.
//!
//! ## The analyzer (`benches/analyzer.rs`)
//!
//! `decode/*` reads and decodes a ring of about 1,000,000 records in
//! process (against a floor that only reads the file); the others each
//! time the whole process (start-up, reading the ring, SQLite, output) as
//! a user runs it:
//!
//! - `ingest/1M_records`: `caro-analyze ingest` folds a ring of about
//!   1,000,000 records (54,000 simulated requests on 4 threads) into a
//!   fresh store; every iteration starts with no `metrics.db`,
//!   `telemetry.log` or `crashes/`.
//! - `report/json_30_days`: `caro-analyze report --json --no-ingest
//!   --days 30` over a store that 30 days of use filled (2,000 requests a
//!   day, each day ingested in the evening).
//!
//! The data comes from the simulated caro (`caro_sim`) with a fixed seed,
//! start time and `CARO_NOW`, so every run measures the same work. The
//! binaries are built with the benchmark's own profile by
//! `caro_tests::bins()`; each fixture is made once, outside the timing, in
//! a temporary `XDG_CACHE_HOME`, and checked (record and request counts)
//! before anything is timed. The whole run takes about two minutes.
//!
//! ```sh
//! cargo bench -p caro-benches --bench recorder
//! cargo bench -p caro-benches --bench size
//! cargo bench -p caro-benches --bench analyzer
//! ```
//!
//! This library holds no code: the benchmarks are in `benches/`.

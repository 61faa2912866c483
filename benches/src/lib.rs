//! Criterion benchmarks of `caro-analyze`, each timing the whole process
//! (start-up, reading the ring, SQLite, output) as a user runs it:
//!
//! - `ingest/1M_records`: `caro-analyze ingest` folds a ring of about
//!   1,000,000 records (29,000 simulated requests on 4 threads) into a
//!   fresh store; every iteration starts with no `metrics.db`,
//!   `telemetry.log` or `crashes/`.
//! - `report/json_30_days`: `caro-analyze report --json --no-ingest
//!   --days 30` over a store that 30 days of use filled (2,000 requests a
//!   day, each day ingested in the evening).
//!
//! ```sh
//! cargo bench -p caro-benches --bench analyzer
//! ```
//!
//! The data comes from the simulated caro (`caro_sim`) with a fixed seed,
//! start time and `CARO_NOW`, so every run measures the same work. The
//! binaries are built with the benchmark's own profile by
//! `caro_tests::bins()`; each fixture is made once, outside the timing, in
//! a temporary `XDG_CACHE_HOME`, and checked (record and request counts)
//! before anything is timed. The whole run takes about two minutes.
//!
//! This library holds no code: the benchmarks are in `benches/analyzer.rs`.

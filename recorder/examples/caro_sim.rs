//! A simulated caro: plays caro's request pipeline (span tree, backends,
//! outcomes and latency mix of shared/CARO-WORKLOAD.md), deterministic for
//! a seed, recording through the recorder exactly as the real host does —
//! except for the clock.
//!
//! ```text
//! cargo run --release -p caro-recorder --example caro_sim -- --queries 200 --seed 7 \
//!     [--threads 2] [--time-scale 0.001] [--busy] [--start 2026-11-01T09:00:00Z] \
//!     [--panics] [--flood N] [--truth truth.json]
//! ```
//!
//! Time is simulated: each thread has its own clock, which the recorder
//! reads through [`caro_recorder::Config::clock`] and which moves only by
//! the simulated latencies, so a model load of 1.4 s is recorded as 1.4 s
//! exactly while hours of use play in seconds. The clocks start at
//! `--start` (by default early enough that the session ends before now);
//! `--time-scale` sleeps, in real time, that fraction of simulated time so
//! that processes and threads really overlap.
//!
//! `--truth FILE` writes what the simulation did (requests per backend,
//! errors per category, safety blocks per risk level, panics, slow
//! requests, every span's and request's duration, and every event it
//! emitted) for tests to hold the analyzer to.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use clap::Parser;
use serde_json::json;
use tracing::{debug, error, info, info_span, trace, warn, Span};

#[derive(Parser, Debug)]
#[command(about = "Plays caro's request pipeline into the flight recorder")]
struct Args {
    /// Requests to simulate (split across threads).
    #[arg(long, default_value_t = 100)]
    queries: u64,
    /// Seed of the deterministic workload.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Threads serving requests at once.
    #[arg(long, default_value_t = 1)]
    threads: u64,
    /// Real seconds slept per simulated second (0.001: a 1.4 s model
    /// load sleeps 1.4 ms; 0: no sleeping at all).
    #[arg(long, default_value_t = 0.001)]
    time_scale: f64,
    /// Spend the scaled time computing instead of sleeping (a fixed number
    /// of steps, about a nanosecond each), as a model's inference does:
    /// for measuring what recording costs a busy host.
    #[arg(long)]
    busy: bool,
    /// When the simulated clocks start (RFC 3339) [default: early enough
    /// that the simulated session ends before now].
    #[arg(long, value_parser = parse_start)]
    start: Option<u64>,
    /// Let about one request in 200 panic (caught, so the run goes on).
    #[arg(long)]
    panics: bool,
    /// After the requests, log N INFO events as fast as possible.
    #[arg(long, default_value_t = 0)]
    flood: u64,
    /// Abort (SIGABRT, no unwinding, no exit record) after writing the truth.
    #[arg(long)]
    abort: bool,
    /// Write a JSON summary of what was simulated here.
    #[arg(long)]
    truth: Option<std::path::PathBuf>,
}

/// SplitMix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
    /// Milliseconds around `median`, log-normal-ish.
    fn latency_ms(&mut self, median: f64) -> f64 {
        let spread = (self.unit() + self.unit() + self.unit()) / 1.5 - 1.0;
        median * (spread * 1.2).exp()
    }
}

const INTENTS: &[&str] = &[
    "file_search",
    "file_ops",
    "text_search",
    "process",
    "network",
    "git",
    "archive",
    "system_info",
    "other",
];
const ERRORS: &[&str] = &[
    "timeout",
    "backend_unavailable",
    "invalid_request",
    "generation_failed",
    "parse_error",
    "config_error",
    "internal_error",
    "unsafe_command",
    "validation_failed",
];
const PATTERNS: &[&str] = &[
    "destructive_delete",
    "privilege_escalation",
    "disk_overwrite",
    "fork_bomb",
];

#[derive(Default)]
struct Truth {
    requests_per_backend: BTreeMap<String, u64>,
    errors_per_category: BTreeMap<String, u64>,
    safety_blocks_per_risk: BTreeMap<String, u64>,
    panics: u64,
    /// Requests that took longer than a second.
    slow_requests: u64,
    /// Each request's duration, by backend.
    request_ns: BTreeMap<String, Vec<u64>>,
    /// Each span's duration, by span name.
    span_ns: BTreeMap<String, Vec<u64>>,
    /// (request id, level, message) of every event emitted.
    events: Vec<(u64, &'static str, &'static str)>,
    /// The span tree of each slow request, by request id: its spans as
    /// (name, depth, start, duration), in the order they started.
    slow_trees: BTreeMap<u64, Vec<(&'static str, u32, u64, u64)>>,
}

/// When the simulated clocks start, Unix nanoseconds.
static START_NS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's simulated time; 0 until the thread starts its clock.
    static NOW_NS: Cell<u64> = const { Cell::new(0) };
    /// (name, depth, start, duration) of the spans closed on this thread
    /// since the last drain.
    static CLOSED: RefCell<Vec<(&'static str, u32, u64, u64)>> = const { RefCell::new(Vec::new()) };
    /// How many timed spans are open on this thread.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// The recorder's clock: this thread's simulated time.
fn sim_now() -> u64 {
    match NOW_NS.try_with(Cell::get) {
        Ok(t) if t != 0 => t,
        _ => START_NS.load(Ordering::Relaxed),
    }
}

fn advance(ns: u64) {
    NOW_NS.with(|t| t.set(t.get().max(START_NS.load(Ordering::Relaxed)) + ns));
}

fn parse_start(s: &str) -> Result<u64, String> {
    let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|e| e.to_string())?;
    t.timestamp_nanos_opt()
        .and_then(|ns| u64::try_from(ns).ok())
        .ok_or_else(|| "out of range".to_owned())
}

/// An entered span that notes its simulated duration when it closes.
struct Timed {
    name: &'static str,
    depth: u32,
    start_ns: u64,
    _span: tracing::span::EnteredSpan,
}

impl Timed {
    fn new(name: &'static str, span: Span) -> Timed {
        Timed {
            name,
            depth: DEPTH.replace(DEPTH.get() + 1),
            start_ns: sim_now(),
            _span: span.entered(),
        }
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        let d = sim_now() - self.start_ns;
        DEPTH.set(self.depth);
        CLOSED.with(|c| {
            c.borrow_mut()
                .push((self.name, self.depth, self.start_ns, d))
        });
    }
}

struct Sim<'a> {
    args: &'a Args,
}

impl Sim<'_> {
    /// Lets `simulated_ms` of simulated time pass on this thread.
    fn sleep_ms(&self, simulated_ms: f64) {
        let ms = simulated_ms.max(0.0);
        advance((ms * 1e6).round() as u64);
        let real = Duration::from_secs_f64(ms / 1000.0 * self.args.time_scale);
        if self.args.busy {
            // A fixed amount of work (about a nanosecond a step), not a
            // wall-clock wait: the CPU it takes does not depend on how
            // often the thread is descheduled.
            let mut x = 0x9E37_79B9_7F4A_7C15u64;
            for _ in 0..real.as_nanos() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
            }
            std::hint::black_box(x);
        } else if !real.is_zero() {
            std::thread::sleep(real);
        }
    }

    fn note(&self, t: &mut Truth, id: u64, level: &'static str, message: &'static str) {
        t.events.push((id, level, message));
    }

    /// One request, start to finish, counted into `t`; returns its backend.
    fn request(&self, id: u64, rng: &mut Rng, t: &mut Truth, backend: &mut &'static str) {
        let intent = rng.pick(INTENTS);
        let query_length = 5 + rng.next() % 120;
        let started = sim_now();
        *backend = match rng.unit() {
            r if r < 0.80 => "static",
            r if r < 0.92 => "embedded",
            r if r < 0.97 => "ollama",
            r if r < 0.99 => "vllm",
            _ => "exo",
        };
        let backend = *backend;
        let _request = Timed::new(
            "process_query",
            info_span!(target: "caro::agent", "process_query", request_id = id, intent, query_length),
        );
        info!(target: "caro::agent", request_id = id, query_length, intent, "processing query");
        self.note(t, id, "INFO", "processing query");

        {
            let _s = Timed::new(
                "select_backend",
                info_span!(target: "caro::agent", "select_backend"),
            );
            self.sleep_ms(rng.latency_ms(0.05));
            debug!(target: "caro::agent", request_id = id, backend, "backend selected");
            self.note(t, id, "DEBUG", "backend selected");
        }

        let failure = (rng.unit() < 0.06).then(|| rng.pick(ERRORS));
        let generated_at = sim_now();
        {
            let _g = Timed::new(
                "generate_command",
                info_span!(target: "caro::agent", "generate_command", backend),
            );
            let steps: &[(&str, f64)] = match backend {
                "static" => &[("tokenize", 0.3), ("decode", 0.2)],
                "embedded" => &[
                    ("load_model", 1400.0),
                    ("tokenize", 20.0),
                    ("inference", 250.0),
                    ("decode", 15.0),
                ],
                _ => &[("tokenize", 10.0), ("inference", 600.0), ("decode", 10.0)],
            };
            for (step, median) in steps {
                let step_ms = rng.latency_ms(*median);
                let _e = match *step {
                    "load_model" => Timed::new(
                        "load_model",
                        info_span!(target: "caro::backends", "load_model"),
                    ),
                    "tokenize" => {
                        Timed::new("tokenize", info_span!(target: "caro::backends", "tokenize"))
                    }
                    "inference" => Timed::new(
                        "inference",
                        info_span!(target: "caro::backends", "inference"),
                    ),
                    _ => Timed::new("decode", info_span!(target: "caro::backends", "decode")),
                };
                trace!(target: "caro::backends", request_id = id, step_ms, "step done");
                self.sleep_ms(step_ms);
            }
        }
        let gen_ms = (sim_now() - generated_at) as f64 / 1e6;
        if self.args.panics && rng.unit() < 0.005 {
            // Counted by the caller, which catches it.
            panic!("simulated bug in request {id}");
        }
        if let Some(category) = failure {
            error!(
                target: "caro::agent",
                request_id = id,
                error = category,
                backend,
                monotonic_counter.caro_commands_failed_total = 1u64,
                "command generation failed"
            );
            self.note(t, id, "ERROR", "command generation failed");
            *t.errors_per_category
                .entry(category.to_owned())
                .or_default() += 1;
            return;
        }
        // Repair loops: a first answer that failed to parse is repaired, one
        // that failed validation is refined.
        let repair = rng.unit();
        if repair < 0.06 {
            let _r = if repair < 0.03 {
                Timed::new(
                    "repair_command",
                    info_span!(target: "caro::agent", "repair_command"),
                )
            } else {
                Timed::new(
                    "refine_command",
                    info_span!(target: "caro::agent", "refine_command"),
                )
            };
            self.sleep_ms(rng.latency_ms(gen_ms.min(200.0) / 2.0));
        }

        let risk = {
            let _v = Timed::new(
                "validate_safety",
                info_span!(target: "caro::safety", "validate_safety"),
            );
            // Span names are literals, so each check names its own; each
            // span is created as its check starts.
            for check in 0..2 {
                let _c = match check {
                    0 => Timed::new(
                        "check_destructive_patterns",
                        info_span!(target: "caro::safety", "check_destructive_patterns"),
                    ),
                    _ => Timed::new(
                        "check_privilege_escalation",
                        info_span!(target: "caro::safety", "check_privilege_escalation"),
                    ),
                };
                self.sleep_ms(rng.latency_ms(0.1));
            }
            match rng.unit() {
                r if r < 0.90 => "safe",
                r if r < 0.96 => "moderate",
                r if r < 0.99 => "high",
                _ => "critical",
            }
        };
        if risk == "high" || risk == "critical" {
            let pattern = rng.pick(PATTERNS);
            warn!(
                target: "caro::safety",
                request_id = id,
                risk_level = risk,
                pattern,
                monotonic_counter.caro_safety_blocks_total = 1u64,
                "unsafe command blocked"
            );
            self.note(t, id, "WARN", "unsafe command blocked");
            *t.safety_blocks_per_risk.entry(risk.to_owned()).or_default() += 1;
            return;
        }
        let total_ms = (sim_now() - started) / 1_000_000;
        if total_ms >= 1000 {
            warn!(
                target: "caro::agent",
                request_id = id,
                latency_ms = total_ms,
                backend,
                "slow request"
            );
            self.note(t, id, "WARN", "slow request");
        }
        // Drawn outside the macro: a disabled event must not change the
        // random sequence (CARO_LOG=off plays the same session).
        let confidence = 0.5 + rng.unit() / 2.0;
        info!(
            target: "caro::agent",
            request_id = id,
            backend,
            risk_level = risk,
            latency_ms = total_ms,
            confidence,
            monotonic_counter.caro_commands_generated_total = 1u64,
            histogram.caro_backend_latency_seconds = gen_ms / 1000.0,
            "command generated"
        );
        self.note(t, id, "INFO", "command generated");
    }
}

fn main() {
    let args = Args::parse();
    let threads = args.threads.max(1);
    let start = args.start.unwrap_or_else(|| {
        // No request of the workload takes 3 s on average: the session
        // ends before now.
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let per_thread = args.queries.div_ceil(threads) + 1;
        wall.saturating_sub(per_thread.saturating_mul(3_000_000_000))
    });
    START_NS.store(start, Ordering::Relaxed);
    if args.panics {
        // Simulated bugs are expected: keep stderr quiet. The recorder's
        // hook, installed by init() below, still records each one.
        std::panic::set_hook(Box::new(|_| {}));
    }
    let guard = caro_recorder::Config::from_env()
        .clock(sim_now)
        .version(env!("CARGO_PKG_VERSION"))
        .init();
    let truth = Mutex::new(Truth::default());
    let ends = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let (args, truth, ends) = (&args, &truth, &ends);
            scope.spawn(move || {
                advance(0);
                let sim = Sim { args };
                let mut rng = Rng(args.seed.wrapping_mul(1_000_003).wrapping_add(thread));
                // Request ids are unique across processes with distinct seeds.
                let mut id = args.seed * 1_000_000 + thread;
                while id - args.seed * 1_000_000 < args.queries {
                    let mut t = Truth::default();
                    let mut backend = "static";
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        sim.request(id, &mut rng, &mut t, &mut backend)
                    }));
                    if outcome.is_err() {
                        t.panics = 1;
                    }
                    *t.requests_per_backend
                        .entry(backend.to_owned())
                        .or_default() += 1;
                    let closed = CLOSED.with(|c| std::mem::take(&mut *c.borrow_mut()));
                    for &(name, _, _, ns) in &closed {
                        if name == "process_query" {
                            t.request_ns.entry(backend.to_owned()).or_default().push(ns);
                            if ns > 1_000_000_000 {
                                t.slow_requests += 1;
                                let mut tree = closed.clone();
                                tree.sort_by_key(|&(_, depth, start, _)| (start, depth));
                                t.slow_trees.insert(id, tree);
                            }
                        }
                        t.span_ns.entry(name.to_owned()).or_default().push(ns);
                    }
                    merge(&mut truth.lock().unwrap(), t);
                    id += threads;
                }
                ends.lock().unwrap().push(sim_now());
            });
        }
    });
    // The process goes on, and exits, when its last thread is done.
    NOW_NS.with(|t| {
        t.set(
            ends.into_inner()
                .unwrap()
                .into_iter()
                .max()
                .unwrap_or(start),
        )
    });
    for i in 0..args.flood {
        info!(seed = args.seed, flood = i, "flood");
    }
    let t = truth.into_inner().unwrap();
    if let Some(path) = &args.truth {
        let events: Vec<_> = t
            .events
            .iter()
            .map(|(id, level, message)| json!({"request_id": id, "level": level, "message": message}))
            .collect();
        let summary = json!({
            "seed": args.seed,
            "queries": args.queries,
            "threads": threads,
            "flood": args.flood,
            "pid": std::process::id(),
            "start_ns": start,
            "end_ns": sim_now(),
            "requests_per_backend": t.requests_per_backend,
            "errors_per_category": t.errors_per_category,
            "safety_blocks_per_risk": t.safety_blocks_per_risk,
            "panics": t.panics,
            "slow_requests": t.slow_requests,
            "request_ns": t.request_ns,
            "span_ns": t.span_ns,
            "events": events,
            "slow_trees": t.slow_trees.iter().map(|(id, spans)| {
                let spans: Vec<_> = spans.iter().map(|(name, depth, start, d)| {
                    json!({"name": name, "depth": depth, "start_ns": start, "duration_ns": d})
                }).collect();
                (id.to_string(), serde_json::Value::from(spans))
            }).collect::<serde_json::Map<_, _>>(),
        });
        if let Err(e) = std::fs::write(path, serde_json::to_string(&summary).unwrap()) {
            eprintln!("caro_sim: cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
    }
    if args.abort {
        std::process::abort();
    }
    drop(guard);
}

fn merge(into: &mut Truth, t: Truth) {
    for (k, v) in t.requests_per_backend {
        *into.requests_per_backend.entry(k).or_default() += v;
    }
    for (k, v) in t.errors_per_category {
        *into.errors_per_category.entry(k).or_default() += v;
    }
    for (k, v) in t.safety_blocks_per_risk {
        *into.safety_blocks_per_risk.entry(k).or_default() += v;
    }
    for (k, v) in t.request_ns {
        into.request_ns.entry(k).or_default().extend(v);
    }
    for (k, v) in t.span_ns {
        into.span_ns.entry(k).or_default().extend(v);
    }
    into.panics += t.panics;
    into.slow_requests += t.slow_requests;
    into.events.extend(t.events);
    into.slow_trees.extend(t.slow_trees);
}

/// The host's own tests, as a host writes them with
/// `caro_recorder::testing` (`cargo test -p caro-recorder --example
/// caro_sim`): what one request logs, asserted side by side on `cargo
/// test`'s threads, nothing written to the user's data folder.
#[cfg(test)]
mod tests {
    use caro_recorder::testing::capture;
    use tracing::Level;

    use super::*;

    /// Request `id`, played at once (no simulated time waited); its backend.
    fn one_request(seed: u64, id: u64) -> &'static str {
        let args = Args::parse_from(["caro_sim", "--time-scale", "0"]);
        let mut backend = "";
        Sim { args: &args }.request(id, &mut Rng(seed), &mut Truth::default(), &mut backend);
        backend
    }

    /// The user's ring as it was: its size and modification time, if any.
    fn users_ring() -> Option<(u64, std::time::SystemTime)> {
        let meta = std::fs::metadata(caro_recorder::paths::ring_path()?).ok()?;
        Some((meta.len(), meta.modified().ok()?))
    }

    #[test]
    fn a_request_logs_its_query_by_length_only() {
        let before = users_ring();
        let logs = capture();
        one_request(1, 7);
        let e = logs
            .assert_logged(Level::INFO, "processing query")
            .assert_field("request_id", 7)
            .clone();
        assert_eq!(e.target(), "caro::agent");
        let length: u64 = e.field("query_length").unwrap().parse().unwrap();
        assert!((5..125).contains(&length), "{e}");
        assert_eq!(users_ring(), before);
    }

    #[test]
    fn each_test_sees_only_its_own_requests() {
        for id in [11, 12, 13] {
            let logs = capture();
            let backend = one_request(id, id);
            let starts: Vec<_> = logs
                .events()
                .into_iter()
                .filter(|e| e.message() == "processing query")
                .collect();
            assert_eq!(starts.len(), 1, "{id}");
            starts[0].assert_field("request_id", id);
            assert!(!backend.is_empty());
        }
    }
}

//! A simulated caro: plays caro's request pipeline (span tree, backends,
//! outcomes and latency mix of shared/CARO-WORKLOAD.md) with scaled-down
//! sleeps, deterministic for a seed, recording through
//! `caro_recorder::init()` exactly as the real host does.
//!
//! ```text
//! cargo run --release -p caro-recorder --example caro_sim -- --queries 200 --seed 7 \
//!     [--threads 2] [--time-scale 0.001] [--panics] [--flood N] [--truth truth.json]
//! ```
//!
//! `--truth FILE` writes what the simulation did (requests per backend,
//! errors per category, safety blocks per risk level, panics, and every
//! event it emitted) for tests to hold the analyzer to.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use clap::Parser;
use serde_json::json;
use tracing::{debug, error, info, info_span, trace, warn};

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
    /// Simulated seconds per real second (1 s of model time sleeps 1 ms).
    #[arg(long, default_value_t = 0.001)]
    time_scale: f64,
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
    slow_requests: u64,
    /// (request id, level, message) of every event emitted.
    events: Vec<(u64, &'static str, &'static str)>,
}

struct Sim<'a> {
    args: &'a Args,
}

impl Sim<'_> {
    fn sleep_ms(&self, simulated_ms: f64) {
        let real = Duration::from_secs_f64((simulated_ms / 1000.0 * self.args.time_scale).max(0.0));
        if !real.is_zero() {
            std::thread::sleep(real);
        }
    }

    fn note(&self, t: &mut Truth, id: u64, level: &'static str, message: &'static str) {
        t.events.push((id, level, message));
    }

    /// One request, start to finish. Returns what the truth file counts.
    fn request(&self, id: u64, rng: &mut Rng, t: &mut Truth) {
        let intent = rng.pick(INTENTS);
        let query_length = 5 + rng.next() % 120;
        let roll = rng.unit();
        let backend = match roll {
            r if r < 0.80 => "static",
            r if r < 0.92 => "embedded",
            r if r < 0.97 => "ollama",
            r if r < 0.99 => "vllm",
            _ => "exo",
        };
        *t.requests_per_backend
            .entry(backend.to_owned())
            .or_default() += 1;
        let span = info_span!(target: "caro::agent", "process_query", request_id = id, intent, query_length);
        let _request = span.enter();
        info!(target: "caro::agent", request_id = id, query_length, intent, "processing query");
        self.note(t, id, "INFO", "processing query");
        let mut total_ms = 0.0;

        {
            let _s = info_span!(target: "caro::agent", "select_backend").entered();
            let ms = rng.latency_ms(0.05);
            self.sleep_ms(ms);
            total_ms += ms;
            debug!(target: "caro::agent", request_id = id, backend, "backend selected");
            self.note(t, id, "DEBUG", "backend selected");
        }

        let failure = (rng.unit() < 0.06).then(|| rng.pick(ERRORS));
        let gen_ms = {
            let _g = info_span!(target: "caro::agent", "generate_command", backend).entered();
            let mut ms = 0.0;
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
                let span = match *step {
                    "load_model" => info_span!(target: "caro::backends", "load_model"),
                    "tokenize" => info_span!(target: "caro::backends", "tokenize"),
                    "inference" => info_span!(target: "caro::backends", "inference"),
                    _ => info_span!(target: "caro::backends", "decode"),
                };
                let _e = span.enter();
                trace!(target: "caro::backends", request_id = id, step_ms, "step done");
                self.sleep_ms(step_ms);
                ms += step_ms;
            }
            ms
        };
        total_ms += gen_ms;
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
            let span = if repair < 0.03 {
                info_span!(target: "caro::agent", "repair_command")
            } else {
                info_span!(target: "caro::agent", "refine_command")
            };
            let _r = span.enter();
            let ms = rng.latency_ms(gen_ms.min(200.0) / 2.0);
            self.sleep_ms(ms);
            total_ms += ms;
        }

        let risk = {
            let _v = info_span!(target: "caro::safety", "validate_safety").entered();
            // Span names are literals, so each check names its own.
            for span in [
                info_span!(target: "caro::safety", "check_destructive_patterns"),
                info_span!(target: "caro::safety", "check_privilege_escalation"),
            ] {
                let _c = span.enter();
                let ms = rng.latency_ms(0.1);
                self.sleep_ms(ms);
                total_ms += ms;
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
        if total_ms > 1000.0 {
            warn!(
                target: "caro::agent",
                request_id = id,
                latency_ms = total_ms as u64,
                backend,
                "slow request"
            );
            self.note(t, id, "WARN", "slow request");
            t.slow_requests += 1;
        }
        info!(
            target: "caro::agent",
            request_id = id,
            backend,
            risk_level = risk,
            latency_ms = total_ms as u64,
            confidence = 0.5 + rng.unit() / 2.0,
            monotonic_counter.caro_commands_generated_total = 1u64,
            histogram.caro_backend_latency_seconds = gen_ms / 1000.0,
            "command generated"
        );
        self.note(t, id, "INFO", "command generated");
    }
}

fn main() {
    let args = Args::parse();
    if args.panics {
        // Simulated bugs are expected: keep stderr quiet. The recorder's
        // hook, installed by init() below, still records each one.
        std::panic::set_hook(Box::new(|_| {}));
    }
    let _guard = caro_recorder::init();
    let truth = Mutex::new(Truth::default());
    let threads = args.threads.max(1);
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let (args, truth) = (&args, &truth);
            scope.spawn(move || {
                let sim = Sim { args };
                let mut rng = Rng(args.seed.wrapping_mul(1_000_003).wrapping_add(thread));
                // Request ids are unique across processes with distinct seeds.
                let mut id = args.seed * 1_000_000 + thread;
                while id - args.seed * 1_000_000 < args.queries {
                    let mut t = Truth::default();
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        sim.request(id, &mut rng, &mut t)
                    }));
                    if outcome.is_err() {
                        t.panics = 1;
                    }
                    merge(&mut truth.lock().unwrap(), t);
                    id += threads;
                }
            });
        }
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
            "requests_per_backend": t.requests_per_backend,
            "errors_per_category": t.errors_per_category,
            "safety_blocks_per_risk": t.safety_blocks_per_risk,
            "panics": t.panics,
            "slow_requests": t.slow_requests,
            "events": events,
        });
        if let Err(e) = std::fs::write(path, serde_json::to_string_pretty(&summary).unwrap()) {
            eprintln!("caro_sim: cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
    }
    if args.abort {
        std::process::abort();
    }
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
    into.panics += t.panics;
    into.slow_requests += t.slow_requests;
    into.events.extend(t.events);
}

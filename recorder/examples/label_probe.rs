//! A host whose categories and program text hold personal data, for the
//! analyzer's second wall (`tests/tests/wall2.rs`).
//!
//! ```text
//! cargo run -p caro-recorder --example label_probe -- [--value TEXT]... \
//!     [--panic] [--lap N] [--flood]
//! ```
//!
//! It records into the default ring, `$XDG_CACHE_HOME/caro/events.ring`,
//! configured from the environment, with `backend` and `error` opted in
//! with [`keep_text_fields`](caro_recorder::Config::keep_text_fields): the
//! ring keeps their run-time text, for the analyzer to judge.
//!
//! - Each `--value` is a run-time string: a `process_query` request whose
//!   `backend` it is fails with an ERROR event whose `error` and `backend`
//!   it is (request ids from 100).
//! - Harmless requests the analyzer must report as they are: backend
//!   `embedded` (program text) failing with `BackendTimeout` (program
//!   text, request 1), and the run-time identifier `ollama` with the
//!   run-time intent `file_search` (request 2).
//! - Program text that holds an e-mail address, `ana.smith@example.org`:
//!   an event whose target is that address, a field named after it and a
//!   message literal holding it; inside request 3, whose backend is that
//!   address as a string literal, a span named `mail ana.smith@example.org`.
//! - `--panic`: a thread named `probe-worker` panics inside request 4.
//! - `--lap N`: N events of three-slot records (three long run-time
//!   identifiers) and as many of one slot, enough to lap a small ring's
//!   main lanes.
//! - `--flood`: the same, until the process is killed.

use std::hint::black_box;
use std::process::ExitCode;

use clap::Parser;
use tracing::{error, info, info_span};

#[derive(Parser, Debug)]
#[command(about = "Logs personal data as categories and program text")]
struct Args {
    /// A run-time string to use as a request's backend and error.
    #[arg(long)]
    value: Vec<String>,
    /// End by panicking inside a request span on a thread.
    #[arg(long)]
    panic: bool,
    /// Record this many pairs of multi-slot and one-slot events.
    #[arg(long, default_value_t = 0)]
    lap: u64,
    /// Record multi-slot events until killed.
    #[arg(long)]
    flood: bool,
}

/// The address in the program text.
const EMAIL: &str = "ana.smith@example.org";

/// A request on `backend` that fails with `error` (run-time strings).
fn failing(id: u64, backend: &str, error: &str) {
    let request = info_span!(
        target: "caro::agent",
        "process_query",
        request_id = id,
        backend
    );
    let _in = request.enter();
    error!(target: "caro::agent", error, backend, "request failed");
}

/// Requests whose categories are program text or identifiers.
fn harmless() {
    {
        let request = info_span!(
            target: "caro::agent",
            "process_query",
            request_id = 1u64,
            backend = "embedded"
        );
        let _in = request.enter();
        error!(
            target: "caro::agent",
            error = "BackendTimeout",
            backend = "embedded",
            "backend timed out"
        );
    }
    let backend = black_box(String::from("ollama"));
    let intent = black_box(String::from("file_search"));
    let request = info_span!(
        target: "caro::agent",
        "process_query",
        request_id = 2u64,
        backend = backend.as_str(),
        intent = intent.as_str()
    );
    let _in = request.enter();
    info!(target: "caro::agent", "command generated");
}

/// Program text that holds an e-mail address.
fn program_text() {
    info!(target: "ana.smith@example.org", "hello from a target");
    info!(
        "ana.smith@example.org" = 7u64,
        "a field named after an address"
    );
    info!("sent to ana.smith@example.org");
    let request = info_span!(
        target: "caro::agent",
        "process_query",
        request_id = 3u64,
        backend = EMAIL
    );
    let _in = request.enter();
    let mail = info_span!(target: "caro::agent", "mail ana.smith@example.org");
    let _m = mail.enter();
    info!(target: "caro::agent", step = 1u64, "inside");
}

/// One three-slot event and one of one slot.
fn lap_pair(i: u64, words: &[String; 3]) {
    info!(
        target: "caro::lap",
        first = words[0].as_str(),
        second = words[1].as_str(),
        third = words[2].as_str(),
        "lap"
    );
    info!(target: "caro::lap", n = black_box(i));
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.panic {
        // The panic is expected: keep stderr quiet. The recorder's hook,
        // chained by init() below, still records where it happened.
        std::panic::set_hook(Box::new(|_| {}));
    }
    let guard = caro_recorder::Config::from_env()
        .version(env!("CARGO_PKG_VERSION"))
        .keep_text_fields(["backend", "error"])
        .init();
    if !guard.is_recording() {
        eprintln!("label_probe: error: the recorder is not recording");
        return ExitCode::from(2);
    }
    harmless();
    program_text();
    for (i, value) in args.value.iter().enumerate() {
        let value = black_box(value.as_str());
        failing(100 + i as u64, value, value);
    }
    let words = ["alpha", "bravo", "charlie"].map(|w| black_box(format!("{w}_{}", "x".repeat(30))));
    for i in 0..args.lap {
        lap_pair(i, &words);
    }
    if args.flood {
        for i in 0.. {
            lap_pair(i, &words);
        }
    }
    if args.panic {
        let worker = std::thread::Builder::new()
            .name("probe-worker".to_owned())
            .spawn(|| {
                let request = info_span!(
                    target: "caro::agent",
                    "process_query",
                    request_id = 4u64,
                    backend = "embedded"
                );
                let _in = request.enter();
                panic!("{EMAIL}");
            })
            .expect("a thread starts");
        assert!(worker.join().is_err(), "the worker panicked");
    }
    drop(guard);
    ExitCode::SUCCESS
}

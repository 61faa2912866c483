//! Floods the ring with one event shape, as fast as it can, then exits:
//! the process the `threads/processes_*` benchmarks start several of at
//! once, all writing into one ring.
//!
//! ```text
//! cargo run --release -p caro-recorder --example flood -- 1000000 [--ring FILE] [--message]
//! ```
//!
//! It records `N` events `info!(request_id = i, backend = "embedded",
//! confidence = 0.92)`, `i` counting from 0 (with `--message`, the real
//! caro's shape instead: `info!("Static matcher found match in {:?}: {}",
//! elapsed, command)`, a `Duration` and a run-time `String`), into the ring
//! `--ring` names,
//! else the per-user ring of `XDG_CACHE_HOME` (the environment configures
//! the rest, as in any host: `RUST_LOG`, `CARO_RING_SIZE`, `CARO_LOG`).
//! It fails (exit status 1) when it cannot record, so that a benchmark
//! never times a process that wrote nothing.

use std::hint::black_box;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: flood N [--ring FILE] [--message]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut events = None;
    let mut ring = None;
    let mut message = false;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--message" {
            message = true;
        } else if arg == "--ring" {
            match args.next() {
                Some(path) => ring = Some(std::path::PathBuf::from(path)),
                None => return usage(),
            }
        } else {
            match arg.to_str().and_then(|s| s.parse::<u64>().ok()) {
                Some(n) if events.is_none() => events = Some(n),
                _ => return usage(),
            }
        }
    }
    let Some(events) = events else {
        return usage();
    };

    let mut config = caro_recorder::Config::from_env().panic_hook(false);
    if let Some(ring) = ring {
        config = config.ring_path(ring);
    }
    let guard = config.init();
    if !guard.is_recording() {
        eprintln!("flood: not recording (see the line above)");
        return ExitCode::FAILURE;
    }
    let command = black_box(String::from("find ~/Documents -name '*.pdf' -mtime -7"));
    for i in 0..events {
        if message {
            let elapsed = std::time::Duration::from_nanos(1_111_111 + (black_box(i) & 7));
            tracing::info!("Static matcher found match in {:?}: {}", elapsed, command);
        } else {
            tracing::info!(
                request_id = black_box(i),
                backend = "embedded",
                confidence = 0.92
            );
        }
    }
    // Dropping the guard records the exit.
    drop(guard);
    ExitCode::SUCCESS
}

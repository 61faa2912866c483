//! Writes records that check themselves into a ring, as fast as it can,
//! until it is killed or has written `--count` records a thread: the
//! writer process of the crash tests (`tests/tests/kills.rs`), which
//! SIGKILL it at random moments, and of the flood test
//! (`tests/tests/flood.rs`).
//!
//! ```text
//! cargo run -p caro-recorder --example stress_writer -- --ring FILE \
//!     [--ring-size 2097152] [--id 0] [--threads 2] [--count 0]
//! cargo run -p caro-recorder --example stress_writer -- --ring FILE --flood 10000000
//! ```
//!
//! Stress mode: thread `t` is writer `id + t` and records, for `seq` = 0,
//! 1, 2, …, one INFO event `writer, seq, check = check(writer, seq)` of one
//! of four shapes (`seq % 4`), taking 1, 2, 3 and 4 slots: the bare three
//! fields; then a `pad` string `PADS[seq % 5]` and the message `stress`;
//! then 8, or 14, fields `x{i} = extra(check, i)`. A reader recomputes
//! every derived value: a record whose values do not match was accepted
//! although damaged. `--count 0` writes until killed.
//!
//! Flood mode (`--flood N`): one thread records 100 ERROR events
//! `n = 0..100, check = check(FLOOD_WRITER, n)`, then another records `N`
//! TRACE events `i = 0..N` while the first records 100 WARN events
//! `n = 0..100, check = check(FLOOD_WRITER + 1, n)`, one each time the
//! flood has gone a hundredth further. It prints the flood's duration.
//!
//! The ring is recorded at `trace`, without the panic hook. The process
//! fails (exit status 1) when it cannot record.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Writes self-checking records into a ring until killed")]
struct Args {
    /// The ring file.
    #[arg(long)]
    ring: PathBuf,
    /// Size in bytes of the ring if this process creates it.
    #[arg(long, default_value_t = 2 << 20)]
    ring_size: u64,
    /// Writer id of the first thread; thread `t` is writer `id + t`.
    #[arg(long, default_value_t = 0)]
    id: u64,
    /// Writing threads.
    #[arg(long, default_value_t = 2)]
    threads: u64,
    /// Records per thread, then exit (0: until killed).
    #[arg(long, default_value_t = 0)]
    count: u64,
    /// Flood mode: 100 errors, then N trace events from another thread.
    #[arg(long)]
    flood: Option<u64>,
}

/// Pads of the two-slot shape: short ones are written inline, long ones
/// as dictionary strings.
pub const PADS: [&str; 5] = [
    "a",
    "bb",
    "a_static_pad_long_enough_for_the_dictionary",
    "ccc",
    "another_static_pad_that_the_dictionary_keeps",
];

/// Writer id of the flood's errors (its warns are `FLOOD_WRITER + 1`).
pub const FLOOD_WRITER: u64 = 1 << 40;

/// SplitMix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `check` field of writer `writer`'s record `seq` (the tests compute
/// the same).
pub fn check(writer: u64, seq: u64) -> u64 {
    mix(mix(writer.wrapping_add(0x9E37_79B9_7F4A_7C15)) ^ seq)
}

/// Field `x{i}` of a record whose check is `check`.
pub fn extra(check: u64, i: u64) -> u64 {
    mix(check ^ (i + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93))
}

fn write_one(w: u64, s: u64) {
    let c = check(w, s);
    let x = |i| black_box(extra(c, i));
    match s % 4 {
        0 => tracing::info!(writer = w, seq = s, check = c),
        1 => tracing::info!(
            writer = w,
            seq = s,
            check = c,
            pad = PADS[(s % 5) as usize],
            "stress"
        ),
        2 => tracing::info!(
            writer = w,
            seq = s,
            check = c,
            x0 = x(0),
            x1 = x(1),
            x2 = x(2),
            x3 = x(3),
            x4 = x(4),
            x5 = x(5),
            x6 = x(6),
            x7 = x(7)
        ),
        _ => tracing::info!(
            writer = w,
            seq = s,
            check = c,
            x0 = x(0),
            x1 = x(1),
            x2 = x(2),
            x3 = x(3),
            x4 = x(4),
            x5 = x(5),
            x6 = x(6),
            x7 = x(7),
            x8 = x(8),
            x9 = x(9),
            x10 = x(10),
            x11 = x(11),
            x12 = x(12),
            x13 = x(13)
        ),
    }
}

fn stress(args: &Args) {
    let threads: Vec<_> = (0..args.threads)
        .map(|t| {
            let (w, count) = (args.id + t, args.count);
            std::thread::spawn(move || {
                let mut s = 0;
                while count == 0 || s < count {
                    write_one(black_box(w), black_box(s));
                    s += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn flood(events: u64) {
    // 100 errors; then the flood from another thread while the errors'
    // thread records its warns.
    let errors_written = std::sync::Barrier::new(2);
    let progress = AtomicU64::new(0);
    std::thread::scope(|scope| {
        let alerts = scope.spawn(|| {
            for n in 0..100u64 {
                tracing::error!(n, check = check(FLOOD_WRITER, n), "before the flood");
            }
            errors_written.wait();
            // Each warn once the flood has gone a hundredth further.
            for n in 0..100u64 {
                while progress.load(Ordering::Relaxed) < n * events / 100 {
                    std::thread::sleep(Duration::from_micros(200));
                }
                tracing::warn!(n, check = check(FLOOD_WRITER + 1, n), "during the flood");
            }
        });
        errors_written.wait();
        let trace = scope.spawn(|| {
            let started = Instant::now();
            for i in 0..events {
                tracing::trace!(i = black_box(i));
                if i % 1024 == 0 {
                    progress.store(i, Ordering::Relaxed);
                }
            }
            progress.store(events, Ordering::Relaxed);
            started.elapsed()
        });
        let took = trace.join().unwrap();
        alerts.join().unwrap();
        println!(
            "flood: {events} trace events in {:.3} s ({:.0} ns each)",
            took.as_secs_f64(),
            took.as_nanos() as f64 / events.max(1) as f64
        );
    });
}

fn main() -> ExitCode {
    let args = Args::parse();
    let guard = caro_recorder::Config::default()
        .ring_path(&args.ring)
        .ring_size(args.ring_size)
        .filter("trace")
        .panic_hook(false)
        .init();
    if !guard.is_recording() {
        eprintln!("stress_writer: not recording (see the line above)");
        return ExitCode::FAILURE;
    }
    match args.flood {
        Some(events) => flood(events),
        None => stress(&args),
    }
    // Dropping the guard records the exit.
    drop(guard);
    ExitCode::SUCCESS
}

//! Record timestamps: nanoseconds since the Unix epoch, UTC, as the ring
//! header's clock 1 says.
//!
//! Reading the wall clock costs about 25 ns; the CPU's time-stamp counter
//! about 10. Where the counter is invariant (constant and non-stop, so it
//! ticks at one rate on every core, in every power state), a record's time
//! is the wall-clock time at start-up plus the ticks since, scaled.
//!
//! The tick rate is measured against the boot clock (CLOCK_BOOTTIME, which
//! counts suspended time as the counter does) over as long a baseline as
//! possible: the first process after a boot leaves an anchor (ticks and
//! boot-clock time) in the ring header's writer-private words;
//! later processes measure from it, over seconds to days, for free. Only a
//! process that finds no anchor older than 50 ms spins for 2 ms.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::ring::Ring;

/// The recorder's clock.
#[derive(Clone, Copy, Debug)]
pub enum Clock {
    /// The invariant time-stamp counter, scaled.
    Tsc(TscScale),
    /// No usable counter: the wall clock.
    Wall,
    /// The host's own clock ([`Config::clock`](crate::Config::clock)).
    Host(fn() -> u64),
}

/// Ticks to wall-clock nanoseconds: `wall + ((ticks - base) * mult) >> 32`.
#[derive(Clone, Copy, Debug)]
pub struct TscScale {
    base: u64,
    wall: u64,
    mult: u64,
}

impl Clock {
    pub fn new(ring: &Ring) -> Clock {
        match invariant_tsc().then(|| calibrate(ring)).flatten() {
            Some(scale) => Clock::Tsc(scale),
            None => Clock::Wall,
        }
    }

    /// Now, in nanoseconds since 1970-01-01T00:00:00Z.
    #[inline(always)]
    pub fn now_ns(&self) -> u64 {
        match *self {
            #[cfg(target_arch = "x86_64")]
            Clock::Tsc(s) => {
                // Signed: a core whose counter is a hair behind the base's
                // gives a time a hair earlier, not one centuries away.
                let ticks = crate::sys::tsc().wrapping_sub(s.base) as i64;
                let ns = (i128::from(ticks) * i128::from(s.mult)) >> 32;
                s.wall.wrapping_add_signed(ns as i64)
            }
            Clock::Host(now) => now(),
            _ => wall_ns(),
        }
    }
}

/// The system's wall clock, in nanoseconds since the Unix epoch.
pub fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Whether the counter ticks at one rate everywhere and the kernel trusts
/// it (it falls back to another clock source when it finds it unstable).
fn invariant_tsc() -> bool {
    let trusted =
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .map_or(true, |source| source.trim() == "tsc");
    cfg!(target_arch = "x86_64")
        && trusted
        && std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|info| {
            info.lines()
                .find(|l| l.starts_with("flags"))
                .is_some_and(|f| {
                    f.split_whitespace().any(|w| w == "constant_tsc")
                        && f.split_whitespace().any(|w| w == "nonstop_tsc")
                })
        })
}

/// A counter reading and a boot-clock reading taken together: the pair
/// whose counter reads bracket the clock read most tightly of a few tries,
/// so a preemption between them does not skew the rate.
#[cfg(target_arch = "x86_64")]
fn paired() -> (u64, u64) {
    let mut best = (u64::MAX, 0, 0);
    for _ in 0..5 {
        let t0 = crate::sys::tsc();
        let ns = crate::sys::boottime_ns();
        let t1 = crate::sys::tsc();
        let width = t1.wrapping_sub(t0);
        if width < best.0 {
            best = (width, t0 + width / 2, ns);
        }
    }
    (best.1, best.2)
}

#[cfg(target_arch = "x86_64")]
fn calibrate(ring: &Ring) -> Option<TscScale> {
    let anchor = ring.clock_anchor();
    let boot = boot_id();
    let (tsc_now, ns_now) = paired();
    let (a_boot, a_tsc, a_ns) = anchor.read();
    let usable = a_boot == boot && a_ns != 0 && ns_now > a_ns && tsc_now > a_tsc;
    let hz = if usable && ns_now - a_ns > 50_000_000 {
        (tsc_now - a_tsc) as f64 * 1e9 / (ns_now - a_ns) as f64
    } else {
        if !usable {
            // First process of this boot, or an anchor the counter has
            // gone back past (a reset in deep sleep): start a new one.
            anchor.write(boot, tsc_now, ns_now);
        }
        let start = Instant::now();
        let (t0, n0) = paired();
        while start.elapsed() < Duration::from_millis(2) {
            std::hint::spin_loop();
        }
        let (t1, n1) = paired();
        t1.wrapping_sub(t0) as f64 * 1e9 / n1.saturating_sub(n0).max(1) as f64
    };
    // Implausible rates (a VM that traps the counter badly): wall clock.
    if !(1e8..1e11).contains(&hz) {
        return None;
    }
    let before = crate::sys::tsc();
    let wall = wall_ns();
    let after = crate::sys::tsc();
    Some(TscScale {
        base: before.wrapping_add(after.wrapping_sub(before) / 2),
        wall,
        mult: (1e9 * 4_294_967_296.0 / hz) as u64,
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn calibrate(_ring: &Ring) -> Option<TscScale> {
    None
}

/// A hash of this boot's id: anchors from an earlier boot are stale.
fn boot_id() -> u64 {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    caro_format::dictionary::fnv1a64(id.trim().as_bytes())
}

/// The clock anchor in the ring header's writer-private words: a check
/// word over boot id, ticks and boot-clock time, so that a torn or
/// half-written anchor reads as none rather than as a wrong one.
#[derive(Debug)]
pub struct ClockAnchor<'a> {
    pub words: &'a [AtomicU64],
}

fn anchor_check(boot: u64, tsc: u64, mono: u64) -> u64 {
    caro_format::dictionary::fnv1a64(
        &[boot.to_le_bytes(), tsc.to_le_bytes(), mono.to_le_bytes()].concat(),
    )
}

impl ClockAnchor<'_> {
    fn read(&self) -> (u64, u64, u64) {
        let check = self.words[0].load(Ordering::Acquire);
        let (boot, tsc, mono) = (
            self.words[1].load(Ordering::Relaxed),
            self.words[2].load(Ordering::Relaxed),
            self.words[3].load(Ordering::Relaxed),
        );
        if check == anchor_check(boot, tsc, mono) {
            (boot, tsc, mono)
        } else {
            (0, 0, 0)
        }
    }

    fn write(&self, boot: u64, tsc: u64, mono: u64) {
        self.words[0].store(0, Ordering::Relaxed);
        self.words[1].store(boot, Ordering::Relaxed);
        self.words[2].store(tsc, Ordering::Relaxed);
        self.words[3].store(mono, Ordering::Relaxed);
        self.words[0].store(anchor_check(boot, tsc, mono), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_time_tracks_the_wall_clock() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Ring::open_or_create(&dir.path().join("r"), 1 << 20, 1).unwrap();
        let first = Clock::new(&ring);
        std::thread::sleep(Duration::from_millis(60));
        // A later process measures the rate from the first one's anchor.
        let second = Clock::new(&ring);
        for _ in 0..4 {
            for clock in [first, second] {
                let before = wall_ns();
                let t = clock.now_ns();
                let after = wall_ns();
                assert!(
                    t + 1_000_000 >= before && t <= after + 1_000_000,
                    "{before} {t} {after}"
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

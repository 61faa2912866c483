//! Record timestamps: nanoseconds since the Unix epoch, UTC.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::ring::Ring;

/// The recorder's clock.
#[derive(Clone, Copy, Debug)]
pub struct Clock;

impl Clock {
    pub fn new(_ring: &Ring) -> Clock {
        Clock
    }

    /// Now, in nanoseconds since 1970-01-01T00:00:00Z.
    #[inline(always)]
    pub fn now_ns(&self) -> u64 {
        wall_ns()
    }
}

/// The system's wall clock, in nanoseconds since the Unix epoch.
pub fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

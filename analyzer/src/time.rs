//! Timestamps as people read them. Records carry Unix nanoseconds (UTC);
//! both forms here are UTC with milliseconds, cut rather than rounded so
//! that an event never appears to happen later than it did.

use chrono::DateTime;

/// RFC 3339 with milliseconds, `2026-01-15T14:32:15.123Z`: the JSON form.
pub fn rfc3339(time_ns: u64) -> String {
    format_ns(time_ns, "%Y-%m-%dT%H:%M:%S%.3fZ")
}

/// `2026-01-15 14:32:15.123`: the pretty form.
pub fn human(time_ns: u64) -> String {
    format_ns(time_ns, "%Y-%m-%d %H:%M:%S%.3f")
}

fn format_ns(time_ns: u64, pattern: &str) -> String {
    let secs = (time_ns / 1_000_000_000) as i64;
    let nanos = (time_ns % 1_000_000_000) as u32;
    match DateTime::from_timestamp(secs, nanos) {
        Some(t) => t.format(pattern).to_string(),
        // Unreachable for a u64 of nanoseconds (year 2554 at most).
        None => time_ns.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_are_cut_not_rounded() {
        // 2026-01-15T14:32:15.123999999Z
        let t = 1_768_487_535_123_999_999;
        assert_eq!(rfc3339(t), "2026-01-15T14:32:15.123Z");
        assert_eq!(human(t), "2026-01-15 14:32:15.123");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(u64::MAX), "2554-07-21T23:34:33.709Z");
    }
}

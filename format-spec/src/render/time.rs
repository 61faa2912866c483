//! Timestamps as log lines show them. Records carry Unix nanoseconds
//! (UTC); both forms here are UTC with milliseconds, marked as UTC, and
//! cut rather than rounded so that an event never appears to happen later
//! than it did.

use chrono::DateTime;

/// Nanoseconds in a day.
pub const DAY_NS: u64 = 86_400 * 1_000_000_000;

/// `2026-01-15T14:32:15.123Z`: the JSON form (RFC 3339).
pub fn rfc3339(time_ns: u64) -> String {
    // Not a strftime pattern: every log line has one, and chrono's own
    // RFC 3339 writer skips parsing a pattern each time.
    match date_time(time_ns) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => time_ns.to_string(),
    }
}

/// `2026-01-15 14:32:15.123Z`: the pretty form.
pub fn human(time_ns: u64) -> String {
    format_ns(time_ns, "%Y-%m-%d %H:%M:%S%.3fZ")
}

/// `time_ns` formatted by a strftime `pattern`, in UTC.
pub fn format_ns(time_ns: u64, pattern: &str) -> String {
    match date_time(time_ns) {
        Some(t) => t.format(pattern).to_string(),
        None => time_ns.to_string(),
    }
}

/// `time_ns` as a UTC time; `None` is unreachable for a u64 of
/// nanoseconds (year 2554 at most).
fn date_time(time_ns: u64) -> Option<DateTime<chrono::Utc>> {
    let secs = (time_ns / 1_000_000_000) as i64;
    let nanos = (time_ns % 1_000_000_000) as u32;
    DateTime::from_timestamp(secs, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_are_cut_not_rounded_and_the_zone_is_marked() {
        // 2026-01-15T14:32:15.123999999Z
        let t = 1_768_487_535_123_999_999;
        assert_eq!(rfc3339(t), "2026-01-15T14:32:15.123Z");
        assert_eq!(human(t), "2026-01-15 14:32:15.123Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(u64::MAX), "2554-07-21T23:34:33.709Z");
    }
}
